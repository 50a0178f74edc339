"""ISCS channel analysis: layer discovery on every supported network, statistics,
deterministic order and partition, and the measured importance it is checked against."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from cli_helpers import assert_user_error, ok, run
from lvc.eval.channel_importance import psnr_drop, spearman
from lvc.codecs.iscs.layers import find_latent_layers
from lvc.codecs.iscs.stats import analyze, channel_statistics

pytest.importorskip("compressai")


def _toy(channels=8):
    """A linear codec whose synthesis gain per channel is known: every latent channel
    carries the same signal and channel c's decoder weights are scaled by c + 1, so
    both the statistics and the measured importance must rank channels by index."""
    torch.manual_seed(0)
    g_a = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, channels, 1))
    g_s = nn.Sequential(nn.Conv2d(channels, channels, 1, groups=channels),  # depthwise: skipped
                        nn.Conv2d(channels, 3, 1))
    with torch.no_grad():
        g_a[1].weight.copy_(g_a[1].weight[:1].expand(channels, -1, -1, -1))
        g_s[0].weight.fill_(1.0)
        g_s[0].bias.zero_()
        gain = torch.arange(1, channels + 1) / channels
        g_s[1].weight.copy_((torch.tensor([[1.0], [-0.5], [0.2]]) * gain)[..., None, None])
        g_s[1].bias.fill_(0.5)
    return g_a, g_s


def test_layers_are_found_in_every_supported_network():
    from compressai.models import MeanScaleHyperprior

    from lvc.codecs.liveaction.model import LiVeAction, LiVeActionConfig
    from lvc.codecs.mlicv2.model import MLICv2, MLICv2Config

    msh = MeanScaleHyperprior(32, 48)
    found = find_latent_layers(msh.g_a, msh.g_s, 48)
    assert found.synthesis_weight.shape == (48, 32 * 25) and found.analysis_bias.shape == (48,)
    for cfg in (MLICv2Config.tiny(), MLICv2Config.base(N=96, M=160, slices=5)):
        m = MLICv2(cfg)
        found = find_latent_layers(m.g_a, m.g_s, 160)
        assert found.analysis_weight.shape[0] == 160 and found.synthesis_weight.shape[0] == 160
        assert found.synthesis_name == ("0.fc_in" if cfg.token_mixer else "0.conv1")
    la = LiVeAction(LiVeActionConfig(projection="dense"))  # as shipped
    found = find_latent_layers(la.encoder, la.decoder, la.config.latent_channels)
    assert (found.analysis_name, found.synthesis_name) == ("proj", "proj_in")


def test_order_is_deterministic_and_partition_covers_every_channel():
    g_a, g_s = _toy(40)
    layers = find_latent_layers(g_a, g_s, 40)
    a, b = analyze(layers, group=8), analyze(find_latent_layers(g_a, g_s, 40), group=8)
    assert a.order == b.order and sorted(a.order) == list(range(40))
    assert a.core + [c for g in a.groups for c in g] == a.order
    assert len(a.core) % 8 == 0 and all(len(g) <= 8 for g in a.groups)
    table = json.loads(a.dumps())
    assert table["channels"] == 40 and len(table["per_channel"]) == 40
    assert set(table["per_channel"][0]) >= {"channel", "score", "synthesis_var", "redundancy"}


def test_statistics_and_measured_importance_agree_on_a_known_model():
    g_a, g_s = _toy(8)
    stats = channel_statistics(find_latent_layers(g_a, g_s, 8))
    assert np.argsort(stats["synthesis_var"]).tolist() == list(range(8))
    images = [torch.rand(1, 3, 16, 16) for _ in range(2)]
    with torch.no_grad():
        drops = psnr_drop(lambda x: g_a(x), lambda y: g_s(y), images, batch=3)
    assert drops.shape == (8,) and (drops >= -1e-9).all()
    assert spearman(stats["synthesis_var"], drops) > 0.9


def test_analyze_cli_writes_a_table_and_measures(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("LVC_MLICV2_RANDOM", "1")
    data = tmp_path / "imgs"
    data.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(
        data / "a.png")
    out = tmp_path / "t.json"
    result = ok(run("iscs", "analyze", "mbt2018-mean-tiny:1", "-o", out, "--measure", data,
                    "--crop", "64"))
    assert "Spearman" in result.stdout and "iscs_score" in result.stdout
    table = json.loads(out.read_text())
    assert table["channels"] == 160 and table["measured"]["images"] == 1
    assert_user_error(run("iscs", "analyze", "mbt2018-mean-tiny:1", "-o", out), 4)
    assert_user_error(run("iscs", "analyze", "webp"), 2)
    assert_user_error(run("iscs", "analyze", "mbt2018-mean-tiny:9"), 2)


@pytest.mark.parametrize("arch", ["mean-scale", "mlicv2-tiny", "mlicv2-tiny-base"])
def test_permuted_model_computes_the_same_thing_in_the_new_order(arch):
    """g_a gives P y, g_s(P y) == g_s(y), h_a(P y) == h_a(y) and (mean-scale) the
    hyper-synthesis predicts permuted scales and means: an exact reparametrisation."""
    import copy

    from compressai.models import MeanScaleHyperprior

    from lvc.codecs.iscs.permute import permute_latent_channels
    from lvc.codecs.mlicv2.model import MLICv2, MLICv2Config

    torch.manual_seed(0)
    model = {"mean-scale": lambda: MeanScaleHyperprior(16, 24),
             "mlicv2-tiny": lambda: MLICv2(MLICv2Config.tiny(N=32, M=40)),
             "mlicv2-tiny-base": lambda: MLICv2(MLICv2Config.base(N=32, M=40, slices=5))}[arch]()
    model.eval()
    channels = model.g_a[-1].out_channels
    order = torch.randperm(channels)
    new = permute_latent_channels(copy.deepcopy(model), order)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        y = model.g_a(x)
        assert torch.allclose(new.g_a(x), y[:, order], atol=1e-5)
        assert torch.allclose(new.g_s(y[:, order]), model.g_s(y), atol=1e-4)
        z = model.h_a(y)
        assert torch.allclose(new.h_a(y[:, order]), z, atol=1e-4)
        if arch == "mean-scale":
            scales, means = model.h_s(z).chunk(2, 1)
            new_scales, new_means = new.h_s(z).chunk(2, 1)
            assert torch.allclose(new_scales, scales[:, order], atol=1e-5)
            assert torch.allclose(new_means, means[:, order], atol=1e-5)
    with pytest.raises(Exception, match="not a permutation"):
        permute_latent_channels(copy.deepcopy(model), [0] * channels)
