"""The shared training loop: LiVeAction loss parity with the trainer it replaced, 2-rank
gloo data parallel through torchrun, weights-only float16 checkpoints, schedules over a
time budget, device crops, bf16, and every codec trainer running on it."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lvc.samples import sample_image
from lvc.train.checkpoint import JsonlLog, checkpoint_meta

torch = pytest.importorskip("torch")

GOLDEN = Path(__file__).parent / "golden" / "liveaction_train_losses.json"
TINY = dict(levels=2, latent_channels=4, decoder_width=32, decoder_blocks=1, mbconv_expansion=2)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "images"
    d.mkdir()
    for i in range(3):
        Image.fromarray(sample_image(80, 72, seed=i)).save(d / f"{i}.png")
    return d


def test_liveaction_losses_match_the_trainer_before_the_shared_loop(folder, tmp_path):
    """Same seed, same first 20 losses (PCA warm start, level draws, noise, the switch to
    decoder-only at step 14) as the trainer that predates ``lvc.train.loop``."""
    from lvc.codecs.liveaction.train import train

    train(tmp_path / "run", steps=20, batch_size=2, crop=32, data=[str(folder)], config=TINY,
          rate_levels=((2, 1.0), (4, 1.0)), threads=1, joint_fraction=0.7, lr=5e-3,
          log_every=1)
    losses = [r["loss"] for r in JsonlLog(tmp_path / "run" / "log.jsonl").read()]
    golden = json.loads(GOLDEN.read_text())["losses"]
    assert len(losses) == 20
    np.testing.assert_allclose(losses, golden, rtol=1e-5, atol=1e-6)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_with_gloo_end_identical_and_learn(folder, tmp_path):
    out = tmp_path / "ddp"
    config = dict(TINY, projection="monarch")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node",
           "2", "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           "-m", "lvc.train", "liveaction", "--data", str(folder), "--config", json.dumps(config),
           "--levels", "4:1", "--crop", "32", "--batch-size", "2", "--steps", "40", "--lr",
           "1e-2", "--warmup", "1", "--joint-fraction", "1", "--threads", "1", "--log-every",
           "1", "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = JsonlLog(out / "log.jsonl").read()
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 40                       # only rank 0 logs, once per step
    assert rows[-1] == {"step": 40, "replicas_identical": True}
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.05, losses
    meta = checkpoint_meta(out / "checkpoint.safetensors")
    assert meta["world_size"] == 2 and meta["replicas_identical"] and meta["step"] == 40


def test_checkpoints_are_weights_only_float16_unless_asked(folder, tmp_path, capsys):
    from safetensors import safe_open

    from lvc.codecs.liveaction.train import train

    kw = dict(batch_size=2, crop=32, data=[str(folder)], config=TINY,
              rate_levels=((4, 1.0),), threads=1)
    train(tmp_path / "a", steps=2, **kw)
    with safe_open(str(tmp_path / "a" / "checkpoint.safetensors"), "pt") as f:
        keys = list(f.keys())
        assert all(k.startswith("model.") for k in keys)
        assert {f.get_tensor(k).dtype for k in keys} <= {torch.float16, torch.int64, torch.long}
    capsys.readouterr()
    train(tmp_path / "a", steps=3, **kw)
    out = capsys.readouterr().out
    assert "resumed at step 2" in out and "fresh optimiser state" in out
    assert checkpoint_meta(tmp_path / "a" / "checkpoint.safetensors")["step"] == 3


def test_save_optimizer_keeps_adam_state_and_resumes_exactly(folder, tmp_path, capsys):
    from safetensors import safe_open

    from lvc.codecs.liveaction.train import train

    # decoder-only (no noise) at a constant rate: nothing but the saved state carries over
    kw = dict(batch_size=2, crop=32, data=[str(folder)], config=TINY, joint_fraction=0.0,
              rate_levels=((4, 1.0),), threads=1, save_optimizer=True, log_every=1,
              schedule="constant")
    train(tmp_path / "b", steps=2, **kw)
    with safe_open(str(tmp_path / "b" / "checkpoint.safetensors"), "pt") as f:
        assert any(k.startswith("optim.") for k in f.keys())
        assert {f.get_tensor(k).dtype for k in f.keys() if k.startswith("model.")} <= \
            {torch.float32, torch.int64}
    train(tmp_path / "b", steps=4, **kw)
    assert "resumed at step 2 (0.0 min trained)" in capsys.readouterr().out
    train(tmp_path / "c", steps=4, **kw)
    a = [r["loss"] for r in JsonlLog(tmp_path / "b" / "log.jsonl").read()]
    b = [r["loss"] for r in JsonlLog(tmp_path / "c" / "log.jsonl").read()]
    np.testing.assert_allclose(a, b, rtol=1e-6)       # resumed == uninterrupted


def test_learning_rate_schedules():
    from lvc.train.loop import learning_rate

    assert learning_rate("cosine", 1.0, 0, 1000, None, warmup=10) == pytest.approx(0.1)
    assert learning_rate("cosine", 1.0, 10, 1000, None, warmup=10, floor=0) == 1.0
    assert learning_rate("cosine", 1.0, 1000, 1000, None, warmup=10, floor=0.01) == \
        pytest.approx(0.01)
    # a time budget drives the cosine, whatever the step count
    assert learning_rate("cosine", 1.0, 500, 10**9, 0.5, warmup=10, floor=0) == \
        pytest.approx(0.5)
    assert learning_rate("cosine", 1.0, 500, 10**9, 1.0, warmup=10, floor=0) == \
        pytest.approx(0.0)
    # a fresh optimiser on a resumed run warms up again
    assert learning_rate("cosine", 1.0, 4800, 10**9, 0.0, warmup=100, start=4800) == \
        pytest.approx(0.01)
    assert learning_rate("constant", 3.0, 5, 10, None) == 3.0
    assert learning_rate("step", 1.0, 7, 10, None) == 1.0
    assert learning_rate("step", 1.0, 8, 10, None) == pytest.approx(0.1)


def test_time_budget_stops_with_a_checkpoint(folder, tmp_path):
    from lvc.codecs.liveaction.train import train

    train(tmp_path / "t", steps=10**6, minutes=1e-9, batch_size=2, crop=32,
          data=[str(folder)], config=TINY, rate_levels=((4, 1.0),), threads=1)
    meta = checkpoint_meta(tmp_path / "t" / "checkpoint.safetensors")
    assert meta["step"] == 1 and meta["steps_target"] == 10**6


def test_device_crops_equal_the_cpu_sampler(folder):
    from lvc.train.data import CropSampler, DeviceCropSampler, load_folder

    images = load_folder(folder)
    cpu = CropSampler(images, 48, 4, seed=3)
    dev = DeviceCropSampler(images, 48, 4, seed=3, device="cpu")
    for step in (0, 7):
        np.testing.assert_allclose(dev.batch(step).numpy(), cpu.batch(step), atol=1e-6)


def test_bf16_autocast_runs_and_keeps_the_loss_float32(folder, tmp_path):
    from lvc.codecs.liveaction.train import train

    train(tmp_path / "bf16", steps=2, batch_size=2, crop=32, data=[str(folder)], config=TINY,
          rate_levels=((4, 1.0),), threads=1, precision="bf16", log_every=1)
    rows = JsonlLog(tmp_path / "bf16" / "log.jsonl").read()
    assert len(rows) == 2 and all(np.isfinite(r["loss"]) for r in rows)
    assert checkpoint_meta(tmp_path / "bf16" / "checkpoint.safetensors")["precision"] == "bf16"


def test_bad_loop_options_are_one_line_errors(folder, tmp_path, capsys):
    from lvc.train.__main__ import main

    for flags in (["--device", "cuda:7"] if not torch.cuda.is_available() else [],
                  ["--steps", "0"]):
        if not flags:
            continue
        assert main(["liveaction", "--data", str(folder), "--out", str(tmp_path / "x"),
                     "--config", json.dumps(TINY), "--levels", "4:1", *flags]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_mlicv2_and_its_baseline_train_on_the_loop(folder, tmp_path):
    from lvc.train.__main__ import main

    for model in ("hyperprior", "mlicv2-tiny"):
        out = tmp_path / model
        assert main(["mlicv2", "--model", model, "--data", str(folder), "--crop", "64",
                     "--batch", "1", "--steps", "2", "--threads", "1", "--out", str(out)]) == 0
        meta = checkpoint_meta(out / "checkpoint.safetensors")
        assert meta["step"] == 2 and meta["model"] == model and meta["schedule"] == "constant"
        rows = JsonlLog(out / "log.jsonl").read()
        assert all(np.isfinite([r["loss"], r["bpp"], r["aux"]]).all() for r in rows)


def test_dualdiff_prior_trains_on_the_loop(tmp_path):
    from lvc.codecs.diffusion import train
    from lvc.codecs.diffusion.explicit import LEVELS

    data = tmp_path / "data"
    for sub in ["orig"] + [f"L{i}" for i in range(len(LEVELS))]:
        (data / sub).mkdir(parents=True)
        Image.fromarray(sample_image(80, 72, seed=1)).save(data / sub / "a.png")
    out = tmp_path / "run"
    assert train.main(["train", "--data", str(data), "--out", str(out), "--steps", "2",
                       "--batch-size", "2", "--threads", "1", "--config",
                       json.dumps({"width": 8, "mults": [1, 2], "blocks": 1, "time_dim": 16})]) \
        is None
    meta = checkpoint_meta(out / "checkpoint.safetensors")
    assert meta["step"] == 2 and meta["codec"] == "dualdiff" and meta["config"]["width"] == 8


def test_iscs_slice_networks_train_on_the_loop(folder, tmp_path, capsys):
    from lvc.codecs.iscs.train import main

    out = tmp_path / "iscs"
    args = ["--codec", "mbt2018-mean-tiny-iscs", "--quality", "1", "--data", str(folder),
            "--val", str(folder), "--crop", "64", "--batch", "2", "--pool", "4",
            "--steps", "2", "--ckpt-every", "1", "--threads", "1", "--out", str(out)]
    assert main(args) == 0
    meta = checkpoint_meta(out / "checkpoint.safetensors")
    assert meta["step"] == 2 and meta["schedule"] == "step" and meta["val_bpp_y_host"] > 0
    rows = JsonlLog(out / "log.jsonl").read()
    assert [r["step"] for r in rows] == [0, 1] and all(r["val_bpp_y"] > 0 for r in rows)
    capsys.readouterr()
    assert main(args) == 0                      # finished: reports the held-out rate only
    assert "held-out rate of y:" in capsys.readouterr().out
