"""ISCS slice codecs: layouts, the zero-start rate, slice-parallel decoding that does not
depend on the worker count, and ``codec iscs apply`` end to end (order stored, re-derived
and checked)."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from cli_helpers import assert_user_error, ok, run

pytest.importorskip("compressai")

CODECS = ("mbt2018-mean-tiny-iscs", "mbt2018-mean-tiny-slices")


def _image(path, shape=(70, 100, 3), seed=0):
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def random_weights(monkeypatch):
    from lvc.codecs.mlicv2 import weights as mweights

    monkeypatch.setenv("LVC_MLICV2_RANDOM", "1")
    mweights.clear_cache()
    yield
    mweights.clear_cache()


def test_layouts_and_their_decoding_stages():
    from lvc.codecs.iscs.slices import SliceLayout
    from lvc.errors import BadInputError

    seq = SliceLayout.sequential(160, 5)
    assert seq.sizes == (32,) * 5 and seq.stages() == [[0], [1], [2], [3], [4]]
    iscs = SliceLayout.core_first([32], [32, 32, 32, 32])
    assert iscs.stages() == [[0], [1, 2, 3, 4]] and iscs.starts() == [0, 32, 64, 96, 128]
    assert SliceLayout.from_dict(iscs.to_dict()) == iscs
    wide = SliceLayout.core_first([32, 32, 32], [32, 32])  # a core of three slices
    assert wide.stages() == [[0], [1], [2], [3, 4]] and wide.parents[4] == (0, 1, 2)
    assert wide.widths() == (96, 32, 2) and iscs.widths() == (32, 32, 4)
    with pytest.raises(BadInputError):
        SliceLayout((8, 8), ((), (1,)))  # a slice cannot read itself
    with pytest.raises(BadInputError):
        SliceLayout.sequential(160, 3)


def test_untrained_slices_reproduce_the_host_rate():
    """The correction networks start at zero: the slice model's bits equal the host
    GaussianConditional's on the host's own (scale, mean), whatever the layout."""
    from compressai.entropy_models import GaussianConditional

    from lvc.codecs.iscs.slices import SliceEntropyModel, SliceLayout

    torch.manual_seed(0)
    y, hyper = torch.randn(2, 16, 4, 4) * 3, torch.randn(2, 32, 4, 4)
    hyper[:, :16] = hyper[:, :16].abs() + 0.5
    _, lik = GaussianConditional(None).eval()(y, hyper[:, :16], hyper[:, 16:])
    expected = -torch.log2(lik).sum()
    for layout in (SliceLayout.sequential(16, 4), SliceLayout.core_first([4, 2], [5, 5])):
        model = SliceEntropyModel(layout).eval()
        assert torch.allclose(model.rate_bits(y, hyper), expected)


def test_random_weights_round_trip_and_workers_do_not_change_anything(random_weights,
                                                                      tmp_path, monkeypatch):
    from lvc.codecs.iscs import codec as iscs_codec

    src = _image(tmp_path / "a.png")
    for cid in CODECS:
        outputs = []
        for workers in (1, 3):
            monkeypatch.setattr(iscs_codec, "WORKERS", workers)
            f = tmp_path / f"{cid}-{workers}.lvc"
            ok(run("encode", src, "-o", f, "-c", cid))
            ok(run("decode", f, "-o", tmp_path / f"{cid}-{workers}.png"))
            outputs.append((f.read_bytes(), np.asarray(Image.open(tmp_path / f"{cid}-{workers}.png"))))
        assert outputs[0][0] == outputs[1][0] and np.array_equal(outputs[0][1], outputs[1][1])
        assert outputs[0][1].shape == (70, 100, 3)


def test_parallel_groups_code_the_same_bits_on_any_worker_count(random_weights):
    """Four auxiliary groups read the core only and run side by side: the stream and
    the decoded latent are bit-identical for 1 and 3 workers."""
    from lvc.codecs.iscs.coding import code_latents
    from lvc.codecs.iscs.slices import SliceEntropyModel, SliceLayout
    from lvc.codecs.iscs.weights import SliceHandle, host_model, permuted_host, plan
    from lvc.codecs.torch_utils import single_thread, stable_cpu
    from lvc.entropy import Decoder, Encoder

    zm = host_model("mbt2018-mean-tiny", 2)
    order, _ = plan(zm.model, "core")
    torch.manual_seed(0)
    slices = SliceEntropyModel(SliceLayout.core_first([32], [32] * 4)).eval()
    for net in slices.nets:
        torch.nn.init.normal_(net[-1].weight, std=0.02)
    handle = SliceHandle(permuted_host(zm, order), slices, order)
    x = torch.rand(1, 3, 128, 192)
    streams, latents = [], []
    with stable_cpu(), single_thread():
        for workers in (1, 3):
            enc = Encoder()
            y_enc = code_latents(handle, enc, x=x, workers=workers)
            streams.append(enc.finish())
            dec = Decoder(streams[-1])
            latents.append(code_latents(handle, dec, size=(8, 12), workers=workers))
            dec.finish()
            assert torch.equal(latents[-1], y_enc)
    assert streams[0] == streams[1] and torch.equal(*latents)


def test_decode_is_identical_in_another_process_with_other_threads(random_weights, tmp_path):
    src = _image(tmp_path / "a.png", (64, 80, 3), 1)
    f = tmp_path / "a.lvc"
    ok(run("encode", src, "-o", f, "-c", "mbt2018-mean-tiny-iscs"))
    ok(run("decode", f, "-o", tmp_path / "here.png"))
    code = ("import sys, torch; torch.set_num_threads(2); from lvc.cli.main import cli; "
            "cli(['decode', sys.argv[1], '-o', sys.argv[2]])")
    subprocess.run([sys.executable, "-c", code, str(f), str(tmp_path / "there.png")],
                   check=True, capture_output=True)
    assert (tmp_path / "here.png").read_bytes() == (tmp_path / "there.png").read_bytes()


@pytest.fixture
def new_weights(tmp_path, monkeypatch):
    """``codec iscs apply`` (2 steps on random images) on the shipped quality-1 host,
    into a fresh folder; yields it, selected by LVC_WEIGHTS_DIR."""
    from lvc.codecs.manifest import manifest_entry, weights_dir
    from lvc.codecs.mlicv2 import weights as mweights

    if manifest_entry("mbt2018-mean-tiny", quality=1) is None:
        pytest.skip("the shipped mbt2018-mean-tiny weights are not installed")
    monkeypatch.delenv("LVC_MLICV2_RANDOM", raising=False)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        _image(data / f"{i}.png", (80, 96, 3), i)
    new = tmp_path / "new"
    args = ["--data", data, "--val", data, "--crop", "64", "--pool", "8", "--steps", "2"]
    ok(run("iscs", "apply", "mbt2018-mean-tiny:1", "-o", new, "--run", tmp_path / "run", *args))
    assert_user_error(run("iscs", "apply", "mbt2018-mean-tiny:1", "-o", new,
                          "--run", tmp_path / "run", *args), 4)  # exists: -f needed
    assert (new / "mbt2018-mean-tiny-q1.safetensors").is_file()  # the host travels along
    assert weights_dir() != new
    monkeypatch.setenv("LVC_WEIGHTS_DIR", str(new))
    mweights.clear_cache()
    yield new
    mweights.clear_cache()


def test_apply_makes_a_codec_whose_order_is_stored_and_checked(new_weights, tmp_path):
    from lvc.codecs.iscs.weights import plan
    from lvc.codecs.mlicv2 import weights as mweights
    from lvc.codecs.mlicv2.baseline import load as load_host

    manifest = json.loads((new_weights / "manifest.json").read_text())
    entry = next(e for e in manifest["weights"] if e["codec"] == "mbt2018-mean-tiny-iscs")
    assert entry["quality"] == 1 and entry["steps"] == 2 and entry["layout"]["sizes"] == [32, 32, 96]
    order, _ = plan(load_host(1).model, "core")
    assert entry["order"] == list(order) and sorted(order) == list(range(160))
    assert list(order) == list(plan(load_host(1).model, "core")[0])  # deterministic
    src = _image(tmp_path / "a.png", (64, 64, 3), 3)
    f = tmp_path / "a.lvc"
    ok(run("encode", src, "-o", f, "-c", "mbt2018-mean-tiny-iscs", "-q", "1"))
    ok(run("decode", f, "-o", tmp_path / "a.out.png"))
    # a stored order that the host's parameters do not give is refused, not misdecoded
    entry["order"] = entry["order"][1:] + entry["order"][:1]
    (new_weights / "manifest.json").write_text(json.dumps(manifest))
    mweights.clear_cache()
    assert_user_error(run("decode", f, "-o", tmp_path / "b.png", "-f"), 7)
    assert not (tmp_path / "b.png").exists()


def test_apply_refuses_other_hosts_and_damaged_checkpoints(tmp_path):
    from lvc.codecs.iscs.weights import export
    from lvc.errors import BadInputError

    assert_user_error(run("iscs", "apply", "mlicv2-tiny:2", "-o", tmp_path / "x"), 2)
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(BadInputError):
        export(tmp_path / "bad.safetensors", tmp_path / "w")
    shutil.rmtree(tmp_path / "w", ignore_errors=True)
