"""``codec eval mpq``: the task interface, the sweep (rates, pooled metrics, labels,
resuming, failures), equal-rate comparison, the CLI, the OCR pages, and the built-in
tasks' models when they are installed (skipped cleanly otherwise)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_helpers import assert_user_error, ok, run
from lvc.errors import BadInputError
from lvc.eval.mpq import runner
from lvc.eval.mpq.tasks import ImageTask, load_task, ready_task, task_status

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


class BrightHalves(ImageTask):
    """Toy task: which of the 4 vertical strips are brighter than mid-gray; labels from
    the file name (``...-1010.png``). Agreement = strips that match."""

    name = "bright-halves"
    metric = "accuracy"

    def label(self, path):
        return [int(c) for c in path.stem.split("-")[1]]

    def predict(self, media):
        strips = np.array_split(media.data.astype(float).mean(axis=(0, 2)), 4)
        return [int(s.mean() > 127.5) for s in strips]

    def compare(self, reference, prediction):
        return {"correct": sum(a == b for a, b in zip(reference, prediction)), "n": 4}

    def metrics(self, stats):
        correct = sum(s["correct"] for s in stats)
        n = sum(s["n"] for s in stats)
        return {"accuracy": correct / n}


@pytest.fixture
def strips(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "strips"
    folder.mkdir()
    for i, bits in enumerate(["1010", "0110", "1100"]):
        x = np.zeros((32, 48, 3), np.uint8)
        for j, b in enumerate(bits):
            x[:, j * 12:(j + 1) * 12] = 90 + 80 * int(b)
        x = np.clip(x + rng.integers(-20, 20, x.shape), 0, 255).astype(np.uint8)
        Image.fromarray(x).save(folder / f"im{i}-{bits}.png")
    return folder


def test_sweep_rates_metrics_labels_and_resume(strips, tmp_path):
    import lvc

    task, out = BrightHalves(), tmp_path / "out"
    summary = runner.evaluate(task, strips, {"jpeg": (5, 90), "png": (6,)}, out,
                              progress=False)
    assert summary["samples"] == summary["labelled_samples"] == 3
    assert summary["original_vs_label"]["accuracy"] == 1.0
    curves = summary["curves"]
    # rate = mean over samples of the whole .lvc file's bits per pixel
    x = np.asarray(Image.open(strips / "im0-1010.png"))
    nbytes = len(lvc.encode(x, "jpeg", 5))
    rows = [r for r in runner.read_rows(out / "results.csv", runner._INTS, runner._FLOATS)
            if r["codec"] == "jpeg" and r["quality"] == 5]
    assert {r["sample"] for r in rows} == {"im0-1010.png", "im1-0110.png", "im2-1100.png"}
    assert [r for r in rows if r["sample"] == "im0-1010.png"][0]["bytes"] == nbytes
    assert curves["jpeg"]["bpp"][0] == pytest.approx(np.mean([r["rate"] for r in rows]))
    assert curves["jpeg"]["bpp"] == sorted(curves["jpeg"]["bpp"])
    # lossless PNG keeps the model's output: perfect agreement and label accuracy
    assert curves["png"]["accuracy"] == [1.0] and curves["png"]["accuracy-label"] == [1.0]
    assert 0.0 <= min(curves["jpeg"]["accuracy"]) <= 1.0
    for name in ("results.csv", "curves.json", "summary.json", "mpq-accuracy.png",
                 "mpq-accuracy-label.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "curves.json").read_text())["png"]["results"]["quality"] == [6]
    # a re-run measures nothing again
    lines = (out / "results.csv").read_text().count("\n")
    again = runner.evaluate(task, strips, {"jpeg": (5, 90), "png": (6,)}, out, progress=False)
    assert (out / "results.csv").read_text().count("\n") == lines
    assert again["curves"] == summary["curves"]
    # a sample rewritten under the same name is measured again, not mixed in
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(strips / "im0-1010.png")
    runner.evaluate(task, strips, {"png": (6,)}, out, progress=False)
    rows = runner.read_rows(out / "results.csv", runner._INTS, runner._FLOATS)
    assert len([r for r in rows if r["codec"] == "png" and r["sample"] == "im0-1010.png"]) == 2
    # another task refuses the folder instead of mixing its rows in
    other = BrightHalves()
    other.name = "other-task"
    with pytest.raises(BadInputError, match="holds results of task"):
        runner.evaluate(other, strips, {"png": (6,)}, out, progress=False)


def test_a_codec_failing_everywhere_leaves_the_others(strips, tmp_path, monkeypatch):
    import lvc

    real = lvc.encode

    def encode(media, codec, quality):
        if codec == "webp":
            raise BadInputError("refused")
        return real(media, codec, quality)

    monkeypatch.setattr(lvc, "encode", encode)
    summary = runner.evaluate(BrightHalves(), strips, {"webp": (50,), "png": (6,)},
                              tmp_path / "o", progress=False)
    assert set(summary["curves"]) == {"png"} and summary["excluded_samples"] == []
    assert len(summary["failed_jobs"]) == 3
    assert summary["failed_jobs"][0]["error"] == "BadInputError: refused"


def test_value_at_and_equal_rate_table():
    curve = {"results": {"bpp": [0.1, 0.4], "f1": [0.2, 0.8]}}
    assert runner.value_at(curve, "bpp", "f1", 0.2) == pytest.approx(0.5)  # log-midpoint
    assert runner.value_at(curve, "bpp", "f1", 0.05) is None
    other = {"results": {"bpp": [0.1, 0.4], "f1": [0.5, 0.6]}}
    task = ImageTask()
    task.metric, task.higher_is_better = "f1", True
    table = runner.equal_rate_table(task, {"a": curve, "b": other}, "f1")
    assert len(table) == runner.RATE_POINTS
    assert table[0]["best"] == ["b"] and table[-1]["best"] == ["a"]
    task.higher_is_better = False
    assert runner.equal_rate_table(task, {"a": curve, "b": other}, "f1")[0]["best"] == ["a"]
    same = {"results": {"bpp": [0.1, 0.4], "f1": [0.2, 0.8]}}
    assert runner.equal_rate_table(task, {"a": curve, "c": same}, "f1")[0]["best"] == ["a", "c"]
    # rates only one codec covers are left out
    high = {"results": {"bpp": [1.0, 2.0], "f1": [0.9, 1.0]}}
    assert runner.equal_rate_table(task, {"a": curve, "h": high}, "f1") == []


def test_default_qualities_spread_over_the_sweep():
    assert runner.default_qualities((1, 2, 3)) == (1, 2, 3)
    assert runner.default_qualities(tuple(range(10, 100, 10))) == (10, 40, 60, 90)


def test_task_loading_errors_and_file_plugins(tmp_path):
    with pytest.raises(BadInputError, match="unknown task"):
        load_task("no-such-task")
    plugin = tmp_path / "plug.py"
    plugin.write_text("from lvc.eval.mpq import ImageTask\n"
                      "class T(ImageTask):\n    name = 'plug'\n"
                      "class NotATask:\n    pass\n")
    assert load_task(f"{plugin}:T").name == "plug"
    with pytest.raises(BadInputError, match="not an lvc.eval.mpq.Task"):
        load_task(f"{plugin}:NotATask")
    with pytest.raises(BadInputError, match="cannot load"):
        load_task(f"{plugin}:Missing")
    assert set(task_status()) >= {"face-detection", "person-segmentation", "ocr", "asr"}


def test_cli_list_errors_and_docs(tmp_path):
    r = ok(run("eval", "mpq", "--list", "--json"))
    assert {t["task"] for t in json.loads(r.stdout)} >= {"ocr", "asr"}
    assert_user_error(run("eval", "mpq", "--task", "ocr"), 2)
    assert_user_error(run("eval", "mpq", "--task", "nope", "--dataset", tmp_path,
                          "--out", tmp_path / "o"), 2)
    ok(run("eval", "docs", tmp_path / "d", "-n", "2", "--size", "320x240"))
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == \
        ["doc-00.png", "doc-00.txt", "doc-01.png", "doc-01.txt"]
    assert Image.open(tmp_path / "d" / "doc-00.png").size == (320, 240)
    before = (tmp_path / "d" / "doc-00.png").read_bytes()
    assert_user_error(run("eval", "docs", tmp_path / "d", "-n", "1"), 4)
    ok(run("eval", "docs", tmp_path / "d", "-n", "1", "--size", "320x240", "--force"))
    assert (tmp_path / "d" / "doc-00.png").read_bytes() == before  # deterministic pages
    assert_user_error(run("eval", "docs", tmp_path / "e", "--size", "big"), 2)


def _ready(name):
    reason = task_status()[name]
    if reason:
        pytest.skip(f"{name} unavailable: {reason}")
    return ready_task(name)


def test_ocr_reads_the_rendered_pages(tmp_path):
    from lvc.eval.mpq.ocr import render_documents

    task = _ready("ocr")
    render_documents(tmp_path, 1)
    (sample,) = task.load(tmp_path)
    stats = task.compare(sample.label, task.predict(sample.media))
    assert task.metrics([stats])["cer"] < 0.05


def test_face_detection_and_segmentation_on_a_face():
    face = SHARED / "kodak" / "kodim04.png"
    if not face.is_file():
        pytest.skip("../shared/datasets/kodak not present")
    det, seg = _ready("face-detection"), _ready("person-segmentation")
    (sample,) = [s for s in det.load(face.parent) if s.name == face.name]
    boxes = det.predict(sample.media)
    assert len(boxes) == 1 and det.metrics([det.compare(boxes, boxes)])["f1"] == 1.0
    assert det.metrics([det.compare(boxes, [])])["f1"] == 0.0
    mask = seg.predict(sample.media)
    assert mask.shape == sample.media.shape[:2] and 0.2 < mask.mean() < 0.99
    assert seg.metrics([seg.compare(mask, mask)])["iou"] == 1.0


def test_asr_on_a_held_out_clip():
    folder = SHARED / "audio" / "speech" / "asr"
    if not folder.is_dir():
        pytest.skip("../shared/datasets/audio not present")
    task = _ready("asr")
    samples = task.load(folder, limit=1)
    assert samples[0].label  # from transcripts.txt
    stats = task.compare(samples[0].label, task.predict(samples[0].media))
    assert task.metrics([stats])["wer"] < 0.5
