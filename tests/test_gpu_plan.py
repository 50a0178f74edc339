"""The prepared GPU plan in its --dry form (CPU, tiny sizes), what it returns against the
lent machines' limits, its import, and the GPU speed benchmark on the CPU."""

import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lvc.train.plan import MAX_FILE, MAX_FILES, MAX_TOTAL, collect, unpack

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dry_plan(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan") / "out"
    done = subprocess.run([sys.executable, "-m", "lvc.train", "plan", "--dry", "--out", str(out)],
                          capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    return out, done.stdout


def test_dry_plan_trains_every_job_it_can(dry_plan):
    out, stdout = dry_plan
    doc = json.loads((out / "plan.json").read_text())
    jobs = doc["jobs"]
    assert [j["priority"] for j in jobs.values()] == sorted(j["priority"] for j in jobs.values())
    for name in ("liveaction-rgb", "mlicv2-tiny-q2", "mbt2018-mean-tiny-q2",
                 "mbt2018-mean-tiny-iscs-q2", "mbt2018-mean-tiny-slices-q2", "dualdiff"):
        assert jobs[name]["status"] == "trained", (name, jobs[name])
        assert jobs[name]["returned"] is True and jobs[name]["last"]
    # the ISCS runs (stage 2) trained on the stage-1 host, exported for them
    assert (out / "work" / "hosts" / "mbt2018-mean-tiny-q2.safetensors").is_file()
    # the volume/cube jobs lack data in the dry bundle: skipped with a reason, not fatal
    assert jobs["liveaction-volume"]["status"].startswith("skipped: ")
    assert "liveaction-rgb: trained" in stdout


def test_returned_files_respect_the_limits(dry_plan):
    out, _ = dry_plan
    doc = json.loads((out / "plan.json").read_text())
    files = [out / "plan.json"] + [out / n for n in doc["files"]]
    assert len(files) <= MAX_FILES
    assert all(f.stat().st_size <= MAX_FILE for f in files)
    assert sum(f.stat().st_size for f in files) <= MAX_TOTAL
    merged = unpack(out, doc["files"], out / "merged-test")
    names = {p.name for p in merged}
    assert {"liveaction-rgb.safetensors", "dualdiff.safetensors"} <= names


def test_collect_drops_by_priority_what_does_not_fit(tmp_path):
    from lvc.train.plan import Job

    work, out = tmp_path / "work", tmp_path / "out"
    plan, report = [], {}
    for i, size in enumerate([30, 30, 10, 20]):  # MiB
        name = f"job{i}"
        (work / name).mkdir(parents=True)
        (work / name / "checkpoint.safetensors").write_bytes(bytes(size * 2**20))
        plan.append(Job(name, i + 1, 1, [], []))
        report[name] = {"status": "trained"}
    doc = collect(plan, work, out, report, 1.0, "cpu")
    assert [report[f"job{i}"]["returned"] is True for i in range(4)] == [True, True, False, False]
    assert "do not fit" in report["job2"]["returned"]
    assert len(doc["files"]) == 4 and all((out / n).stat().st_size <= MAX_FILE
                                          for n in doc["files"])


def test_import_judges_on_held_out_images_and_keeps_the_better_weights(dry_plan, tmp_path):
    from lvc.codecs.manifest import manifest_entry
    from lvc.train.plan_import import main

    weights = tmp_path / "weights"
    weights.mkdir()
    for name in ("liveaction-rgb.safetensors", "manifest.json"):
        shutil.copyfile(ROOT / "assets" / "weights" / name, weights / name)
    if manifest_entry("liveaction-rgb", directory=weights) is None:
        pytest.skip("no shipped liveaction-rgb weights")
    before = (weights / "liveaction-rgb.safetensors").read_bytes()
    out, _ = dry_plan
    bundle = out / "bundle" / "data" / "bsds500"
    assert main([str(out), "--only", "liveaction-rgb", "--val", str(bundle / "val"),
                 "--fit-images", str(bundle / "train"), "--weights-dir", str(weights),
                 "--limit", "2"]) == 0
    # a 2-step tiny network does not beat the shipped one: nothing changes
    assert (weights / "liveaction-rgb.safetensors").read_bytes() == before


def test_gpu_speed_benchmark_runs_on_the_cpu(capsys):
    pytest.importorskip("compressai")
    rows = runpy.run_path(str(ROOT / "benchmarks" / "gpu_speed.py"))["main"](
        ["--device", "cpu", "--sizes", "64x48", "--batches", "1", "--repeat", "1"])
    assert len(rows) == 2 and all(r["encode_mp_s"] > 0 and r["decode_mp_s"] > 0 for r in rows)
    assert "| liveaction (SMALL, 8.2 M) | 64x48 | 1 |" in capsys.readouterr().out


def test_a_job_whose_host_did_not_train_is_skipped(tmp_path):
    from lvc.train.plan import run_plan

    doc = run_plan(tmp_path / "out", dry=True, only=["mbt2018-mean-tiny-iscs-q2"])
    job = doc["jobs"]["mbt2018-mean-tiny-iscs-q2"]
    assert job["status"] == "skipped: mbt2018-mean-tiny-q2 did not train"
    assert doc["files"] == [] or all((tmp_path / "out" / n).is_file() for n in doc["files"])
