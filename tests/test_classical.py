"""Classical baseline codecs (native bitstreams through Pillow and libsndfile)."""

from __future__ import annotations

import numpy as np
import pytest

import lvc
from lvc.codecs.registry import BUILTIN, codec_info, get_codec
from lvc.errors import ChecksumError, CorruptStreamError, UnsupportedMediaError
from lvc.formats.container import Header, pack, unpack

IMAGE_CODECS = ["png", "jpeg", "webp", "avif", "jpegxl"]
LOSSY_IMAGE = ["jpeg", "webp", "avif", "jpegxl"]
AUDIO_CODECS = ["flac", "opus", "vorbis", "mp3"]
CLASSICAL = {info.id: info for info in BUILTIN if info.target.startswith("lvc.codecs.classical")}


def _image(layout: str, h: int = 40, w: int = 48, seed: int = 0) -> np.ndarray:
    """A smooth gradient with a little noise, in the given channel layout."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]

    def plane(a, b, c):
        return np.clip(a * x + b * y + c + rng.normal(0, 2, (h, w)), 0, 255)

    planes = {"L": [plane(4, 2, 10)], "LA": [plane(4, 2, 10), plane(-3, 4, 200)],
              "RGB": [plane(4, 2, 10), plane(-2, 3, 120), plane(1, -4, 220)],
              "RGBA": [plane(4, 2, 10), plane(-2, 3, 120), plane(1, -4, 220), plane(-3, 4, 200)]}
    arr = np.stack(planes[layout], axis=-1).astype(np.uint8)
    return arr[:, :, 0] if layout == "L" else arr


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def _color(a: np.ndarray) -> np.ndarray:
    """The non-alpha planes of an image array."""
    return a if a.ndim == 2 else a[:, :, : (1 if a.shape[2] == 2 else 3)]


def _signal(rate: int, channels: int, dtype: str, seconds: float = 0.25) -> np.ndarray:
    rng = np.random.default_rng(rate + channels)
    t = np.arange(int(rate * seconds)) / rate
    tones = [0.4 * np.sin(2 * np.pi * (330 + 110 * c) * t) for c in range(channels)]
    x = np.stack(tones, axis=1) + 0.005 * rng.standard_normal((len(t), channels))
    x = x[:, 0] if channels == 1 else x
    return (x * 32767).astype(np.int16) if dtype == "int16" else x.astype(np.float32)


def _snr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return 10 * np.log10(np.sum(a ** 2) / max(np.sum((a - b) ** 2), 1e-30))


# ---------------------------------------------------------------- registry
@pytest.mark.parametrize("cid", sorted(CLASSICAL))
def test_class_attributes_match_registry(cid):
    info, codec = CLASSICAL[cid], get_codec(cid)
    assert type(codec).__name__ == info.target.split(":")[1]
    assert (codec.id, codec.modality, codec.lossless, tuple(codec.quality_range),
            codec.default_quality, codec.description) == (
        info.id, info.modality, info.lossless, tuple(info.quality_range),
        info.default_quality, info.description)


def test_all_nine_classical_codecs_available_here():
    rows = {r["id"]: r for r in lvc.list_codecs()}
    assert set(CLASSICAL) == set(IMAGE_CODECS + AUDIO_CODECS)
    for cid in CLASSICAL:
        assert rows[cid]["available"], (cid, rows[cid]["reason"])
        assert codec_info(cid).unavailable_reason() is None


def test_package_import_is_light():
    import subprocess
    import sys

    code = ("import sys, lvc.codecs.classical, lvc.codecs.classical.probes; "
            "print('PIL' in sys.modules, 'soundfile' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_probes_say_why(monkeypatch):
    import sys

    import soundfile
    from PIL import features

    from lvc.codecs.classical import probes

    names = ("webp", "avif", "jpegxl", "flac", "opus", "vorbis", "mp3")
    assert [getattr(probes, n)() for n in names] == [None] * len(names)
    monkeypatch.setattr(soundfile, "available_subtypes", lambda fmt=None: {})
    assert "no MPEG support" in probes.mp3() and "no Opus support" in probes.opus()
    monkeypatch.setattr(features, "check", lambda name: False)
    assert probes.webp() == "Pillow was built without WebP"
    monkeypatch.setitem(sys.modules, "pillow_jxl", None)  # makes the import fail
    monkeypatch.setitem(sys.modules, "pillow_avif", None)
    assert "pillow-jxl-plugin" in probes.jpegxl()
    assert "pillow-avif-plugin" in probes.avif()


# ---------------------------------------------------------------- images
LAYOUTS = ["L", "LA", "RGB", "RGBA"]


@pytest.mark.parametrize("cid", IMAGE_CODECS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_image_round_trip(cid, layout):
    img = _image(layout)
    out = lvc.decode(lvc.encode(img, cid))
    assert out.shape == img.shape and out.dtype == np.uint8
    if cid == "png":
        np.testing.assert_array_equal(out, img)
        return
    assert _psnr(_color(out), _color(img)) >= 25
    if layout in ("LA", "RGBA"):
        if cid == "avif":  # documented: AVIF codes alpha lossily
            assert _psnr(out[:, :, -1], img[:, :, -1]) >= 25
        else:  # JPEG sends alpha as PNG; WebP and JPEG XL code it losslessly
            np.testing.assert_array_equal(out[:, :, -1], img[:, :, -1])


@pytest.mark.parametrize("cid", LOSSY_IMAGE)
def test_higher_quality_gives_more_bytes(cid):
    img = _image("RGB")
    lo, hi = get_codec(cid).quality_range
    small = len(lvc.encode(img, cid, quality=max(lo, 10)))
    large = len(lvc.encode(img, cid, quality=hi - 5))
    assert large > small


@pytest.mark.parametrize("cid", LOSSY_IMAGE)
def test_quality_extremes(cid):
    lo, hi = get_codec(cid).quality_range
    img = _image("RGBA")
    worst = lvc.decode(lvc.encode(img, cid, quality=lo))
    best = lvc.decode(lvc.encode(img, cid, quality=hi))
    assert worst.shape == best.shape == img.shape
    assert _psnr(_color(best), _color(img)) > max(35, _psnr(_color(worst), _color(img)))


def test_png_effort_keeps_pixels():
    img = _image("RGBA")
    for q in (0, 9):
        np.testing.assert_array_equal(lvc.decode(lvc.encode(img, "png", quality=q)), img)


def test_png_uint16_gray_exact():
    img = np.random.default_rng(1).integers(0, 65536, (33, 21)).astype(np.uint16)
    out = lvc.decode(lvc.encode(img, "png"))
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize("cid", LOSSY_IMAGE)
def test_uint16_refused_by_8bit_codecs(cid):
    img = np.zeros((8, 8), np.uint16)
    with pytest.raises(UnsupportedMediaError, match="png"):
        lvc.encode(img, cid)


def test_png_uint16_colour_refused():
    with pytest.raises(UnsupportedMediaError, match="grayscale"):
        lvc.encode(np.zeros((8, 8, 3), np.uint16), "png")


def test_jpeg_alpha_is_a_second_png_stream():
    header, streams = unpack(lvc.encode(_image("RGBA"), "jpeg"))
    assert len(streams) == 2
    assert streams[0][:2] == b"\xff\xd8" and streams[1][:4] == b"\x89PNG"
    header, streams = unpack(lvc.encode(_image("RGB"), "jpeg"))
    assert len(streams) == 1


def test_gray_is_expanded_for_webp_and_avif():
    img = _image("L")
    for cid in ("webp", "avif"):
        header, _ = unpack(lvc.encode(img, cid))
        assert header.shape == img.shape
        assert lvc.decode(lvc.encode(img, cid)).ndim == 2


@pytest.mark.parametrize("cid", IMAGE_CODECS)
def test_corrupt_image_stream_in_container_is_caught(cid):
    data = bytearray(lvc.encode(_image("RGB"), cid))
    mid = len(data) - 20  # inside the (last) native stream
    data[mid:mid + 4] = bytes(255 - b for b in data[mid:mid + 4])
    with pytest.raises(ChecksumError):
        lvc.decode(bytes(data))


@pytest.mark.parametrize("cid", IMAGE_CODECS)
def test_corrupt_image_stream_direct(cid):
    header, streams = unpack(lvc.encode(_image("RGBA"), cid))
    codec = get_codec(cid)
    garbage = np.random.default_rng(2).integers(0, 256, 300, dtype=np.uint8).tobytes()
    for bad in (garbage, b"", streams[0][: len(streams[0]) // 2]):
        with pytest.raises(CorruptStreamError):
            codec.decode(header, [bad] + streams[1:])
    with pytest.raises(CorruptStreamError, match="stream"):
        codec.decode(header, streams + [b"extra"])
    if len(streams) == 2:  # a corrupt alpha plane, too
        with pytest.raises(CorruptStreamError, match="alpha"):
            codec.decode(header, [streams[0], garbage])


@pytest.mark.parametrize("cid", IMAGE_CODECS)
def test_stream_size_must_match_header(cid):
    header, streams = unpack(lvc.encode(_image("RGB"), cid))
    lying = Header(codec=cid, modality="image", shape=(80, 96, 3), dtype="uint8")
    with pytest.raises(CorruptStreamError, match="header declares"):
        get_codec(cid).decode(lying, streams)


def test_corrupt_container_streams_through_api():
    """A stream replaced by garbage with a *valid* CRC still gives CorruptStreamError."""
    header, _ = unpack(lvc.encode(_image("RGB"), "webp"))
    forged = pack(Header(header.codec, header.modality, header.shape, header.dtype),
                  [b"RIFF\x00\x00\x00\x00WEBPjunkjunk"])
    with pytest.raises(CorruptStreamError):
        lvc.decode(forged)


# ---------------------------------------------------------------- audio
@pytest.mark.parametrize("rate", [16000, 48000])
@pytest.mark.parametrize("channels", [1, 2, 4])
def test_flac_int16_bit_exact(rate, channels):
    x = _signal(rate, channels, "int16")
    m = lvc.decode_media(lvc.encode(x, "flac", sample_rate=rate))
    assert m.sample_rate == rate
    np.testing.assert_array_equal(m.data, x)


def test_flac_int32_24bit_both_justifications():
    rng = np.random.default_rng(3)
    right = rng.integers(-(1 << 23), 1 << 23, (4000, 2)).astype(np.int32)
    for x in (right, right << 8):
        np.testing.assert_array_equal(lvc.decode(lvc.encode(x, "flac", sample_rate=16000)), x)
    full = np.array([[1 << 30], [-(1 << 30) + 1]], np.int32)
    with pytest.raises(UnsupportedMediaError, match="24-bit"):
        lvc.encode(full, "flac", sample_rate=16000)


def test_flac_refuses_float():
    with pytest.raises(UnsupportedMediaError, match="integer PCM"):
        lvc.encode(_signal(16000, 1, "float32"), "flac", sample_rate=16000)


def test_flac_quality_changes_size_not_samples():
    x = _signal(16000, 2, "int16")
    sizes = []
    for q in (0, 8):
        data = lvc.encode(x, "flac", quality=q, sample_rate=16000)
        np.testing.assert_array_equal(lvc.decode(data), x)
        sizes.append(len(data))
    assert sizes[0] >= sizes[1]


LOSSY_AUDIO_CASES = [(c, ch, r, d) for c in ("opus", "vorbis", "mp3") for ch in (1, 2, 4)
                     for r in (16000, 48000) for d in ("int16", "float32")
                     if not (c == "mp3" and ch == 4)]


@pytest.mark.parametrize("cid,channels,rate,dtype", LOSSY_AUDIO_CASES)
def test_lossy_audio_round_trip(cid, channels, rate, dtype):
    x = _signal(rate, channels, dtype)
    m = lvc.decode_media(lvc.encode(x, cid, sample_rate=rate))
    assert m.data.shape == x.shape and m.data.dtype == x.dtype and m.sample_rate == rate
    assert _snr(x, m.data) > 10


@pytest.mark.parametrize("cid", ["opus", "vorbis", "mp3"])
def test_lossy_audio_quality_orders_size(cid):
    x = _signal(48000, 2, "float32")
    small = len(lvc.encode(x, cid, quality=1, sample_rate=48000))
    large = len(lvc.encode(x, cid, quality=9, sample_rate=48000))
    assert large > small


def test_lossy_audio_odd_length_and_int32():
    x = (_signal(16000, 2, "float32")[:1234] * 2 ** 31).astype(np.int32)
    out = lvc.decode(lvc.encode(x, "vorbis", sample_rate=16000))
    assert out.shape == x.shape and out.dtype == np.int32 and _snr(x, out) > 10


def test_opus_rejects_44100():
    with pytest.raises(UnsupportedMediaError, match="44100"):
        lvc.encode(_signal(44100, 1, "float32", 0.05), "opus", sample_rate=44100)


def test_mp3_limits():
    with pytest.raises(UnsupportedMediaError, match="2 channels"):
        lvc.encode(_signal(16000, 4, "float32", 0.05), "mp3", sample_rate=16000)
    with pytest.raises(UnsupportedMediaError, match="96000"):
        lvc.encode(_signal(96000, 1, "float32", 0.05), "mp3", sample_rate=96000)


@pytest.mark.parametrize("cid", AUDIO_CODECS)
def test_empty_audio(cid):
    x = np.zeros((0, 2), np.int16)
    m = lvc.decode_media(lvc.encode(x, cid, sample_rate=16000))
    assert m.data.shape == (0, 2) and m.data.dtype == np.int16


@pytest.mark.parametrize("cid", AUDIO_CODECS)
def test_corrupt_audio_stream(cid):
    x = _signal(16000, 2, "int16")
    data = bytearray(lvc.encode(x, cid, sample_rate=16000))
    mid = len(data) - len(data) // 3
    data[mid:mid + 4] = bytes(255 - b for b in data[mid:mid + 4])
    with pytest.raises(ChecksumError):
        lvc.decode(bytes(data))
    header, streams = unpack(lvc.encode(x, cid, sample_rate=16000))
    codec = get_codec(cid)
    garbage = np.random.default_rng(4).integers(0, 256, 500, dtype=np.uint8).tobytes()
    for bad in ([garbage], [b""], [], streams * 2):
        with pytest.raises(CorruptStreamError):
            codec.decode(header, bad)


@pytest.mark.parametrize("cid", AUDIO_CODECS)
def test_audio_stream_must_match_header(cid):
    x = _signal(16000, 2, "int16")
    header, streams = unpack(lvc.encode(x, cid, sample_rate=16000))
    codec = get_codec(cid)
    for change in ({"shape": (len(x), 3)}, {"sample_rate": 8000}, {"shape": (len(x) * 4, 2)}):
        lying = Header(**{**vars(header), **change})
        with pytest.raises(CorruptStreamError):
            codec.decode(lying, streams)


def test_audio_codec_refuses_image_and_image_codec_refuses_audio():
    with pytest.raises(UnsupportedMediaError):
        lvc.encode(_image("RGB"), "opus")  # 3-D array is not audio
    with pytest.raises(UnsupportedMediaError):
        get_codec("png").encode(lvc.Media(np.zeros(10, np.int16), "audio", 16000), 6)
