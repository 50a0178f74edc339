"""Shipping MLICv2-tiny and its baseline: a training run exported to weights, loaded by
the codecs from the manifest (config, lambda and provenance travel in the entry)."""

import json

import numpy as np
import pytest
from PIL import Image

from cli_helpers import assert_user_error, ok, run

pytest.importorskip("compressai")


@pytest.fixture
def trained(tmp_path_factory):
    """Run folders of one training step each (hyperprior, MLIC++-tiny) and a fine-tune."""
    from lvc.codecs.mlicv2.train import main

    root = tmp_path_factory.mktemp("runs")
    data = root / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(data / f"{i}.png")
    common = ["--data", str(data), "--crop", "64", "--batch", "1", "--steps", "1"]
    for model in ("hyperprior", "mlicv2-tiny-base"):
        assert main(["--model", model, "--out", str(root / model)] + common) == 0
    assert main(["--model", "hyperprior", "--lmbda", "0.013", "--out", str(root / "fine"),
                 "--init", str(root / "hyperprior" / "checkpoint.safetensors")] + common) == 0
    return root


@pytest.fixture
def weights(tmp_path, monkeypatch):
    from lvc.codecs.mlicv2 import weights as mweights

    monkeypatch.delenv("LVC_MLICV2_RANDOM", raising=False)
    monkeypatch.setenv("LVC_WEIGHTS_DIR", str(tmp_path / "weights"))
    mweights.clear_cache()
    yield tmp_path / "weights"
    mweights.clear_cache()


def _image(path, shape=(40, 56, 3), seed=0):
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


def test_exported_runs_code_through_both_codecs(trained, weights, tmp_path):
    """--export writes float16 weights and a manifest entry; mbt2018-mean-tiny and
    mlicv2-tiny (here with the MLIC++-tiny ablation's config from the entry) load them
    and round-trip an image through the CLI, decoding identically twice."""
    from lvc.codecs.mlicv2.train import main

    assert main(["--model", "hyperprior", "--out", str(trained / "hyperprior"), "--export", "2",
                 "--weights-dir", str(weights)]) == 0
    assert main(["--model", "hyperprior", "--out", str(trained / "fine"), "--export", "3",
                 "--weights-dir", str(weights)]) == 0
    assert main(["--model", "mlicv2-tiny-base", "--out", str(trained / "mlicv2-tiny-base"),
                 "--export", "2", "--weights-dir", str(weights)]) == 0
    entries = {(e["codec"], e["quality"]): e
               for e in json.loads((weights / "manifest.json").read_text())["weights"]}
    assert set(entries) == {("mbt2018-mean-tiny", 2), ("mbt2018-mean-tiny", 3), ("mlicv2-tiny", 2)}
    fine = entries[("mbt2018-mean-tiny", 3)]
    assert fine["lmbda"] == 0.013 and fine["steps"] == 1 and fine["steps_total"] == 2
    assert fine["training"]["init"].endswith("checkpoint.safetensors")
    assert entries[("mlicv2-tiny", 2)]["config"]["token_mixer"] is False
    assert entries[("mlicv2-tiny", 2)]["storage"] == "float16"
    src = _image(tmp_path / "a.png")
    for codec_id, q in (("mbt2018-mean-tiny", 2), ("mbt2018-mean-tiny", 3), ("mlicv2-tiny", 2)):
        enc = tmp_path / f"{codec_id}-{q}.lvc"
        ok(run("encode", src, "-o", enc, "-c", codec_id, "-q", q))
        outs = []
        for i in range(2):
            ok(run("decode", enc, "-o", tmp_path / f"{codec_id}-{q}-{i}.png"))
            outs.append(np.asarray(Image.open(tmp_path / f"{codec_id}-{q}-{i}.png")))
        assert outs[0].shape == (40, 56, 3) and np.array_equal(outs[0], outs[1])
    # a quality without weights is a clear error, not a crash
    assert_user_error(run("encode", src, "-o", tmp_path / "q1.lvc", "-c", "mlicv2-tiny",
                          "-q", "1"), 6)


def test_replaced_weights_file_is_refused(trained, weights, tmp_path):
    from lvc.codecs.mlicv2.train import main

    assert main(["--model", "hyperprior", "--out", str(trained / "hyperprior"), "--export", "2",
                 "--weights-dir", str(weights)]) == 0
    path = weights / "mbt2018-mean-tiny-q2.safetensors"
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    result = run("encode", _image(tmp_path / "a.png"), "-o", tmp_path / "a.lvc",
                 "-c", "mbt2018-mean-tiny")
    assert_user_error(result, 7)
    assert "sha256" in result.stderr and not (tmp_path / "a.lvc").exists()


def test_export_without_a_run_is_a_clear_error(tmp_path, capsys):
    from lvc.train.__main__ import main

    assert main(["mlicv2", "--model", "hyperprior", "--out", str(tmp_path / "none"),
                 "--export", "2"]) == 2
    assert capsys.readouterr().err.startswith("error: no checkpoint to export")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "checkpoint.safetensors").write_bytes(b"not a checkpoint")
    assert main(["mlicv2", "--out", str(tmp_path / "junk"), "--export", "2",
                 "--weights-dir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not an mlicv2 training checkpoint" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "w").exists()


def test_baseline_with_random_weights_round_trips(tmp_path, monkeypatch):
    from lvc.codecs.mlicv2 import weights as mweights

    monkeypatch.setenv("LVC_MLICV2_RANDOM", "1")
    mweights.clear_cache()
    src = _image(tmp_path / "g.png", (30, 20), seed=2)
    ok(run("encode", src, "-o", tmp_path / "g.lvc", "-c", "mbt2018-mean-tiny", "-q", "1"))
    ok(run("decode", tmp_path / "g.lvc", "-o", tmp_path / "g.out.png"))
    assert np.asarray(Image.open(tmp_path / "g.out.png")).shape == (30, 20)
    mweights.clear_cache()
