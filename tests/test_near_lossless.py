"""Near-lossless LiVeAction (issue 24): the error bound on every sample, decoded in
another process with another thread count; lossless at 0; CLI; Zarr chunks."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import lvc
from lvc.cli.main import cli
from lvc.errors import BadInputError, FormatError
from lvc.formats.container import read_header
from lvc.samples import sample_audio, sample_image


def _cube():
    base = sample_image(40, 32, seed=2)[:, :, :1].astype(np.uint16) * 16
    return base + np.arange(10, dtype=np.uint16)[None, None] * 37


def _volume():
    return np.stack([sample_image(36, 28, seed=s)[:, :, 0] for s in range(12)], axis=2)


def _masked_volume():
    """A scan outside its mask at one value (most of it, as in skull-stripped MR): the
    residual layer sends a background bit per sample there."""
    v = _volume()
    a, b, c = (np.arange(n).reshape([-1 if i == k else 1 for i in range(3)]) / n - 0.5
               for k, n in enumerate(v.shape))
    inside = (a * a + b * b) / 0.15 + c * c / 0.3 < 1
    return np.where(inside, v, 3).astype(np.uint8)


CASES = {
    "image": (lambda: sample_image(72, 48, seed=1), "liveaction-rgb", None),
    "audio": (lambda: sample_audio(0.4, 16000), "liveaction-audio", 16000),
    "cube": (_cube, "liveaction-hsi", None),
    "volume": (_volume, "liveaction-volume", None),
    "masked volume": (_masked_volume, "liveaction-volume", None),
}


def _decode_elsewhere(paths, threads: str) -> list:
    """Decode the files in a fresh process with LVC_THREADS=threads (as .npy)."""
    code = ("import sys, numpy as np, lvc\n"
            "for p in sys.argv[1:]: np.save(p + '.npy', lvc.decode(p))")
    env = {**os.environ, "LVC_THREADS": threads}
    subprocess.run([sys.executable, "-c", code, *map(str, paths)], env=env, check=True,
                   capture_output=True)
    return [np.load(str(p) + ".npy") for p in paths]


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_sample_within_n_decoded_in_another_process(kind, tmp_path):
    make, codec, rate = CASES[kind]
    x = make()
    paths = []
    for n in (0, 1, 2, 4):
        path = tmp_path / f"{kind}-{n}.lvc"
        path.write_bytes(lvc.encode(x, codec, sample_rate=rate, max_error=n,
                                    quality=None if n == 1 else 2))
        assert read_header(path.read_bytes()).metadata["max_error"] == n
        paths.append(path)
    for n, here, there in zip((0, 1, 2, 4), [lvc.decode(p) for p in paths],
                              _decode_elsewhere(paths, "1")):
        assert here.dtype == x.dtype and here.shape == x.shape
        assert np.array_equal(here, there)  # another process, one thread instead of two
        err = np.abs(here.astype(np.int64) - x.astype(np.int64)).max()
        assert err <= n
        if n == 0:
            assert np.array_equal(here, x)
    sizes = [p.stat().st_size for p in paths]
    assert sizes[0] > sizes[2] > sizes[3]  # a looser bound costs fewer bits


def test_float_tolerance_and_float_lossless():
    x = _cube().astype(np.float32) / 7.0
    for tol in (0.0, 0.01, 0.25):
        y = lvc.decode(lvc.encode(x, "liveaction-hsi", max_error=tol))
        assert y.dtype == np.float32
        assert np.abs(y.astype(np.float64) - x).max() <= tol
    assert np.array_equal(lvc.decode(lvc.encode(x, "liveaction-hsi", max_error=0)), x)
    with pytest.raises(BadInputError, match="float64"):
        lvc.encode(x.astype(np.float64), "liveaction-hsi", max_error=0)


def test_classical_base_codecs_and_bad_values():
    x = sample_image(40, 24, seed=5)
    y = lvc.decode(lvc.encode(x, "jpeg", max_error=3))
    assert np.abs(y.astype(int) - x).max() <= 3
    for bad in (-1, 1.5, "two", float("nan")):
        with pytest.raises(BadInputError, match="max error"):
            lvc.encode(x, "webp", max_error=bad)
    with pytest.raises(BadInputError, match="lossless already"):
        lvc.encode(x, "png", max_error=1)


def test_a_damaged_residual_stream_is_a_format_error():
    x = sample_image(40, 24, seed=6)
    data = bytearray(lvc.encode(x, "webp", 80, max_error=1))
    data[-6] ^= 0x55
    with pytest.raises(FormatError):
        lvc.decode(bytes(data))


def test_cli_max_error_and_info(tmp_path):
    from PIL import Image

    x = sample_image(48, 32, seed=7)
    Image.fromarray(x).save(tmp_path / "a.png")
    runner = CliRunner()
    result = runner.invoke(cli, ["encode", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.lvc"),
                                 "-c", "liveaction-rgb", "--max-error", "2"])
    assert result.exit_code == 0, result.output
    info = runner.invoke(cli, ["info", str(tmp_path / "a.lvc"), "--json"])
    assert json.loads(info.output)["metadata"]["max_error"] == 2
    assert np.abs(lvc.decode(tmp_path / "a.lvc").astype(int) - x).max() <= 2
    bad = runner.invoke(cli, ["encode", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.lvc"),
                              "-c", "webp", "--max-error", "0.5"])
    assert bad.exit_code == 2 and "must be an integer" in bad.output
    assert not (tmp_path / "b.lvc").exists()


def test_zarr_array_with_lvc_chunks_keeps_the_bound(tmp_path):
    zarr = pytest.importorskip("zarr")
    import numcodecs

    from lvc.data.zarr_codec import LVCZarrCodec

    cube = _cube()
    compressor = LVCZarrCodec("liveaction-hsi", max_error=1)
    z = zarr.open_array(str(tmp_path / "cube.zarr"), mode="w", shape=cube.shape,
                        chunks=(16, 20, 10), dtype=cube.dtype, compressor=compressor)
    z[:] = cube
    back = zarr.open_array(str(tmp_path / "cube.zarr"), mode="r")
    assert back.compressor.get_config() == {"id": "lvc", "codec": "liveaction-hsi",
                                            "quality": None, "max_error": 1}
    for i in range(0, cube.shape[0], 16):
        for j in range(0, cube.shape[1], 20):
            chunk = back[i:i + 16, j:j + 20]
            assert np.abs(chunk.astype(int) - cube[i:i + 16, j:j + 20]).max() <= 1
    assert numcodecs.get_codec({"id": "lvc", "codec": "webp"}).codec == "webp"


def test_the_size_check_counts_the_residual_layers_memory(monkeypatch):
    from lvc.codecs.near_lossless import DECODE_MEMORY
    from lvc.errors import LimitError

    x = sample_image(64, 48, seed=8)
    data = lvc.encode(x, "webp", 80, max_error=1)
    plain = lvc.encode(x, "webp", 80)
    monkeypatch.setenv("LVC_MAX_BYTES", str(int(DECODE_MEMORY * x.size) - 1))
    assert np.array_equal(lvc.decode(plain), lvc.decode(lvc.encode(x, "webp", 80)))
    with pytest.raises(LimitError, match="LVC_MAX_BYTES"):
        lvc.decode(data)


def test_layouts_and_background_bits_on_the_residual_stream():
    """Volumes and cubes choose a 3-D or 2-D lattice, colour images planar or per-colour
    passes; a mostly-background array sends a background bit per sample and decodes
    those samples to the background value."""
    from lvc.codecs import near_lossless as nl

    x = _masked_volume()
    assert np.mean(x == 3) > 0.5
    rng = np.random.default_rng(0)
    x_hat = np.clip(x.astype(int) + rng.integers(-4, 5, x.shape), 0, 255).astype(np.uint8)
    for n in (0, 1, 2):
        stream = nl.encode_residual(x, x_hat, n)
        assert stream[0] & nl.BACKGROUND and stream[0] & ~nl.BACKGROUND in nl.LAYOUTS
        y = nl.decode_residual(stream, x_hat, n)
        assert np.abs(y.astype(int) - x).max() <= n
        assert np.all(y[x == 3] == 3)
        for layout in (0, 1):  # each lattice decodes on its own too
            alone = bytes([layout | nl.BACKGROUND]) + nl._encode_layout(x, x_hat, n, layout,
                                                                        True)
            assert np.abs(nl.decode_residual(alone, x_hat, n).astype(int) - x).max() <= n
    image = sample_image(40, 32, seed=3)
    base = (image // 4 * 4).astype(np.uint8)
    plain = nl.encode_residual(image, base, 1)  # 3 channels: planar or per colour
    assert plain[0] in (0, 2)
    for layout in (0, 2):
        alone = bytes([layout]) + nl._encode_layout(image, base, 1, layout)
        assert np.abs(nl.decode_residual(alone, base, 1).astype(int) - image).max() <= 1
    with pytest.raises(FormatError):
        nl.decode_residual(bytes([1]) + plain[1:], base, 1)  # 3-D on an image
    with pytest.raises(FormatError):
        nl.decode_residual(bytes([2]) + plain[1:], base[:, :, 0], 1)  # colours of a gray
