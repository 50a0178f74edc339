"""Training pieces: deterministic crops, no-pickle resumable checkpoints, a tiny run."""

import numpy as np
import pytest
from PIL import Image

from lvc.samples import sample_image
from lvc.train.checkpoint import JsonlLog, load_checkpoint, save_checkpoint
from lvc.train.data import CropSampler, load_folder

torch = pytest.importorskip("torch")


@pytest.fixture
def folder(tmp_path):
    for i in range(3):
        Image.fromarray(sample_image(80, 72, seed=i)).save(tmp_path / f"{i}.jpg", quality=95)
    (tmp_path / "notes.txt").write_text("ignored")
    return tmp_path


def test_crops_are_a_pure_function_of_step(folder):
    s = CropSampler(load_folder(folder), size=64, batch_size=3, seed=1)
    a, b = s.batch(5), s.batch(5)
    assert a.shape == (3, 3, 64, 64) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, s.batch(6))
    assert -1 <= a.min() and a.max() <= 1


def test_checkpoint_restores_model_and_optimizer(tmp_path):
    torch.manual_seed(0)
    m = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(m.parameters(), 1e-2)
    for _ in range(2):
        m(torch.randn(5, 4)).pow(2).sum().backward()
        opt.step()
    save_checkpoint(tmp_path / "c.safetensors", m, opt, 2, {"note": "x"})
    m2 = torch.nn.Linear(4, 3)
    opt2 = torch.optim.AdamW(m2.parameters(), 1e-2)
    info = load_checkpoint(tmp_path / "c.safetensors", m2, opt2)
    assert info["step"] == 2 and info["note"] == "x"
    x = torch.randn(5, 4)
    for model, o in ((m, opt), (m2, opt2)):
        o.zero_grad()
        model(x).pow(2).sum().backward()
        o.step()
    assert torch.equal(m.weight, m2.weight)  # the resumed optimizer continues identically


def test_tiny_liveaction_run_resumes(folder, tmp_path):
    from lvc.codecs.liveaction.train import train

    tiny = dict(levels=2, latent_channels=4, decoder_width=32, decoder_blocks=1,
                mbconv_expansion=2)
    levels = ((2, 1.0), (4, 1.0))
    out = tmp_path / "run"
    kw = dict(batch_size=2, crop=32, data=[str(folder)], config=tiny, rate_levels=levels,
              threads=1)
    train(out, steps=2, **kw)
    train(out, steps=3, **kw)  # resumes at step 2, runs one more
    rows = JsonlLog(out / "log.jsonl").read()
    assert [r["step"] for r in rows] == [0, 1, 2]
    from safetensors import safe_open
    import json

    with safe_open(str(out / "checkpoint.safetensors"), "pt") as f:
        meta = json.loads(f.metadata()["lvc"])
    assert meta["step"] == 3 and meta["config"]["latent_channels"] == 4
    assert meta["rate_levels"] == [[2, 2.0], [4, 2.0]]       # the fine-tuning step ships
    assert meta["training_levels"] == [[2, 1.0], [4, 1.0]]
    assert all(np.isfinite(r["loss"]) for r in rows)


def test_dense_run_starts_from_pca(folder, tmp_path, capsys):
    """The PCA warm start begins far above a random start (same crops, same step 0)."""
    from lvc.codecs.liveaction.train import train

    tiny = dict(levels=2, latent_channels=4, decoder_width=32, decoder_blocks=1,
                mbconv_expansion=2)
    psnr = {}
    for projection in ("dense", "monarch"):
        out = tmp_path / projection
        train(out, steps=1, batch_size=2, crop=32, data=[str(folder)], rate_levels=((4, 1.0),),
              config=dict(tiny, projection=projection), threads=1)
        psnr[projection] = JsonlLog(out / "log.jsonl").read()[0]["psnr"]
    assert capsys.readouterr().out.count("warm start: PCA") == 1
    assert psnr["dense"] > psnr["monarch"] + 3, psnr


def test_parse_levels_and_one_line_errors(tmp_path, capsys):
    from lvc.codecs.liveaction.train import parse_levels
    from lvc.errors import BadInputError
    from lvc.train.__main__ import main

    assert parse_levels(["12:2", "48:3.5"]) == [(12, 2.0), (48, 3.5)]
    for bad in (["12"], ["a:1"], ["0:1"], ["4:0"]):
        with pytest.raises(BadInputError):
            parse_levels(bad)
    out = tmp_path / "never-made"
    assert main(["liveaction", "--data", str(tmp_path / "missing"), "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()       # nothing is created for a run that cannot start


def test_files_that_are_not_checkpoints_give_one_line_errors(tmp_path, capsys):
    from safetensors.numpy import save_file

    from lvc.codecs.diffusion.train import main as dualdiff_main
    from lvc.errors import run_main

    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    plain = tmp_path / "plain.safetensors"
    save_file({"a": np.zeros(2)}, str(plain))
    for path, message in [(text, "not an lvc training checkpoint"),
                          (plain, "without lvc checkpoint metadata")]:
        assert run_main(dualdiff_main, ["export", str(path)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
