"""Media file I/O: images through Pillow, audio through soundfile, .npy, dispatch."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

import lvc
from lvc.errors import BadInputError, MissingFileError, OutputExistsError, UnsupportedMediaError
from lvc.formats.audio_io import read_audio, write_audio
from lvc.formats.image_io import image_to_array, read_image, write_image
from lvc.formats.io import default_suffix, read_media, write_media
from lvc.formats.media import Media, as_audio, as_image


def _rgb(h: int = 24, w: int = 32) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 7, y * 9, (x + y) * 4], axis=-1).astype(np.uint8)


# ---------------------------------------------------------------- images
def test_exif_orientation_applied(tmp_path):
    img = _rgb()  # 24 high, 32 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    path = tmp_path / "rotated.jpg"
    Image.fromarray(img).save(path, quality=100, subsampling=0, exif=exif.tobytes())
    media = read_image(path)
    assert media.shape == (32, 24, 3)
    expected = np.rot90(img, k=-1)  # 90 degrees clockwise
    assert np.abs(media.data.astype(int) - expected).mean() < 4
    assert media.metadata["format"] == "JPEG"


def test_palette_with_transparency_reads_as_rgba(tmp_path):
    pal = Image.new("P", (6, 4))
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putdata([0, 1] * 12)
    pal.info["transparency"] = 0
    path = tmp_path / "pal.png"
    pal.save(path, transparency=0)
    data = read_image(path).data
    assert data.shape == (4, 6, 4)
    assert data[0, 0].tolist() == [255, 0, 0, 0] and data[0, 1].tolist() == [0, 255, 0, 255]
    opaque = tmp_path / "opaque.png"
    Image.new("P", (5, 3)).save(opaque)
    assert read_image(opaque).shape == (3, 5, 3)


@pytest.mark.parametrize("mode,shape", [("1", (4, 6)), ("CMYK", (4, 6, 3)), ("LA", (4, 6, 2)),
                                        ("YCbCr", (4, 6, 3)), ("RGBA", (4, 6, 4))])
def test_modes_map_to_lvc_layouts(mode, shape):
    arr = image_to_array(Image.new(mode, (6, 4)))
    assert arr.shape == shape and arr.dtype == np.uint8


def test_16bit_gray_png_read_write(tmp_path):
    img = np.random.default_rng(0).integers(0, 65536, (17, 23)).astype(np.uint16)
    path = tmp_path / "deep.png"
    write_image(path, as_image(img))
    with Image.open(path) as im:
        assert im.mode.startswith("I;16")
    media = read_image(path)
    assert media.data.dtype == np.uint16
    np.testing.assert_array_equal(media.data, img)
    tif = tmp_path / "deep.tif"
    write_image(tif, as_image(img))
    np.testing.assert_array_equal(read_image(tif).data, img)


def test_32bit_int_gray_is_clipped_to_uint16():
    im = Image.fromarray(np.array([[-5, 70000], [3, 65535]], np.int32), "I")
    np.testing.assert_array_equal(image_to_array(im), [[0, 65535], [3, 65535]])


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".webp"])
def test_lossless_image_formats_round_trip(tmp_path, suffix):
    img = _rgb()
    path = write_media(tmp_path / f"out{suffix}", as_image(img))
    np.testing.assert_array_equal(read_media(path).data, img)


def test_write_image_refusals(tmp_path):
    with pytest.raises(UnsupportedMediaError, match="JPEG"):
        write_image(tmp_path / "a.jpg", as_image(np.zeros((4, 4, 4), np.uint8)))
    with pytest.raises(UnsupportedMediaError, match="16-bit"):
        write_image(tmp_path / "a.jpg", as_image(np.zeros((4, 4), np.uint16)))
    with pytest.raises(UnsupportedMediaError, match="not an image format"):
        write_image(tmp_path / "a.xyz", as_image(np.zeros((4, 4), np.uint8)))
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_write_refuses_to_overwrite(tmp_path):
    path = tmp_path / "x.png"
    write_media(path, as_image(_rgb()))
    with pytest.raises(OutputExistsError):
        write_media(path, as_image(_rgb()))
    write_media(path, as_image(_rgb() // 2), overwrite=True)
    np.testing.assert_array_equal(read_media(path).data, _rgb() // 2)


def test_unreadable_files(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("hello, not an image")
    with pytest.raises(UnsupportedMediaError, match="not a supported image, audio, NIfTI or .npy file"):
        read_media(text)
    with pytest.raises(UnsupportedMediaError):
        read_image(text)
    with pytest.raises(UnsupportedMediaError):
        read_audio(text)
    broken = tmp_path / "broken.png"
    good = tmp_path / "good.png"
    Image.fromarray(_rgb()).save(good)
    broken.write_bytes(good.read_bytes()[:60])
    with pytest.raises(UnsupportedMediaError):
        read_media(broken)
    with pytest.raises(MissingFileError):
        read_media(tmp_path / "absent.png")


def test_lvc_file_is_refused_by_read_media(tmp_path):
    path = tmp_path / "x.lvc"
    path.write_bytes(lvc.encode(_rgb(), "png"))
    with pytest.raises(BadInputError, match="already an .lvc file"):
        read_media(path)
    np.testing.assert_array_equal(lvc.read(path).data, _rgb())  # lvc.read decodes it


def test_api_reads_media_paths_and_pil_images(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(_rgb()).save(path)
    np.testing.assert_array_equal(lvc.decode(lvc.encode(path, "png")), _rgb())
    np.testing.assert_array_equal(lvc.decode(lvc.encode(Image.fromarray(_rgb()), "png")), _rgb())
    out = lvc.write(tmp_path / "copy.png", path)
    np.testing.assert_array_equal(read_image(out).data, _rgb())


# ---------------------------------------------------------------- audio
def _tone(frames: int = 3000, channels: int = 2) -> np.ndarray:
    t = np.arange(frames)[:, None] / 16000
    return (0.5 * np.sin(2 * np.pi * 440 * t * np.arange(1, channels + 1))).astype(np.float32)


@pytest.mark.parametrize("suffix,dtype,subtype", [
    (".wav", "int16", "PCM_16"), (".wav", "int32", "PCM_32"), (".wav", "float32", "FLOAT"),
    (".flac", "int16", "PCM_16"), (".flac", "int32", "PCM_24"), (".aiff", "int16", "PCM_16")])
def test_pcm_audio_round_trip(tmp_path, suffix, dtype, subtype):
    x = _tone(channels=3)
    if dtype != "float32":
        scale = 32767 if dtype == "int16" else (1 << 23) - 1
        x = (x * scale).astype(dtype) << (8 if suffix == ".flac" and dtype == "int32" else 0)
    path = write_media(tmp_path / f"a{suffix}", as_audio(x, 22050))
    m = read_media(path)
    assert m.modality == "audio" and m.sample_rate == 22050
    assert m.metadata["subtype"] == subtype and m.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(m.data, x)
    assert sf.info(str(path)).subtype == subtype


def test_mono_audio_reads_as_2d(tmp_path):
    x = (_tone(channels=1)[:, 0] * 30000).astype(np.int16)
    path = write_audio(tmp_path / "mono.wav", as_audio(x, 8000))
    m = read_audio(path)
    assert m.data.shape == (len(x), 1) and m.sample_rate == 8000
    np.testing.assert_array_equal(m.data[:, 0], x)


def test_float_to_flac_is_clipped_24bit(tmp_path):
    x = np.array([[0.5], [-0.25], [1.5], [-2.0]], np.float32)
    m = read_audio(write_audio(tmp_path / "f.flac", as_audio(x, 16000)))
    assert m.data.dtype == np.int32 and m.metadata["subtype"] == "PCM_24"
    np.testing.assert_allclose(m.data[:, 0] / 2.0 ** 31, [0.5, -0.25, 1.0, -1.0], atol=1e-6)


@pytest.mark.parametrize("suffix,subtype", [(".ogg", "VORBIS"), (".opus", "OPUS"),
                                            (".mp3", "MPEG_LAYER_III")])
def test_lossy_audio_files(tmp_path, suffix, subtype):
    x = (_tone(8000, 2) * 32767).astype(np.int16)
    path = write_audio(tmp_path / f"a{suffix}", as_audio(x, 16000))
    m = read_media(path)
    assert m.metadata["subtype"] == subtype and m.data.dtype == np.float32
    assert m.data.shape == x.shape and m.sample_rate == 16000
    err = m.data - x / 32768.0
    assert 10 * np.log10(np.sum((x / 32768.0) ** 2) / np.sum(err ** 2)) > 10


def test_audio_write_refusals(tmp_path):
    with pytest.raises(UnsupportedMediaError, match="Opus"):
        write_audio(tmp_path / "a.opus", as_audio(_tone(), 44100))
    with pytest.raises(UnsupportedMediaError, match="suffix"):
        write_media(tmp_path / "a.png", as_audio(_tone(), 16000))
    with pytest.raises(UnsupportedMediaError, match="not an image format"):
        write_media(tmp_path / "a.wav", as_image(_rgb()))
    assert not list(tmp_path.iterdir())


def test_audio_through_the_api(tmp_path):
    x = (_tone() * 32767).astype(np.int16)
    wav = write_audio(tmp_path / "in.wav", as_audio(x, 16000))
    m = lvc.decode_media(lvc.encode(wav, "flac"))
    assert m.sample_rate == 16000
    np.testing.assert_array_equal(m.data, x)


# ---------------------------------------------------------------- .npy and dispatch
def test_npy_files(tmp_path):
    img = _rgb()
    path = write_media(tmp_path / "img.npy", as_image(img))
    m = read_media(path)
    assert m.modality == "image"
    np.testing.assert_array_equal(m.data, img)
    vol = Media(np.zeros((3, 4, 5, 6), np.float32), "volume")
    vpath = write_media(tmp_path / "vol.npy", vol)
    np.testing.assert_array_equal(np.load(vpath), vol.data)
    with pytest.raises(UnsupportedMediaError, match="npy"):
        read_media(vpath)
    with pytest.raises(UnsupportedMediaError, match=".npy"):
        write_media(tmp_path / "vol.png", vol)


def test_default_suffix():
    assert default_suffix("image") == ".png"
    assert default_suffix("audio") == ".wav"
    assert default_suffix("volume") == ".npy"
