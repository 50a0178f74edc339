"""MLICv2 network (issue 6, in progress): size of the full config, every v2 addition
switchable, training forward/backward on the tiny config."""

import dataclasses

import pytest
import torch

from lvc.codecs.mlicv2.model import MLICv2, MLICv2Config, anchor_mask, parameter_count, rope_2d

SWITCHES = {"token_mixer": False, "hyper_global": False, "reweight": False, "rope": False,
            "selective": 0.0}


def test_full_config_is_the_published_size():
    """Acceptance 1: within 10% of MLICv2's reported ~84 M parameters."""
    count = parameter_count(MLICv2(MLICv2Config.full()))
    assert abs(count - 84e6) <= 0.1 * 84e6, count


@pytest.mark.parametrize("off", [None, *SWITCHES, "all"])
def test_each_addition_can_be_switched_off_and_the_model_trains(off):
    torch.manual_seed(0)
    cfg = MLICv2Config.tiny(selective=0.05)
    if off == "all":
        cfg = MLICv2Config.base(N=96, M=160, slices=5, context_width=0.5)
    elif off:
        cfg = dataclasses.replace(cfg, **{off: SWITCHES[off]})
    model = MLICv2(cfg)
    x = torch.rand(2, 3, 64, 64)
    out = model(x)
    assert out["x_hat"].shape == x.shape
    y, z = out["likelihoods"]["y"], out["likelihoods"]["z"]
    assert y.shape == (2, cfg.M, 4, 4) and z.shape == (2, cfg.N, 1, 1)
    assert ((y > 0) & (y <= 1)).all()
    loss = (out["x_hat"] - x).square().mean() - (y.log2().sum() + z.log2().sum()) / x.numel()
    loss.backward()
    grads = [p.grad for p in model.g_a.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_rope_is_a_rotation_and_depends_on_position():
    x = torch.randn(1, 8, 5, 6)
    r = rope_2d(x)
    assert torch.allclose(r.square().sum(1), x.square().sum(1), atol=1e-5)  # norms kept
    same = torch.ones(1, 8, 5, 6)
    assert not torch.allclose(rope_2d(same)[..., 0, 0], rope_2d(same)[..., 3, 4])


def test_checkerboard_anchors_are_half_the_positions():
    m = anchor_mask(4, 6)
    assert m.sum() == 12 and m[0, 0, 0, 0] == 1 and m[0, 0, 0, 1] == 0


@pytest.mark.parametrize("name", ["mlicv2-tiny", "hyperprior"])
def test_training_runs_logs_and_resumes(name, tmp_path):
    """Both models of the equal-budget comparison train through the same script, which
    checkpoints (weights and both optimisers) and resumes where it stopped."""
    import json

    import numpy as np
    from PIL import Image

    from lvc.codecs.mlicv2.train import main

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)).save(data / f"{i}.png")
    args = ["--model", name, "--data", str(data), "--crop", "64", "--batch", "2",
            "--checkpoint-every", "1", "--log-every", "1", "--save-optimizer",
            "--out", str(tmp_path / "run")]
    assert main(args + ["--steps", "2"]) == 0
    assert main(args + ["--steps", "3"]) == 0  # resumes at step 2
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2]  # the shared loop logs the step's index
    assert all(np.isfinite([r["loss"], r["bpp"], r["psnr"]]).all() for r in rows)


CODE = """
import sys, torch
from lvc.codecs.mlicv2.model import MLICv2, MLICv2Config
from lvc.codecs.mlicv2.coding import prepare, code_latents
from lvc.codecs.torch_utils import single_thread, stable_cpu
from lvc.entropy import Encoder, Decoder
torch.set_num_threads(int(sys.argv[2]))
torch.manual_seed(0)
model = MLICv2(MLICv2Config.tiny(selective=float(sys.argv[3]))).eval()
with torch.no_grad():
    for p in model.g_a.parameters():
        p.mul_(3)  # latents well above the quantisation step, so most symbols are non-zero
tables = prepare(model)
with stable_cpu(), single_thread():
    if sys.argv[1] == "encode":
        enc = Encoder()
        y_hat = code_latents(model, tables, enc, x=torch.rand(1, 3, 128, 64))
        data = enc.finish()
    else:
        data = open(sys.argv[4], "rb").read()
        dec = Decoder(data)
        y_hat = code_latents(model, tables, dec, size=(8, 4))
        dec.finish()
torch.save({"y_hat": y_hat, "data": data}, sys.argv[5])
"""


@pytest.mark.parametrize("selective", [0.0, 0.3])
def test_bitstream_decodes_identically_in_another_process_and_thread_count(selective, tmp_path):
    """Real entropy coding of slices and checkerboard passes: a stream written with 2
    threads decodes in another process with 1 thread to the encoder's latent, bit for
    bit (selective compression on and off)."""
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(CODE)
    enc_out, dec_out = tmp_path / "enc.pt", tmp_path / "dec.pt"
    subprocess.run([sys.executable, str(script), "encode", "2", str(selective), "-", str(enc_out)],
                   check=True)
    stream = tmp_path / "stream.bin"
    encoded = torch.load(enc_out, weights_only=True)
    stream.write_bytes(encoded["data"])
    subprocess.run([sys.executable, str(script), "decode", "1", str(selective), str(stream),
                    str(dec_out)], check=True)
    decoded = torch.load(dec_out, weights_only=True)
    assert torch.equal(decoded["y_hat"], encoded["y_hat"])
    assert len(encoded["data"]) > 100


def test_sga_refinement_lowers_the_rd_cost_and_still_codes():
    """MLICv2+: SGA on one image lowers its hard-rounded RD cost; the refined latent is
    coded and decoded like any other (decoding unchanged)."""
    from lvc.codecs.mlicv2.coding import code_latents, prepare
    from lvc.codecs.mlicv2.sga import rd_cost, refine, sga_round
    from lvc.codecs.torch_utils import single_thread, stable_cpu
    from lvc.entropy import Decoder, Encoder

    torch.manual_seed(0)
    model = MLICv2(MLICv2Config.tiny()).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = float(rd_cost(model, x, 0.01))
    y = refine(model, x, iterations=30, lmbda=0.01, lr=0.05)
    with torch.no_grad():
        after = float(rd_cost(model, x, 0.01, y))
    assert after < before
    v = torch.linspace(-2, 2, 101)
    soft = sga_round(v, 0.01)
    assert ((soft - torch.floor(v)) >= 0).all() and ((soft - torch.floor(v)) <= 1).all()
    tables = prepare(model)
    with stable_cpu(), single_thread():
        enc = Encoder()
        y_hat = code_latents(model, tables, enc, x=x, y=y)
        dec = Decoder(enc.finish())
        assert torch.equal(code_latents(model, tables, dec, size=y.shape[-2:]), y_hat)
        dec.finish()


def test_codec_round_trips_through_the_cli_with_random_weights(tmp_path, monkeypatch):
    """``mlicv2-tiny`` as an lvc codec (random weights): codec encode/decode of RGB,
    gray and RGBA; unavailable, with one clear line, where no weights are installed."""
    import numpy as np
    from PIL import Image

    from cli_helpers import ok, run
    from lvc.codecs.mlicv2 import weights as mweights

    monkeypatch.setenv("LVC_MLICV2_RANDOM", "1")
    rng = np.random.default_rng(0)
    for mode, shape in (("RGB", (40, 70, 3)), ("L", (33, 20)), ("RGBA", (24, 24, 4))):
        src = tmp_path / f"{mode}.png"
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(src)
        ok(run("encode", src, "-o", tmp_path / f"{mode}.lvc", "-c", "mlicv2-tiny", "-q", "1"))
        ok(run("decode", tmp_path / f"{mode}.lvc", "-o", tmp_path / f"{mode}.out.png"))
        back = np.asarray(Image.open(tmp_path / f"{mode}.out.png"))
        assert back.shape == shape
        if mode == "RGBA":
            assert np.array_equal(back[..., 3], np.asarray(Image.open(src))[..., 3])
    monkeypatch.delenv("LVC_MLICV2_RANDOM")
    monkeypatch.setenv("LVC_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    mweights.clear_cache()
    result = run("encode", tmp_path / "RGB.png", "-o", tmp_path / "x.lvc", "-c", "mlicv2-tiny")
    assert result.exit_code != 0 and "no trained mlicv2-tiny weights" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "x.lvc").exists()


def test_refine_option_through_the_cli(tmp_path, monkeypatch):
    """``codec encode --refine N`` runs SGA for mlicv2-tiny (recorded in the header,
    decoding unchanged) and is a clear one-line error for codecs without it."""
    import json

    import numpy as np
    from PIL import Image

    from cli_helpers import assert_user_error, ok, run

    monkeypatch.setenv("LVC_MLICV2_RANDOM", "1")
    src = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(src)
    line = ok(run("encode", src, "-o", tmp_path / "a.lvc", "-c", "mlicv2-tiny", "--refine", "3"))
    assert "refined: 3 SGA iterations, encode" in line.stdout
    info = json.loads(ok(run("info", tmp_path / "a.lvc", "--json")).stdout)
    assert info["metadata"] == {"refine": 3}
    ok(run("decode", tmp_path / "a.lvc", "-o", tmp_path / "a.out.png"))
    assert np.asarray(Image.open(tmp_path / "a.out.png")).shape == (32, 48, 3)
    assert_user_error(run("encode", src, "-o", tmp_path / "b.lvc", "-c", "webp", "--refine", "2"), 2)
    assert not (tmp_path / "b.lvc").exists()
