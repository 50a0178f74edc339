"""LiVeAction architecture: wavelet packet transform, companding, Monarch pointwise
convolutions, quantiser, encoder/decoder shapes, loss and complexity. Small shapes only."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from lvc.codecs.liveaction.model import (LaplaceQuantizer, LiVeAction, LiVeActionConfig, MBConv,
                                         MonarchLinear, complexity, liveaction_loss)
from lvc.codecs.liveaction.wpt import compand, decompand, dwt1d, idwt1d, iwpt, wpt
from lvc.errors import BadInputError, ModelMismatchError

# PyWavelets' bior4.4 analysis filters (without their zero padding): the low pass is
# centred on even samples, the high pass on odd samples.
BIOR44_DEC_LO = [0.03782845550726404, -0.023849465019556843, -0.11062440441843718,
                 0.37740285561283066, 0.8526986790088938, 0.37740285561283066,
                 -0.11062440441843718, -0.023849465019556843, 0.03782845550726404]
BIOR44_DEC_HI = [-0.06453888262869706, 0.04068941760916406, 0.41809227322161724,
                 -0.7884856164055829, 0.41809227322161724, 0.04068941760916406,
                 -0.06453888262869706]

SMALL = LiVeActionConfig(levels=2, latent_channels=4, encoder_blocks=1, decoder_blocks=1,
                         decoder_width=64, mbconv_expansion=2)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("shape,levels", [
    ((2, 3, 64), 1), ((1, 2, 128), 5),                       # 1-D
    ((2, 3, 32, 48), 1), ((1, 3, 64, 32), 3), ((1, 1, 16, 16), 4),
    ((1, 2, 8, 16, 8), 1), ((1, 1, 8, 8, 16), 2),           # 3-D
])
def test_wpt_perfect_reconstruction_and_shapes(shape, levels):
    x = torch.rand(shape, dtype=torch.float64) * 2 - 1
    y = wpt(x, levels)
    ndim = len(shape) - 2
    f = 2 ** levels
    assert y.shape == (shape[0], shape[1] * 2 ** (ndim * levels), *(s // f for s in shape[2:]))
    assert (iwpt(y, levels) - x).abs().max() < 1e-10
    x32 = x.float()
    assert (iwpt(wpt(x32, levels), levels) - x32).abs().max() < 1e-4
    # near-orthogonal: the energy changes by a few percent per level
    ratio = y.square().sum() / x.square().sum()
    assert 0.8 ** levels < ratio < 1.2 ** levels


def test_dwt1d_is_bior44_with_periodic_boundary():
    n = 32
    lows, highs = dwt1d(torch.eye(n, dtype=torch.float64))        # row i: impulse at i
    # analysis matrix: lows[i, k] = response of low band k to an impulse at sample i
    f64 = torch.float64
    assert torch.allclose(lows[12:21, 8], torch.tensor(BIOR44_DEC_LO, dtype=f64), atol=1e-9)
    assert torch.allclose(highs[14:21, 8], torch.tensor(BIOR44_DEC_HI, dtype=f64), atol=1e-9)
    assert lows[:, 8].sum().item() == pytest.approx(2 ** 0.5, abs=1e-12)
    # periodic: band 0 draws on the last samples
    assert torch.allclose(lows[[28, 29, 30, 31], 0], lows[[12, 13, 14, 15], 8])
    x = torch.randn(3, 5, 20, dtype=torch.float64)
    for dim in (0, 2, -1):
        if x.shape[dim] % 2 == 0:
            assert torch.allclose(idwt1d(*dwt1d(x, dim), dim), x, atol=1e-12)


def test_wpt_channel_order():
    # constant image: only the pure low-pass channel c * 4^J of each input channel is non-zero
    x = torch.ones(1, 2, 16, 16, dtype=torch.float64) * torch.tensor([0.5, -0.25]).view(1, 2, 1, 1)
    y = wpt(x, 2)
    energy = y.square().sum(dim=(0, 2, 3))
    assert set(torch.nonzero(energy > 1e-20).flatten().tolist()) == {0, 16}
    # varying along W only: level-1 band b = 2*b_W + b_H, so bands 0 and 2 carry it
    ramp = torch.sin(torch.arange(16.0, dtype=torch.float64) * 2.0).expand(1, 1, 16, 16)
    energy = wpt(ramp, 1).square().sum(dim=(0, 2, 3))
    assert energy[1] < 1e-20 and energy[3] < 1e-20 and energy[2] > 1e-3
    # channels are transformed independently, input channel outermost
    a, b = torch.randn(2, 1, 1, 8, 8, dtype=torch.float64)
    assert torch.equal(wpt(torch.cat([a, b], 1), 1), torch.cat([wpt(a, 1), wpt(b, 1)], 1))


def test_wpt_rejects_bad_sizes():
    with pytest.raises(ValueError):
        wpt(torch.zeros(1, 3, 24, 32), 4)
    with pytest.raises(ValueError):
        iwpt(torch.zeros(1, 10, 4, 4), 1)


def test_wpt_gradients_are_adjoints():
    x = torch.randn(1, 2, 8, 16, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: wpt(t, 2), (x,))
    y = torch.randn(1, 32, 2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: iwpt(t, 2), (y,))
    s = torch.randn(1, 8, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: iwpt(t, 3), (s,))


def test_compand_inverse():
    x = torch.linspace(-40, 40, 2001, dtype=torch.float64)
    assert (decompand(compand(x)) - x).abs().max() < 1e-10
    assert compand(torch.tensor(0.0)) == 0
    assert torch.all(compand(x[1:]) > compand(x[:-1]))              # monotone
    assert compand(torch.tensor(1.0)).item() == pytest.approx(12.8 * (1.1 ** 0.4 - 0.1 ** 0.4))


@pytest.mark.parametrize("cin,cout,bias,spatial", [
    (768, 768, False, (3, 5)), (768, 12, False, (4, 4)), (12, 768, False, (2, 3)),
    (768, 192, True, (1, 1)), (192, 768, True, (7,)), (48, 48, True, (2, 2, 2)),
])
def test_monarch_equals_dense_matrix(cin, cout, bias, spatial):
    layer = MonarchLinear(cin, cout, bias=bias).double()
    g1, g2 = layer.groups
    assert g1 * g2 == cin and cout % g2 == 0
    weight, b = layer.to_dense()
    assert weight.shape == (cout, cin)
    x = torch.randn(2, cin, *spatial, dtype=torch.float64)
    expected = torch.einsum("oi,ni...->no...", weight, x)
    if bias:
        expected = expected + b.view(1, -1, *[1] * len(spatial))
    assert torch.allclose(layer(x), expected, atol=1e-10)
    params = sum(p.numel() for p in layer.parameters())
    assert params == layer.macs_per_position() + (cin + cout) * bias


def test_monarch_factorisation_is_sparse():
    layer = MonarchLinear(768, 768)
    assert layer.groups in ((24, 32), (32, 24))
    assert sum(p.numel() for p in layer.parameters()) == 768 * 32 + 768 * 24   # O(C^1.5)
    with pytest.raises(ValueError):
        MonarchLinear(12, 10, groups=3)


def test_model_shapes_with_padding_and_cropping():
    model = LiVeAction(SMALL).eval()
    x = torch.rand(2, 3, 37, 45) * 2 - 1
    with torch.no_grad():
        z = model.encode(x)
        assert z.shape == (2, 4, 10, 12) and model.latent_size(37, 45) == (10, 12)
        q = model.quantize(z)
        x_hat = model.decode(q, (37, 45))
        assert x_hat.shape == x.shape
        assert x_hat.abs().max() <= 1
        assert model.decode(q).shape == (2, 3, 40, 48)                   # padded size
    tiny = torch.rand(1, 3, 3, 2) * 2 - 1                                 # smaller than F
    assert model(tiny)["x_hat"].shape == tiny.shape
    with pytest.raises(BadInputError):
        model.encode(torch.zeros(1, 4, 8, 8))


def test_model_other_dimensions():
    cfg = LiVeActionConfig(ndim=1, in_channels=2, levels=3, latent_channels=4, encoder_blocks=1,
                           decoder_blocks=1, decoder_width=32, mbconv_expansion=2)
    model = LiVeAction(cfg)
    x = torch.rand(2, 2, 50) * 2 - 1
    out = model(x)
    assert out["x_hat"].shape == x.shape and out["latent_noisy"].shape == (2, 4, 7)


def test_quantizer_training_noise_and_int8_inference():
    quant = LaplaceQuantizer(4)
    z = torch.randn(3, 4, 5, 6) * 100
    z[0, 0, 0, :2] = torch.tensor([1e6, -1e6])
    q = quant.compand(z)
    assert q.abs().max() <= 127
    s = quant.scale.view(1, -1, 1, 1)
    laplace_cdf = 0.5 + 0.5 * z.sign() * (1 - torch.exp(-z.abs() / s))
    assert torch.allclose(q, 254 * laplace_cdf - 127, atol=1e-4)
    noisy = quant(z, training=True)
    assert noisy.dtype == torch.float32 and 0 < (noisy - q).abs().max() <= 0.5
    assert (noisy - q).std() > 0.2                                     # U(-1/2, 1/2) noise
    hard = quant(z, training=False)
    assert hard.dtype == torch.int8 and hard.min() >= -127 and hard.max() <= 127
    assert hard[0, 0, 0, 0] == 127 and hard[0, 0, 0, 1] == -127
    assert torch.equal(quant.dequantize(hard), q.round())
    quant.eval()
    assert quant(z).dtype == torch.int8


def test_loss_finite_and_differentiable():
    model = LiVeAction(SMALL).train()
    x = torch.rand(2, 3, 16, 24) * 2 - 1
    out = model(x)
    assert set(out) == {"x_hat", "latent_noisy", "latent_companded"}
    loss = liveaction_loss(x, out["x_hat"], out["latent_companded"], lam=0.03)
    assert torch.isfinite(loss)
    mse, std = ((x - out["x_hat"]) ** 2).mean(), out["latent_companded"].std()
    expected = torch.log10(mse) + 0.03 * torch.log2(std)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    for part in (model.encoder, model.decoder, model.quantizer):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.quantizer.log_scale.grad.abs().sum() > 0


def test_mbconv_inference_chunks_match_training_path():
    block = MBConv(SMALL)
    x = torch.randn(2, 64, 5, 6)
    with torch.no_grad():
        chunked = block(x)
    assert torch.allclose(chunked, block(x), atol=1e-5)


def test_config_round_trip():
    cfg = LiVeActionConfig(latent_channels=48, decoder_blocks=2)
    assert LiVeActionConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.factor == 16 and cfg.hidden_width == 768 and cfg.width == 768
    with pytest.raises(ModelMismatchError):
        LiVeActionConfig.from_dict({**cfg.to_dict(), "future_field": 1})
    with pytest.raises(ValueError):
        LiVeActionConfig(decoder_width=100)


def test_complexity_default_config():
    model = LiVeAction()
    stats = complexity(model, 512, 768)
    print(f"\nLiVeAction F16C12 at 768x512: encoder {stats['encoder_params'] / 1e6:.3f} M params, "
          f"{stats['encoder_macs_per_pixel'] / 1e3:.2f} kMAC/px; decoder "
          f"{stats['decoder_params'] / 1e6:.2f} M params, "
          f"{stats['decoder_macs_per_pixel'] / 1e3:.1f} kMAC/px")
    assert 0.2e6 <= stats["encoder_params"] <= 1.5e6
    assert stats["encoder_macs_per_pixel"] < 10e3
    assert stats["decoder_params"] > 10 * stats["encoder_params"]
    assert stats["decoder_macs_per_pixel"] > 10 * stats["encoder_macs_per_pixel"]
    assert stats["latent_shape"] == (12, 32, 48) and stats["quantizer_params"] == 12
    # padding is counted: a size just above a multiple of F costs more per pixel
    assert (complexity(model, 513, 768)["encoder_macs_per_pixel"]
            > stats["encoder_macs_per_pixel"])


def test_package_import_does_not_import_torch():
    code = "import sys, lvc.codecs.liveaction; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_loss_floor_bounds_the_rate_term():
    x = torch.zeros(1, 3, 8, 8)
    tiny, wide = torch.randn(1, 4, 4, 4) * 1e-4, torch.randn(1, 4, 4, 4) * 1e3
    unbounded = liveaction_loss(x, x + 0.1, tiny)
    floored = liveaction_loss(x, x + 0.1, tiny, floor=1.0)
    assert unbounded < floored                       # log2(1e-4) is far below 0
    assert floored.item() == pytest.approx(torch.log10(torch.tensor(0.01)).item(), abs=1e-4)
    # far above the floor both agree (same gradient, same value)
    assert liveaction_loss(x, x + 0.1, wide, floor=1.0).item() == pytest.approx(
        liveaction_loss(x, x + 0.1, wide).item(), abs=1e-6)


def test_dense_projection_config_and_complexity():
    cfg = LiVeActionConfig(levels=2, latent_channels=8, encoder_blocks=1, decoder_blocks=1,
                           decoder_width=64, mbconv_expansion=2, projection="dense")
    model = LiVeAction(cfg)
    assert model.encoder.proj.weight.shape == (8, 48)
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert model(x)["x_hat"].shape == x.shape
    dense = complexity(model, 16, 16)["encoder_macs_per_pixel"]
    monarch = complexity(LiVeAction(LiVeActionConfig(**{**cfg.to_dict(), "projection": "monarch"})),
                         16, 16)["encoder_macs_per_pixel"]
    assert dense - monarch == pytest.approx(
        (48 * 8 - MonarchLinear(48, 8).macs_per_position()) / 16)   # one latent per 4x4 px
    with pytest.raises(ValueError):
        LiVeActionConfig(projection="sparse")


def test_pca_warm_start_is_a_transform_code():
    """After the warm start the untrained model codes like a KLT: keeping every component
    reconstructs almost exactly, and fewer components lose energy in order."""
    from lvc.codecs.liveaction.warmstart import pca_init

    cfg = LiVeActionConfig(levels=1, latent_channels=12, encoder_blocks=1, decoder_blocks=1,
                           decoder_width=16, mbconv_expansion=2, projection="dense",
                           norm_groups=4, attention_head_dim=8)
    model = LiVeAction(cfg).eval()
    smooth = torch.nn.functional.avg_pool2d(torch.rand(8, 3, 36, 36) * 2 - 1, 5, 1) * 0.5
    eigenvalues = pca_init(model, [smooth[:4], smooth[4:]], step=1.0)
    assert torch.all(eigenvalues[:-1] >= eigenvalues[1:])
    with torch.no_grad():
        q = model.quantizer.compand(model.encode(smooth))
        errors = []
        for k in (12, 6, 2):
            kept = torch.cat([q[:, :k], torch.zeros_like(q[:, k:])], 1)
            errors.append(float(((model.decode(kept, clamp=False) - smooth) ** 2).mean()))
    assert errors[0] < 1e-4 and errors[0] < errors[1] < errors[2]
    for block in model.decoder.blocks:                 # residual branches start at zero
        assert torch.all(block.attention.norm.weight == 0)


def test_info_prints_encoder_and_decoder_apart(capsys):
    from lvc.codecs.liveaction.info import main

    c = main(["--paper", "--height", "64", "--width", "96"])
    out = capsys.readouterr().out
    assert "encoder:" in out and "decoder:" in out and "kMAC/pixel" in out
    assert 0.4e6 < c["encoder_params"] < 0.6e6 < c["decoder_params"]   # the paper's asymmetry
