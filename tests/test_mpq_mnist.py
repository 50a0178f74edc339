"""The example mpq plugin (``examples/mnist_task.py``) and its classifier
(``lvc.eval.mpq.mnist``): the idx label reader, the plugin's dataset / comparison /
metrics, training (resumable, deterministic), export and verified loading, and the
shipped weights' held-out accuracy (skipped without MNIST or the weights)."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lvc.codecs.manifest import manifest_entry, update_manifest
from lvc.codecs.pc.data import MNIST_FILE, MNIST_LABELS_FILE, read_idx_labels
from lvc.errors import (BadInputError, CodecUnavailableError, MissingFileError,
                        ModelMismatchError, OutputExistsError)
from lvc.eval.mpq import mnist
from lvc.eval.mpq.tasks import load_task

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mnist_task.py"
HAVE_MNIST = MNIST_FILE.is_file() and MNIST_LABELS_FILE.is_file()
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason="needs ../shared/datasets/mnist")


def _idx1(labels) -> bytes:
    return b"\x00\x00\x08\x01" + len(labels).to_bytes(4, "big") + bytes(labels)


# ---------------------------------------------------------------- idx labels
def test_read_idx_labels_plain_and_gzipped(tmp_path):
    (tmp_path / "l.idx").write_bytes(_idx1([7, 2, 1, 0]))
    (tmp_path / "l.idx.gz").write_bytes(gzip.compress(_idx1([9, 9, 3])))
    a = read_idx_labels(tmp_path / "l.idx")
    assert a.dtype == np.uint8 and a.tolist() == [7, 2, 1, 0]
    assert read_idx_labels(tmp_path / "l.idx.gz").tolist() == [9, 9, 3]
    (tmp_path / "empty.idx").write_bytes(_idx1([]))
    assert read_idx_labels(tmp_path / "empty.idx").shape == (0,)


@pytest.mark.parametrize("data, what", [
    (_idx1([1, 2, 3])[:-1], "truncated"),
    (_idx1([1, 2, 3]) + b"\x00", "truncated"),
    (b"\x00\x00\x08\x03" + _idx1([1])[4:], "not an idx1"),  # an image file's magic
    (b"\x00\x00\x08", "not an idx1"),
    (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01"), "truncated"),
])
def test_read_idx_labels_refuses_bad_files(tmp_path, data, what):
    (tmp_path / "bad").write_bytes(data)
    with pytest.raises(BadInputError, match=what):
        read_idx_labels(tmp_path / "bad")


def test_read_idx_labels_missing_file(tmp_path):
    with pytest.raises(MissingFileError):
        read_idx_labels(tmp_path / "nope.gz")


# ---------------------------------------------------------------- the plugin
@pytest.fixture
def task():
    return load_task(f"{EXAMPLE}:MnistClassification")


def test_plugin_loads_labels_from_names(task, tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (28, 28), np.uint8)).save(tmp_path / "00012-label7.png")
    Image.fromarray(rng.integers(0, 256, (28, 28, 3), np.uint8)).save(tmp_path / "00003-label0.png")
    Image.fromarray(rng.integers(0, 256, (28, 28), np.uint8)).save(tmp_path / "unlabelled.png")
    (tmp_path / "notes.txt").write_text("not an image")
    assert task.name == "mnist-classification" and task.metric == "accuracy"
    samples = task.load(tmp_path)
    assert [(s.name, s.label) for s in samples] == [
        ("00003-label0.png", 0), ("00012-label7.png", 7), ("unlabelled.png", None)]
    assert samples[0].media.shape == (28, 28, 3) and samples[1].media.shape == (28, 28)
    assert samples[1].media.data.dtype == np.uint8  # gray stays gray: one channel coded
    assert [s.name for s in task.load(tmp_path, limit=1)] == ["00003-label0.png"]
    assert task.rate(samples[1].media, 98) == 1.0  # 8 * 98 bits / 784 pixels


def test_plugin_compare_and_metrics(task):
    stats = [task.compare(3, 3), task.compare(3, 5), task.compare(np.int64(1), 1)]
    assert stats == [{"correct": 1, "n": 1}, {"correct": 0, "n": 1}, {"correct": 1, "n": 1}]
    m = task.metrics(stats)
    assert m["accuracy"] == pytest.approx(2 / 3) and m["digits"] == 3
    assert task.metrics([])["accuracy"] == 1.0  # nothing to get wrong
    assert json.loads(json.dumps(stats[0])) == stats[0]  # what the harness stores


def test_plugin_unavailable_without_weights(task, tmp_path, monkeypatch):
    monkeypatch.setenv("LVC_WEIGHTS_DIR", str(tmp_path))
    assert "no mnist-classification weights" in task.unavailable()
    with pytest.raises(CodecUnavailableError):
        mnist.load_classifier()


def test_inputs_gray_rgb_and_upscaled_agree():
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (2, 28, 28), np.uint8)
    x = mnist.to_input(gray)
    assert tuple(x.shape) == (2, 1, 28, 28) and float(x.max()) <= 1.0
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    assert np.allclose(mnist.to_input(rgb).numpy(), x.numpy())
    big = gray.repeat(4, 1).repeat(4, 2)  # what `digits --scale 4` writes
    assert np.allclose(mnist.to_input(big).numpy(), x.numpy(), atol=1e-6)
    with pytest.raises(BadInputError):
        mnist.to_input(gray.astype(np.float32))


# ---------------------------------------------------------------- training and weights
@needs_mnist
def test_training_resumes_exactly_and_exports_verified_weights(tmp_path):
    import torch
    from safetensors.torch import load_file

    straight = mnist.train(tmp_path / "a", steps=6, batch_size=16, threads=1)
    mnist.train(tmp_path / "b", steps=6, minutes=1e-9, batch_size=16, threads=1)  # 1 step
    log = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 0 and "heldout_accuracy" not in log[-1]
    resumed = mnist.train(tmp_path / "b", steps=6, batch_size=16, threads=1)
    a, b = load_file(straight), load_file(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert "heldout_accuracy" in json.loads((tmp_path / "b" / "log.jsonl").read_text()
                                           .splitlines()[-1])

    weights = tmp_path / "weights"
    update_manifest({"codec": "jpeg-like", "file": "other.safetensors", "sha256": "0" * 64},
                    weights)
    entry = mnist.export(straight, weights)
    assert entry["task"] == "mnist-classification" and "codec" not in entry
    assert entry["steps"] == 6 and entry["params"] < 100_000
    assert 0 <= entry["heldout_accuracy"] <= 1
    assert manifest_entry("jpeg-like", weights)["file"] == "other.safetensors"  # untouched
    assert mnist.export(straight, weights)["sha256"] == entry["sha256"]  # replaces, same file
    assert len(json.loads((weights / "manifest.json").read_text())["weights"]) == 2
    c = mnist.load_classifier(weights)
    assert c.entry["sha256"] == entry["sha256"]
    assert 0 <= c.predict(np.zeros((28, 28), np.uint8)) < 10
    mnist._CACHE.clear()
    path = weights / entry["file"]
    path.write_bytes(path.read_bytes()[:-4] + b"\x00" * 4)
    with pytest.raises(ModelMismatchError):
        mnist.load_classifier(weights)


@needs_mnist
def test_digits_writer(tmp_path):
    paths = mnist.write_digits(tmp_path / "d", count=3, scale=2)
    images, labels = mnist.mnist("heldout")
    assert [p.name for p in paths] == [f"{8000 + i:05d}-label{labels[i]}.png" for i in range(3)]
    with Image.open(paths[1]) as im:
        assert im.mode == "L" and im.size == (56, 56)
        assert np.array_equal(np.asarray(im)[::2, ::2], images[1])
    with pytest.raises(OutputExistsError):
        mnist.write_digits(tmp_path / "d", count=4)
    assert not (tmp_path / "d" / f"08003-label{labels[3]}.png").exists()  # nothing written
    assert len(mnist.write_digits(tmp_path / "d", count=4, overwrite=True)) == 4
    with pytest.raises(BadInputError):
        mnist.write_digits(tmp_path / "e", count=0)


@needs_mnist
def test_shipped_classifier_accuracy(task, tmp_path):
    if mnist.unavailable():
        pytest.skip(f"shipped classifier not installed: {mnist.unavailable()}")
    task.setup()
    acc = mnist.heldout_accuracy(task._classifier.model, 200)
    assert acc >= 0.95, acc
    mnist.write_digits(tmp_path, count=20, scale=4)  # through the plugin, 112x112 files
    samples = task.load(tmp_path)
    stats = [task.compare(s.label, task.predict(s.media)) for s in samples]
    assert task.metrics(stats)["accuracy"] >= 0.9
