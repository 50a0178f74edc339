"""The liveaction-rgb codec end to end, without shipped weights: a tiny random model is
exported (float16 tensors + latent tables fitted on synthetic images) into a temporary
weights directory that ``LVC_WEIGHTS_DIR`` points at."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

import lvc
from lvc.codecs import registry
from lvc.codecs.liveaction import codec as la_codec
from lvc.codecs.liveaction import weights as la_weights
from lvc.codecs.liveaction.model import LiVeAction, LiVeActionConfig
from lvc.errors import (BadInputError, CodecUnavailableError, CorruptStreamError,
                        ModelMismatchError, UnsupportedMediaError)
from lvc.formats.codec_tags import tag_for_codec
from lvc.formats.container import pack, unpack
from lvc.train.checkpoint import save_checkpoint

CODEC = "liveaction-rgb"
TINY = LiVeActionConfig(levels=2, latent_channels=8, encoder_blocks=1, decoder_blocks=1,
                        decoder_width=32, mbconv_expansion=2)  # F = 4
LEVELS = [[1, 1.0], [2, 1.0], [3, 1.0], [4, 1.0], [5, 1.0], [6, 1.0], [8, 1.0], [8, 0.5]]


def _image(h: int, w: int, seed: int, channels: int = 3) -> np.ndarray:
    """Smooth random colours plus a little noise (natural-ish statistics)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (h // 8 + 2, w // 8 + 2, channels)).astype(np.float32)
    smooth = np.kron(coarse, np.ones((8, 8, 1), np.float32))[:h, :w]
    out = smooth + rng.normal(0, 6, smooth.shape)
    return np.clip(out, 0, 255).astype(np.uint8).squeeze()


def _export(root, seed: int):
    torch.manual_seed(seed)
    model = LiVeAction(TINY)
    ckpt = root / "checkpoint.safetensors"
    save_checkpoint(ckpt, model, torch.optim.SGD(model.parameters(), lr=0.1), 11, {
        "config": TINY.to_dict(), "rate_levels": LEVELS, "data": ["synthetic"],
        "wall_seconds": 2.5, "hardware": "test cpu"})
    images = root / "fit"
    images.mkdir()
    for i in range(4):
        Image.fromarray(_image(48, 64, 100 + i)).save(images / f"{i}.png")
    out = root / "weights" / "liveaction-rgb.safetensors"
    entry = la_weights.export_weights(ckpt, out, images, n_fit_images=3,
                                      manifest_fields={"note": "test"})
    return out.parent, entry


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Two weights directories with different random models: (dir, entry) each."""
    return [_export(tmp_path_factory.mktemp(f"weights{seed}"), seed) for seed in (0, 1)]


def _install(monkeypatch, directory) -> None:
    monkeypatch.setenv(la_weights.WEIGHTS_ENV, str(directory))
    la_weights.clear_cache()
    registry.get_codec.cache_clear()


@pytest.fixture
def installed(monkeypatch, exported):
    _install(monkeypatch, exported[0][0])
    yield exported[0]
    la_weights.clear_cache()
    registry.get_codec.cache_clear()


def _psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


# ---------------------------------------------------------------- registry, export
def test_registry_entry_and_tag():
    info = registry.codec_info(CODEC)
    assert (info.modality, info.lossless, info.quality_range, info.default_quality) == \
        ("image", False, (1, 8), 4)
    assert info.sweep_qualities() == tuple(range(1, 9))
    assert tag_for_codec(CODEC) == 32
    assert registry.DEFAULT_CODEC["image"] != CODEC  # switched when weights ship


def test_export_writes_safetensors_and_manifest(installed):
    directory, entry = installed
    path = directory / entry["file"]
    manifest = json.loads((directory / la_weights.MANIFEST).read_text())
    assert manifest["weights"] == [json.loads(json.dumps(entry))]
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry["bytes"] == path.stat().st_size
    assert (entry["steps"], entry["wall_time_s"], entry["hardware"], entry["note"]) == \
        (11, 2.5, "test cpu", "test")
    assert entry["table_fit_data"]["images"] == 3 and entry["kodak"] is None
    with safe_open(str(path), framework="np") as f:
        meta = json.loads(f.metadata()["lvc"])
        names = list(f.keys())
        model_dtypes = {str(f.get_tensor(n).dtype) for n in names if n.startswith("model.")}
    assert model_dtypes == {"float16"}
    assert meta["rate_levels"] == LEVELS and meta["config"] == TINY.to_dict()
    prefixes = {n[:n.index(".", len("tables.d") + 2) + 1] for n in names
                if n.startswith("tables.")}
    assert prefixes == {"tables.d0.5.", "tables.d1.0."}
    w = la_weights.load_weights()
    assert w.fingerprint == bytes.fromhex(entry["sha256"])[:4]
    assert registry.get_codec(CODEC).fingerprint() == w.fingerprint


def test_export_refuses_kodak(tmp_path):
    with pytest.raises(BadInputError, match="Kodak"):
        la_weights.export_weights(tmp_path / "x.safetensors", tmp_path / "w.safetensors",
                                  "../shared/datasets/kodak")


def test_probe_reports_missing_weights(monkeypatch, tmp_path):
    _install(monkeypatch, tmp_path)
    reason = la_weights.probe()
    assert reason and "weights not installed" in reason and "export" in reason
    assert registry.codec_info(CODEC).unavailable_reason() == reason
    with pytest.raises(CodecUnavailableError, match="weights not installed"):
        lvc.encode(_image(16, 16, 0), CODEC)
    registry.get_codec.cache_clear()


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("shape", [(37, 53, 3), (37, 53), (29, 31, 2), (37, 53, 4), (1, 1, 3)])
def test_round_trip_layouts(installed, shape):
    x = _image(*shape[:2], seed=3, channels=shape[2] if len(shape) == 3 else 1)
    x = x.reshape(shape)
    blob = lvc.encode(x, CODEC)
    y = lvc.decode(blob)
    assert y.shape == x.shape and y.dtype == np.uint8
    header, streams = unpack(blob)
    assert header.quality == 4 and header.metadata == {}
    assert header.fingerprint == la_weights.load_weights().fingerprint
    if len(shape) == 3 and shape[2] in (2, 4):
        assert len(streams) == 2
        assert np.array_equal(y[:, :, -1], x[:, :, -1])  # alpha is lossless
    else:
        assert len(streams) == 1


def test_gray_is_mean_of_rgb_decode(installed):
    gray = _image(24, 40, 5, channels=1)
    y_gray = lvc.decode(lvc.encode(gray, CODEC, 6))
    y_rgb = lvc.decode(lvc.encode(np.dstack([gray] * 3), CODEC, 6))
    assert np.abs(y_gray.astype(int) - y_rgb.astype(float).mean(axis=2)).max() <= 1


def test_every_quality_and_rate_grows(installed):
    x = _image(64, 96, 7)
    sizes = []
    for q in range(1, 9):
        blob = lvc.encode(x, CODEC, q)
        assert lvc.decode(blob).shape == x.shape
        sizes.append(len(blob))
    assert sizes[-1] > 2 * sizes[0]
    assert np.corrcoef(np.arange(8), sizes)[0, 1] > 0.9, sizes
    with pytest.raises(BadInputError):
        lvc.encode(x, CODEC, 9)


def test_bad_inputs(installed):
    with pytest.raises(UnsupportedMediaError):
        lvc.encode(np.zeros((16, 16, 3), np.uint16), CODEC)
    with pytest.raises(UnsupportedMediaError):
        lvc.encode(np.zeros((16, 16), np.uint16), CODEC)


# ---------------------------------------------------------------- determinism
_DECODE_SCRIPT = """
import hashlib, sys, torch, lvc
blob = open(sys.argv[1], 'rb').read()
for n in (2, 1):
    torch.set_num_threads(n)
    print(hashlib.sha256(lvc.decode(blob).tobytes()).hexdigest())
"""


def test_decode_bit_identical_across_processes_and_threads(installed, tmp_path):
    x = _image(96, 128, 9)
    blob = lvc.encode(x, CODEC, 8)
    threads = torch.get_num_threads()
    digests = set()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            digests.add(hashlib.sha256(lvc.decode(blob).tobytes()).hexdigest())
    finally:
        torch.set_num_threads(threads)
    path = tmp_path / "x.lvc"
    path.write_bytes(blob)
    env = dict(os.environ, **{la_weights.WEIGHTS_ENV: str(installed[0])})
    out = subprocess.run([sys.executable, "-c", _DECODE_SCRIPT, str(path)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    digests.update(out)
    assert len(out) == 2 and len(digests) == 1


def test_cpu_decode_uses_integer_products_close_to_the_float_decoder(installed):
    x = _image(64, 80, 4)
    blob = lvc.encode(x, CODEC, 8)
    w = la_weights.load_weights(CODEC)
    header, streams = unpack(blob)
    k, delta = w.rate_levels[7]
    symbols = la_codec.decode_latents(streams[0], (k, 16, 20), w.tables[delta])
    integer = la_codec.synthesise(w.model, symbols, delta, (64, 80), decoder=w.decoder_on())
    reference = la_codec.synthesise(w.model, symbols, delta, (64, 80))
    assert np.array_equal(lvc.decode(blob), integer)
    assert _psnr(integer, reference) > 40


def test_stable_cpu_restores_onednn_flag():
    before = torch.backends.mkldnn.enabled
    with la_codec.stable_cpu():
        assert not torch.backends.mkldnn.enabled and torch.is_inference_mode_enabled()
    assert torch.backends.mkldnn.enabled == before


# ---------------------------------------------------------------- weights mismatch
def test_other_weights_refuse_to_decode(monkeypatch, exported):
    _install(monkeypatch, exported[0][0])
    blob = lvc.encode(_image(32, 32, 1), CODEC)
    _install(monkeypatch, exported[1][0])
    with pytest.raises(ModelMismatchError, match="weights"):
        lvc.decode(blob)
    la_weights.clear_cache()
    registry.get_codec.cache_clear()


def test_tampered_weights_file_is_refused(monkeypatch, exported, tmp_path):
    _install(monkeypatch, exported[0][0])
    blob = lvc.encode(_image(32, 32, 1), CODEC)
    directory = tmp_path / "w"
    shutil.copytree(exported[0][0], directory)
    manifest = json.loads((directory / la_weights.MANIFEST).read_text())
    manifest["weights"][0]["sha256"] = "0" * 64
    (directory / la_weights.MANIFEST).write_text(json.dumps(manifest))
    _install(monkeypatch, directory)
    assert la_weights.probe() is None  # present; the hash is checked on use
    with pytest.raises(ModelMismatchError, match="sha256"):
        lvc.decode(blob)
    # same size, other contents: the manifest's hash catches a swapped file
    shutil.copy(exported[1][0] / exported[1][1]["file"], directory / exported[0][1]["file"])
    manifest["weights"][0]["sha256"] = exported[0][1]["sha256"]
    (directory / la_weights.MANIFEST).write_text(json.dumps(manifest))
    la_weights.clear_cache()
    with pytest.raises(ModelMismatchError, match="sha256"):
        lvc.decode(blob)
    la_weights.clear_cache()
    registry.get_codec.cache_clear()


# ---------------------------------------------------------------- corrupt streams
def test_corrupt_streams(installed):
    x = _image(40, 48, 2, channels=4)
    header, streams = unpack(lvc.encode(x, CODEC, 5))
    codec = registry.get_codec(CODEC)
    with pytest.raises(CorruptStreamError):
        codec.decode(header, streams[:1])  # alpha stream missing
    with pytest.raises(CorruptStreamError):
        codec.decode(header, streams + [b"x"])
    damaged = bytearray(streams[0])
    damaged[len(damaged) // 2] ^= 0x55
    # a valid container around a damaged latent stream: the symbol CRC catches it
    with pytest.raises(CorruptStreamError):
        lvc.decode(pack(header, [bytes(damaged), streams[1]]))
    with pytest.raises(CorruptStreamError):
        lvc.decode(pack(header, [streams[0][:-3], streams[1]]))
    header.metadata = {"tile": 6}  # not a multiple of F
    with pytest.raises(CorruptStreamError):
        codec.decode(header, streams)


# ---------------------------------------------------------------- tiles
def test_tile_edges():
    assert la_codec.tile_edges(1000, 1024, 16) == [0, 1000]
    assert la_codec.tile_edges(1030, 1024, 16) == [0, 528, 1030]
    edges = la_codec.tile_edges(4000, 1024, 16)
    assert edges[0] == 0 and edges[-1] == 4000 and len(edges) == 5
    assert all(e % 16 == 0 and 0 < b - a <= 1024 for a, b, e in
               zip(edges, edges[1:], edges[:-1]))


def test_tiled_matches_independent_tiles(installed, monkeypatch):
    x = _image(70, 50, 4)
    untiled = lvc.decode(lvc.encode(x, CODEC, 7))
    monkeypatch.setattr(la_codec.LiVeActionCodec, "tile_size", 32)
    blob = lvc.encode(x, CODEC, 7)
    header, streams = unpack(blob)
    grid = la_codec.tile_grid(70, 50, 32, TINY.factor)
    assert header.metadata == {"tile": 32} and len(streams) == len(grid) == 6
    tiled = lvc.decode(blob)
    assert tiled.shape == x.shape
    # every tile is coded on its own: the first tile decodes as that crop alone would
    y0, y1, x0, x1 = grid[0]
    crop = lvc.decode(lvc.encode(np.ascontiguousarray(x[y0:y1, x0:x1]), CODEC, 7))
    assert np.array_equal(tiled[y0:y1, x0:x1], crop)
    assert abs(_psnr(x, tiled) - _psnr(x, untiled)) < 3  # random weights: loose bound
