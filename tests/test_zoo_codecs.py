"""CompressAI zoo models as lvc codecs, with seeded random weights (``LVC_ZOO_RANDOM=1``):
no test needs or downloads compressai's pretrained files. The pretrained path is
exercised with a checkpoint written here into a temporary torch hub cache."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import lvc
from lvc.codecs import registry
from lvc.codecs import latent_image
from lvc.codecs.torch_utils import stable_cpu
from lvc.codecs.zoo import weights as zoo_weights
from lvc.errors import CodecUnavailableError, CorruptStreamError, ModelMismatchError
from lvc.formats.codec_tags import tag_for_codec
from lvc.formats.container import pack, unpack

from cli_helpers import assert_user_error, ok, run

ZOO = {"bmshj2018-factorized": 8, "bmshj2018-hyperprior": 8, "mbt2018-mean": 8,
       "mbt2018": 8, "cheng2020-anchor": 6, "cheng2020-attn": 6}
AUTOREGRESSIVE = {"mbt2018", "cheng2020-anchor", "cheng2020-attn"}


def _image(h: int, w: int, seed: int, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (h // 8 + 2, w // 8 + 2, channels))
    smooth = np.kron(coarse, np.ones((8, 8, 1)))[:h, :w] + rng.normal(0, 6, (h, w, channels))
    return np.clip(smooth, 0, 255).astype(np.uint8).squeeze()


def _no_network(monkeypatch) -> None:
    """Any download attempt fails the test loudly."""
    def refuse(*args, **kwargs):
        raise AssertionError("lvc tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(zoo_weights.zoo(), "load_state_dict_from_url", refuse)
    import urllib.request
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture
def random_weights(monkeypatch):
    monkeypatch.setenv(zoo_weights.RANDOM_ENV, "1")
    registry.get_codec.cache_clear()
    yield
    registry.get_codec.cache_clear()


def _compressai_reconstruction(codec_id: str, quality: int, x: np.ndarray) -> np.ndarray:
    """What compressai's own compress/decompress gives for ``x`` (RGB uint8)."""
    zm = zoo_weights.load_model(codec_id, quality)
    with stable_cpu():
        t = latent_image.to_tensor(x, zm.model.downsampling_factor)
        out = zm.model.compress(t)
        x_hat = zm.model.decompress(out["strings"], out["shape"])["x_hat"]
    return latent_image.to_image(x_hat, *x.shape[:2], gray=False)


# ---------------------------------------------------------------- registry
def test_registry_entries_tags_and_default_files():
    image = zoo_weights.zoo()
    for tag, (cid, top) in enumerate(ZOO.items(), start=40):
        info = registry.codec_info(cid)
        assert (info.modality, info.lossless, info.quality_range) == ("image", False, (1, top))
        assert info.requires == ("torch", "compressai") and info.sweep_qualities() == \
            tuple(range(1, top + 1))
        assert tag_for_codec(cid) == tag
        quality, name = zoo_weights.DEFAULT_FILES[cid]
        assert quality == info.default_quality
        assert image.model_urls[cid]["mse"][quality].endswith("/" + name)
        assert sorted(image.cfgs[cid]) == list(range(1, top + 1))


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("codec_id", sorted(ZOO))
def test_cli_round_trip_matches_compressai(random_weights, codec_id, tmp_path):
    x = _image(64, 64, 1) if codec_id in AUTOREGRESSIVE else _image(48, 64, 1)
    src, blob_path, out = tmp_path / "x.png", tmp_path / "x.lvc", tmp_path / "y.png"
    Image.fromarray(x).save(src)
    ok(run("encode", src, "-c", codec_id, "-q", 1, "-o", blob_path))
    ok(run("decode", blob_path, "-o", out))
    blob = blob_path.read_bytes()
    y = lvc.decode(blob)
    assert y.shape == x.shape and y.dtype == np.uint8
    assert np.array_equal(np.asarray(Image.open(out)), y)
    header, streams = unpack(blob)
    assert (header.codec, header.quality, len(streams)) == (codec_id, 1, 1)
    assert header.fingerprint == hashlib.sha256(f"random:{codec_id}".encode()).digest()[:4]
    # lvc's bitstream carries exactly the latents compressai's own coder would
    assert np.array_equal(y, _compressai_reconstruction(codec_id, 1, x))


@pytest.mark.parametrize("shape", [(48, 64), (33, 20, 4), (17, 9, 2), (1, 1, 3)])
def test_layouts(random_weights, shape):
    x = _image(*shape[:2], seed=2, channels=shape[2] if len(shape) == 3 else 1).reshape(shape)
    y = lvc.decode(lvc.encode(x, "bmshj2018-hyperprior", 1))
    assert y.shape == x.shape and y.dtype == np.uint8
    if len(shape) == 3 and shape[2] in (2, 4):
        assert np.array_equal(y[:, :, -1], x[:, :, -1])  # alpha is lossless


def test_corrupt_streams(random_weights):
    blob = lvc.encode(_image(48, 64, 3, channels=4), "mbt2018-mean", 1)
    header, streams = unpack(blob)
    codec = registry.get_codec("mbt2018-mean")
    with pytest.raises(CorruptStreamError):
        codec.decode(header, streams[:1])  # alpha stream missing
    damaged = bytearray(streams[0])
    damaged[len(damaged) // 2] ^= 0x55
    with pytest.raises(CorruptStreamError):
        lvc.decode(pack(header, [bytes(damaged), streams[1]]))
    header.quality = 9
    with pytest.raises(CorruptStreamError):
        codec.decode(header, streams)


# ---------------------------------------------------------------- determinism
_DECODE_SCRIPT = """
import hashlib, sys, torch, lvc
for n in (2, 1):
    torch.set_num_threads(n)
    for path in sys.argv[1:]:
        print(hashlib.sha256(lvc.decode(open(path, 'rb').read()).tobytes()).hexdigest())
"""


def test_decode_bit_identical_across_processes_and_threads(random_weights, tmp_path):
    """A hyperprior and an autoregressive model, decoded here and by another process
    with 2 then 1 threads."""
    x = _image(64, 128, 4)
    paths, expected = [], []
    threads = torch.get_num_threads()
    for codec_id in ("mbt2018-mean", "mbt2018"):
        try:
            torch.set_num_threads(2)
            blob = lvc.encode(x, codec_id, 2)
        finally:
            torch.set_num_threads(threads)
        paths.append(tmp_path / f"{codec_id}.lvc")
        paths[-1].write_bytes(blob)
        expected.append(hashlib.sha256(lvc.decode(blob).tobytes()).hexdigest())
    out = subprocess.run([sys.executable, "-c", _DECODE_SCRIPT, *map(str, paths)],
                         env=dict(os.environ), capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == expected * 2


# ---------------------------------------------------------------- weights
def test_missing_weights_one_error_line_and_no_download(monkeypatch, tmp_path):
    _no_network(monkeypatch)
    monkeypatch.delenv(zoo_weights.RANDOM_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    registry.get_codec.cache_clear()
    src = tmp_path / "x.png"
    Image.fromarray(_image(48, 64, 5)).save(src)
    expected = tmp_path / "torch" / "hub" / "checkpoints" / \
        zoo_weights.DEFAULT_FILES["bmshj2018-hyperprior"][1]
    result = run("encode", src, "-c", "bmshj2018-hyperprior", "-o", tmp_path / "x.lvc")
    assert_user_error(result, CodecUnavailableError.exit_code)
    assert str(expected) in result.stderr and "downloads nothing" in result.stderr
    assert not (tmp_path / "x.lvc").exists()
    assert zoo_weights.probe("mbt2018") and "mbt2018-4-" in zoo_weights.probe("mbt2018")
    monkeypatch.setenv(zoo_weights.RANDOM_ENV, "1")
    assert zoo_weights.probe("mbt2018") is None
    registry.get_codec.cache_clear()


def test_cached_pretrained_checkpoint(monkeypatch, tmp_path):
    """A checkpoint in torch hub's cache is loaded without pickle, hash-checked against
    its name and fingerprinted apart from random weights; other qualities stay missing."""
    _no_network(monkeypatch)
    cid, quality = "bmshj2018-factorized", 4
    image = zoo_weights.zoo()
    torch.manual_seed(7)
    model = image.model_architectures[cid](*image.cfgs[cid][quality])
    model.update(force=True)
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    tmp = cache / "ckpt"
    torch.save(model.state_dict(), tmp)
    name = f"bmshj2018-factorized-prior-4-{hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]}" \
           ".pth.tar"
    tmp.rename(cache / name)
    monkeypatch.setitem(zoo_weights.DEFAULT_FILES, cid, (quality, name))
    monkeypatch.setitem(image.model_urls[cid]["mse"], quality, f"https://example.invalid/{name}")
    monkeypatch.delenv(zoo_weights.RANDOM_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    zoo_weights.clear_cache()
    registry.get_codec.cache_clear()
    x = _image(48, 64, 6)
    blob = lvc.encode(x, cid, quality)
    assert unpack(blob)[0].fingerprint != hashlib.sha256(f"random:{cid}".encode()).digest()[:4]
    assert np.array_equal(lvc.decode(blob), _compressai_reconstruction(cid, quality, x))
    with pytest.raises(CodecUnavailableError, match="quality 2: pretrained weights not cached"):
        lvc.encode(x, cid, 2)
    monkeypatch.setenv(zoo_weights.RANDOM_ENV, "1")
    with pytest.raises(ModelMismatchError):
        lvc.decode(blob)  # random weights refuse a file coded with the pretrained ones
    monkeypatch.delenv(zoo_weights.RANDOM_ENV)
    (cache / name).write_bytes(b"x" * 100)  # same name, other contents
    zoo_weights.clear_cache()
    with pytest.raises(ModelMismatchError, match="sha256"):
        lvc.decode(blob)
    zoo_weights.clear_cache()
    registry.get_codec.cache_clear()


def test_random_weights_leave_the_global_rng_alone(random_weights):
    zoo_weights.clear_cache()
    state = torch.random.get_rng_state()
    zoo_weights.load_model("bmshj2018-hyperprior", 1)
    assert torch.equal(torch.random.get_rng_state(), state)
