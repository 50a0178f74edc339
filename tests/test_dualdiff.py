"""dualdiff: reverse-channel coding (shared randomness, PFR chunks, index coding), DiffC
against a closed-form Gaussian denoiser, and the codec with a tiny random diffusers
model loaded from a local folder (bit-exact decode in another process)."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from lvc.codecs.diffusion import diffc, rcc
from lvc.errors import LVCError

MU, SD = 0.1, 0.3


def oracle(x, t):
    """E[x0 | x_t] for x0 ~ N(MU, SD^2) per dimension: the optimal denoiser."""
    a = float(diffc.abar(t))
    return MU + np.sqrt(a) * SD ** 2 / (a * SD ** 2 + 1 - a) * (x - np.sqrt(a) * MU)


def gaussian_image(seed=0, shape=(3, 24, 24)):
    return np.clip(MU + SD * np.random.default_rng(seed).standard_normal(shape), -1, 1)


def test_candidates_regenerate_from_their_index_alone():
    many = rcc.candidates(b"key", (3, 1), 0, 32, 10)
    for j in (0, 7, 31):
        assert np.array_equal(rcc.candidates(b"key", (3, 1), j, 1, 10)[0], many[j])
    assert not np.array_equal(many, rcc.candidates(b"other", (3, 1), 0, 32, 10))
    z = rcc.candidates(b"key", (0, 0), 0, 1, 200_000)[0]
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01


def test_gaussian_step_is_exact_and_near_its_kl():
    m = np.random.default_rng(0).normal(0, 0.15, 4000)
    code, z = rcc.encode_step(m, b"k", 0, 6)
    back = rcc.read_steps(rcc.write_steps([code], 6), 1, 6)[0]
    assert np.array_equal(rcc.decode_step(back, b"k", 0, m.size), z)
    assert abs((z - m).mean()) < 0.05 and abs((z - m).std() - 1) < 0.05  # a sample of N(m, I)


@pytest.mark.parametrize("stop", [3, 6, 8])
def test_diffc_with_an_oracle_denoiser(stop):
    """Acceptance 1: the decoder rebuilds the encoder's x_{t*} bit-exactly, and the coded
    bits stay within 15% of the summed KL plus the stated overheads: 5 bits per chunk
    (budget, index code), 2 per step (chunk count) and 96 per stream (CRC, ANS flush)."""
    x0, steps = gaussian_image(), diffc.timesteps(12)
    codes, x_enc, kls = diffc.encode(x0, oracle, b"img", steps, stop, 6)
    data = rcc.write_steps(codes, 6)
    x_dec = diffc.decode(rcc.read_steps(data, stop, 6), oracle, b"img", steps, x0.shape)
    assert np.array_equal(x_enc, x_dec)
    chunks = sum(c.n for c in codes)
    assert 8 * len(data) <= 1.15 * sum(kls) + 5 * chunks + 2 * stop + 96
    assert sum(kls) > 0
    # x_{t*} is a sample of q(x_t* | x0): its noise is standard normal
    a = float(diffc.abar(steps[stop]))
    noise = (x_dec - np.sqrt(a) * x0) / np.sqrt(1 - a)
    assert abs(noise.mean()) < 0.1 and abs(noise.std() - 1) < 0.1


def test_more_implicit_steps_reconstruct_better():
    x0, steps = gaussian_image(1), diffc.timesteps(12)
    errors = []
    for stop in (2, 5, 8):
        codes, x, _ = diffc.encode(x0, oracle, b"img", steps, stop, 6)
        errors.append(float(np.mean((diffc.ddim(x, oracle, steps, stop) - x0) ** 2)))
    assert errors[0] > errors[1] > errors[2]


def test_a_better_prior_needs_fewer_bits():
    """What the explicit branch buys: a prior that knows more of x0 pays less KL."""
    x0, steps = gaussian_image(2), diffc.timesteps(12)
    hint = x0 + 0.1 * np.random.default_rng(3).standard_normal(x0.shape)

    def informed(x, t):  # blend the oracle with a noisy copy of x0 (an "explicit" hint)
        return 0.5 * oracle(x, t) + 0.5 * hint

    _, _, blind = diffc.encode(x0, oracle, b"img", steps, 6, 6)
    _, _, told = diffc.encode(x0, informed, b"img", steps, 6, 6)
    assert sum(told) < 0.5 * sum(blind)


def test_huge_shifts_are_clipped_not_refused():
    m = np.zeros(50)
    m[3] = 40.0  # about 1150 bits in one dimension
    code, z = rcc.encode_step(m, b"k", 0, 6)
    assert code.budgets.max() <= rcc.B_MAX and abs(z[3] - np.sqrt(2 * np.log(2) * 8)) < 4


def test_corrupt_rcc_streams_raise_clear_errors():
    code, _ = rcc.encode_step(np.full(300, 0.2), b"k", 0, 6)
    data = rcc.write_steps([code], 6)
    for bad in (data[:-3], data[:4] + bytes(len(data) - 4), b""):
        with pytest.raises(LVCError):
            rcc.read_steps(bad, 1, 6)


# ---------------------------------------------------------------- the codec
diffusers = pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(
        in_channels=6, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4)
    folder = tmp_path_factory.mktemp("tiny-unet")
    unet.save_pretrained(str(folder))
    return folder


@pytest.fixture
def use_model(tiny_model, monkeypatch):
    from lvc.codecs import registry
    from lvc.codecs.diffusion import weights

    monkeypatch.setenv(weights.MODEL_ENV, str(tiny_model))
    weights._CACHE.clear()
    registry.get_codec.cache_clear()
    yield tiny_model
    weights._CACHE.clear()
    registry.get_codec.cache_clear()


_DECODE = """
import hashlib, sys, torch, lvc
blob = open(sys.argv[1], 'rb').read()
for n in (2, 1):
    torch.set_num_threads(n)
    print(hashlib.sha256(lvc.decode(blob).tobytes()).hexdigest())
"""


def _photo(h=40, w=56):
    y, x = np.mgrid[:h, :w]
    return np.stack([(x * 4) % 256, (y * 5) % 256, ((x + y) * 3) % 256], -1).astype(np.uint8)


@pytest.mark.parametrize("codec,quality", [("dualdiff", 2), ("dualdiff-implicit", 1)])
def test_round_trip_bit_exact_in_another_process(use_model, tmp_path, codec, quality):
    """Acceptance 2: a random network, encode here, decode in a new process twice
    (2 and 1 threads): one output."""
    import lvc

    blob = lvc.encode(_photo(), codec, quality)
    here = hashlib.sha256(lvc.decode(blob).tobytes()).hexdigest()
    path = tmp_path / "x.lvc"
    path.write_bytes(blob)
    out = subprocess.run([sys.executable, "-c", _DECODE, str(path)], env=dict(os.environ),
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [here, here]
    from lvc.formats.container import read_header

    assert read_header(blob).codec == codec


def test_realism_blends_towards_the_explicit_reconstruction(use_model, tmp_path):
    import lvc
    from lvc.codecs.diffusion.explicit import decode_explicit
    from lvc.formats.container import read_header, unpack

    from cli_helpers import assert_user_error, ok, run

    x = _photo()
    generated = lvc.decode(lvc.encode(x, "dualdiff", 2)).astype(float)
    safe_blob = lvc.encode(x, "dualdiff", 2, options={"realism": 0.0})
    half = lvc.decode(lvc.encode(x, "dualdiff", 2, options={"realism": 0.5})).astype(float)
    assert read_header(safe_blob).metadata["realism"] == 0.0
    explicit = decode_explicit(unpack(safe_blob)[1][0], x.shape).astype(float)
    assert np.array_equal(lvc.decode(safe_blob), explicit.astype(np.uint8))
    assert np.abs(half - (generated + explicit) / 2).max() <= 1.0
    with pytest.raises(LVCError, match="realism"):
        lvc.encode(x, "dualdiff", 2, options={"realism": 1.5})
    with pytest.raises(LVCError, match="no option"):
        lvc.encode(x, "jpeg", 50, options={"realism": 0.5})
    from PIL import Image

    Image.fromarray(x).save(tmp_path / "x.png")
    ok(run("encode", tmp_path / "x.png", "-o", tmp_path / "x.lvc", "-c", "dualdiff", "-q", 2,
           "--set", "realism=0.25"))
    assert read_header((tmp_path / "x.lvc").read_bytes()).metadata["realism"] == 0.25
    assert_user_error(run("encode", tmp_path / "x.png", "-o", tmp_path / "y.lvc", "-c", "webp",
                          "--set", "realism=1"), 2)
    assert not (tmp_path / "y.lvc").exists()


def test_another_model_refuses_the_file(use_model, tmp_path, monkeypatch):
    import torch

    import lvc
    from lvc.codecs import registry
    from lvc.codecs.diffusion import weights

    blob = lvc.encode(_photo(), "dualdiff-implicit", 1)
    torch.manual_seed(1)
    other = diffusers.UNet2DModel(
        in_channels=6, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4)
    other.save_pretrained(str(tmp_path / "other"))
    monkeypatch.setenv(weights.MODEL_ENV, str(tmp_path / "other"))
    weights._CACHE.clear()
    registry.get_codec.cache_clear()
    with pytest.raises(LVCError, match="weights|model|fingerprint"):
        lvc.decode(blob)


def test_large_images_are_denoised_in_tiles(use_model, monkeypatch):
    import lvc
    from lvc.codecs.diffusion import model as unet

    x = _photo(40, 72)
    whole = lvc.decode(lvc.encode(x, "dualdiff-implicit", 1))
    monkeypatch.setattr(unet, "TILE", 32)
    monkeypatch.setattr(unet, "MARGIN", 8)
    blob = lvc.encode(x, "dualdiff-implicit", 1)
    tiled = lvc.decode(blob)
    assert tiled.shape == whole.shape == x.shape
    assert np.array_equal(tiled, lvc.decode(blob))  # tiling is part of the deterministic path
    assert unet._boxes(70) == [(0, 32), (32, 64), (64, 70)] and unet._boxes(20) == [(0, 20)]


@pytest.mark.parametrize("channels", [2, 4])
def test_alpha_travels_losslessly(use_model, channels):
    import lvc

    x = np.random.default_rng(channels).integers(0, 256, (20, 24, channels), dtype=np.uint8)
    y = lvc.decode(lvc.encode(x, "dualdiff", 2))
    assert y.shape == x.shape and np.array_equal(y[..., -1], x[..., -1])


def test_train_resume_and_export_through_the_cli(tmp_path, monkeypatch, capsys):
    """A tiny run trains, resumes where it stopped, and ``export`` installs weights the
    codec loads (sha256 checked through the manifest)."""
    from PIL import Image

    from lvc.codecs.diffusion import train, weights
    from lvc.codecs.diffusion.explicit import LEVELS
    from lvc.train.checkpoint import checkpoint_meta

    data = tmp_path / "data"
    for sub in ["orig"] + [f"L{i}" for i in range(len(LEVELS))]:
        (data / sub).mkdir(parents=True)
        Image.fromarray(_photo(72, 80)).save(data / sub / "a.png")
    tiny = {"width": 8, "mults": [1, 2], "blocks": 1, "time_dim": 16}
    ckpt = train.train(data, tmp_path / "run", steps=2, batch_size=2, config=tiny)
    assert checkpoint_meta(ckpt)["step"] == 2
    train.train(data, tmp_path / "run", steps=3, batch_size=2, config=tiny)
    assert "resumed at step 2" in capsys.readouterr().out
    monkeypatch.setenv("LVC_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.delenv(weights.MODEL_ENV, raising=False)
    weights._CACHE.clear()
    train.main(["export", str(ckpt)])
    assert "exported dualdiff.safetensors (3 steps" in capsys.readouterr().out
    model, fingerprint = weights.load_denoiser()
    assert len(fingerprint) > 0
    weights._CACHE.clear()
