"""The prepared GPU plan: what to train, side by side on one lent GPU, in a few minutes,
and how its results come back and ship.

    python -m lvc.train plan bundle --out gpu-bundle            # here: the folder to send
    python -m lvc.train plan --minutes 8 --out $OUT --device cuda  # there (docs/gpu-plan.md)
    python -m lvc.train plan import RETURNED_DIR                  # here: merge, judge, ship
    python -m lvc.train plan --dry --out /tmp/plan-dry            # the same plan on CPU, seconds

The jobs, in priority order (``JOBS``): (1) the LiVeAction RGB continuation from the
committed checkpoint; (2) mlicv2-tiny and mbt2018-mean-tiny at lambda 0.0067 from their
shipped q2 weights, the same steps for both (q1/q3 are then fine-tuned from the new q2 as
``benchmarks/train_mlicv2_cpu.sh`` does); (3) the ISCS slice networks retrained on the
new mbt2018-mean-tiny q2 host, with its slice layout (stage 2, once the host exists);
(4) the dualdiff prior continuation (when its prepared data is in the bundle); (5)
liveaction-volume and liveaction-hsi (when their training data is in the bundle). Stage 1
jobs run side by side for ``STAGE1`` of the time, stage 2 jobs for the rest; a job whose
inputs or packages are missing is skipped and reported, never fatal.

What comes back fits the lent machines' limits (``MAX_FILES`` files of at most
``MAX_FILE`` bytes, ``MAX_TOTAL`` in all): ``plan.json`` (every job: status, steps,
minutes, last log row) plus one tar of the weights-only float16 checkpoints, filled in
priority order while the limits allow and split into parts of at most ``MAX_FILE``
bytes; what does not fit is listed as dropped. ``plan import`` joins the parts, then judges each run on BSDS500 *val* (never
Kodak) against what ships and ships what improved.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadInputError, MissingFileError

MAX_FILES, MAX_FILE, MAX_TOTAL = 8, 16 * 2**20, 64 * 2**20
ARCHIVE = "plan.tar"
VAL_IMAGES = 12  # held-out images the ISCS runs log their rate on (96 crops)
STAGE1 = 0.7
BIG = str(10**9)  # a step target no run reaches: the time budget ends it
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Job:
    """One training run of the plan: ``python -m lvc.train ARGV --out WORK/NAME``,
    continuing from ``init`` (copied into the run folder) when it exists."""
    name: str
    priority: int
    stage: int
    argv: list
    dry_argv: list
    init: str | None = None
    needs: tuple = ()                  # importable modules
    inputs: tuple = ()                 # paths (relative to the bundle) that must exist
    env: dict = field(default_factory=dict)
    after: str | None = None           # a job that must have trained first


def jobs(bundle: Path, dry: bool) -> list:
    """The plan. Paths of data and starting weights are inside ``bundle`` (a copy of the
    repository's weights and checkpoints plus BSDS500), so the plan runs anywhere."""
    d = bundle / "data"
    bsds = [str(d / "bsds500" / "train"), str(d / "bsds500" / "test")]
    val = [str(d / "bsds500" / "val")]
    w = bundle / "weights"
    tiny_la = json.dumps(dict(levels=2, latent_channels=4, decoder_width=32, decoder_blocks=1,
                              mbconv_expansion=2))
    tiny_dd = json.dumps({"width": 8, "mults": [1, 2], "blocks": 1, "time_dim": 16})
    small = ["--steps", "2", "--threads", "1"]
    return [
        Job("liveaction-rgb", 1, 1,
            ["liveaction", "--batch-size", "64", "--lr", "6e-4", "--warmup", "200",
             "--joint-fraction", "0.6", "--steps", BIG, "--data", *bsds],
            ["liveaction", "--batch-size", "2", "--crop", "32", "--config", tiny_la,
             "--levels", "2:1", "4:1", *small, "--data", *bsds],
            init=None if dry else str(bundle / "checkpoints" / "liveaction-image.safetensors"),
            inputs=("data/bsds500/train",)),
        *[Job(f"{codec}-q2", 2, 1,
              ["mlicv2", "--model", model, "--lmbda", "0.0067", "--batch", "16", "--lr", "1e-4",
               "--schedule", "cosine", "--warmup", "100", "--steps", BIG,
               "--init", str(w / f"{codec}-q2.safetensors"), "--data", *bsds],
              ["mlicv2", "--model", model, "--lmbda", "0.0067", "--batch", "1", "--crop", "64",
               *small, "--data", *bsds],
              needs=("compressai",),
              inputs=("data/bsds500/train",) + (() if dry else (f"weights/{codec}-q2.safetensors",)))
          for codec, model in (("mlicv2-tiny", "mlicv2-tiny"),
                               ("mbt2018-mean-tiny", "hyperprior"))],
        *[Job(f"{codec}-q2", 3, 2,
              ["iscs", "--codec", codec, "--quality", "2", "--steps", BIG, "--data", *bsds,
               "--val", *val, "--pool", "2400", "--batch", "32"],
              ["iscs", "--codec", codec, "--quality", "2", "--crop", "64", "--pool", "4",
               "--batch", "2", *small, "--data", *bsds, "--val", *val],
              needs=("compressai",), inputs=("data/bsds500/val",),
              env={"LVC_WEIGHTS_DIR": "{work}/hosts"}, after="mbt2018-mean-tiny-q2")
          for codec in ("mbt2018-mean-tiny-iscs", "mbt2018-mean-tiny-slices")],
        Job("dualdiff", 4, 1,
            ["dualdiff", "train", "--data", str(d / "dualdiff"), "--batch-size", "64",
             "--steps", BIG],
            ["dualdiff", "train", "--data", str(d / "dualdiff"), "--batch-size", "2",
             "--config", tiny_dd, *small],
            init=None if dry else str(bundle / "checkpoints" / "dualdiff.safetensors"),
            inputs=("data/dualdiff/orig",)),
        *[Job(codec, 5, 1,
              ["liveaction", "--codec", codec, "--steps", BIG, "--data-root", str(d)],
              ["liveaction", "--codec", codec, "--config", json.dumps(dict(
                  json.loads(tiny_la), ndim=3, in_channels=1)), "--levels", "2:2", "4:2",
               *small, "--data-root", str(d)],
              inputs=(sub,))
          for codec, sub in (("liveaction-volume", "data/volumes"),
                             ("liveaction-hsi", "data/hyperspectral"))],
    ]


def _missing(job: Job, bundle: Path) -> str | None:
    import importlib.util

    for module in job.needs:
        if importlib.util.find_spec(module) is None:
            return f"package {module} is not installed"
    for path in job.inputs:
        if not (bundle / path).exists():
            return f"{bundle / path} is missing (not in the bundle)"
    if job.init and not Path(job.init).is_file():
        return f"{job.init} is missing"
    return None


def _start(job: Job, work: Path, device: str, minutes: float | None, dry: bool):
    run_dir = work / job.name
    run_dir.mkdir(parents=True, exist_ok=True)
    if job.init and not (run_dir / "checkpoint.safetensors").exists():
        shutil.copyfile(job.init, run_dir / "checkpoint.safetensors")
    argv = list(job.dry_argv if dry else job.argv)
    if not dry:
        argv += ["--device", device, "--minutes", f"{minutes:.3f}"]
        if device.startswith("cuda"):
            argv += ["--precision", "fp32"]  # TF32: bf16 was no faster for these (NOTES)
    argv += ["--out", str(run_dir)]
    env = dict(os.environ, **{k: v.format(work=work) for k, v in job.env.items()})
    env.setdefault("OMP_NUM_THREADS", "1" if dry else "2")
    log = open(run_dir / "stdout.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "lvc.train", *argv], stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    return proc, log


def _run_stage(stage_jobs: list, work: Path, device: str, minutes, dry: bool, report: dict):
    running = []
    for job in stage_jobs:
        running.append((job, *_start(job, work, device, minutes, dry)))
        report[job.name]["started"] = time.strftime("%H:%M:%S")
    for job, proc, log in running:
        code = proc.wait()
        log.close()
        report[job.name].update(status="trained" if code == 0 else f"failed (exit {code})")
        if code:
            report[job.name]["tail"] = (work / job.name / "stdout.log").read_text()[-800:]


def _export_host(work: Path, report: dict) -> None:
    """Stage 2's ISCS runs train on the stage-1 mbt2018-mean-tiny q2: export it (with the
    bundle's other hosts) into WORK/hosts, the weights folder they read."""
    from ..codecs.mlicv2.weights import export

    ckpt = work / "mbt2018-mean-tiny-q2" / "checkpoint.safetensors"
    if report.get("mbt2018-mean-tiny-q2", {}).get("status") == "trained" and ckpt.is_file():
        export(ckpt, 2, work / "hosts")


def run_plan(out, minutes: float = 8.0, device: str = "cuda", bundle=None, dry: bool = False,
             work=None, only=None) -> dict:
    """Run the plan; write ``out/plan.json`` and the returned files; return the report."""
    out = Path(out)
    bundle = Path(bundle or (out / "bundle" if dry else ROOT / "gpu-bundle")).resolve()
    work = Path(work or (out / "work" if dry else "/tmp/lvc-plan")).resolve()
    if dry:
        device, minutes = "cpu", None
        _dry_bundle(bundle)
    plan = [j for j in jobs(bundle, dry) if not only or j.name in only]
    report = {j.name: {"priority": j.priority, "stage": j.stage} for j in plan}
    for job in plan:
        why = _missing(job, bundle)
        report[job.name]["status"] = f"skipped: {why}" if why else "queued"
    t0 = time.time()
    for stage, share in ((1, STAGE1), (2, 1 - STAGE1)):
        if stage == 2:
            _export_host(work, report)
        for j in plan:
            if j.stage == stage and j.after and report[j.name]["status"] == "queued" and \
                    report.get(j.after, {}).get("status") != "trained":
                report[j.name]["status"] = f"skipped: {j.after} did not train"
        todo = [j for j in plan if j.stage == stage and report[j.name]["status"] == "queued"]
        if todo:
            _run_stage(todo, work, device, minutes and minutes * share, dry, report)
    for job in plan:
        log = work / job.name / "log.jsonl"
        if log.is_file():
            rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
            last = next((r for r in reversed(rows) if "loss" in r or "bpp_y" in r), {})
            report[job.name]["last"] = last
    return collect(plan, work, out, report, time.time() - t0, device)


def collect(plan: list, work: Path, out: Path, report: dict, seconds: float,
            device: str) -> dict:
    """Put the trained checkpoints, by priority, into one tar (``ARCHIVE``) while the
    limits allow, split it into parts of at most ``MAX_FILE`` bytes, write plan.json."""
    import io
    import tarfile

    out.mkdir(parents=True, exist_ok=True)
    buf, total = io.BytesIO(), 0
    budget = min(MAX_TOTAL, (MAX_FILES - 1) * MAX_FILE) - 2**20  # room for plan.json
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for job in sorted(plan, key=lambda j: j.priority):
            ckpt = work / job.name / "checkpoint.safetensors"
            if report[job.name].get("status") != "trained" or not ckpt.is_file():
                continue
            size = ckpt.stat().st_size
            if total + size + 1024 > budget:
                report[job.name]["returned"] = f"dropped: {size} bytes do not fit the limits"
                continue
            tar.add(ckpt, arcname=f"{job.name}.safetensors")
            total += size + 1024
            report[job.name]["returned"] = True
            report[job.name]["bytes"] = size
    data = buf.getvalue()
    files = []
    for i in range(0, len(data), MAX_FILE):
        name = f"{ARCHIVE}.part{len(files)}"
        (out / name).write_bytes(data[i: i + MAX_FILE])
        files.append(name)
    doc = {"format": 1, "device": device, "seconds": round(seconds, 1), "jobs": report,
           "files": files}
    (out / "plan.json").write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def _dry_bundle(bundle: Path) -> None:
    """A few generated images where the bundle's data would be, for ``--dry``."""
    from PIL import Image

    from ..samples import sample_image

    for sub in ("train", "test", "val"):
        folder = bundle / "data" / "bsds500" / sub
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(2):
            Image.fromarray(sample_image(96, 80, seed=i)).save(folder / f"{i}.png")
    from ..codecs.diffusion.explicit import LEVELS

    for sub in ["orig"] + [f"L{i}" for i in range(len(LEVELS))]:
        (bundle / "data" / "dualdiff" / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(sample_image(96, 80, seed=3)).save(bundle / "data" / "dualdiff" / sub /
                                                           "a.png")


def unpack(folder: Path, names: list, dest: Path) -> list:
    """Join the returned parts and extract the checkpoints into ``dest``."""
    import io
    import tarfile

    data = b"".join((folder / name).read_bytes() for name in names)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and "/" not in m.name
                   and m.name.endswith(".safetensors") and not m.name.startswith(".")]
        tar.extractall(dest, members=members, filter="data")
    return [dest / m.name for m in members]


def bundle_items(shared: Path, dualdiff_data: Path) -> list:
    """(priority, bundle path, source) of everything a job may need, in priority order:
    what the plan's jobs read from the bundle (``jobs``)."""
    w, c = ROOT / "assets" / "weights", ROOT / "checkpoints"
    bsds = shared / "bsds500"
    return [(0, "lvc", ROOT / "lvc"),
            (1, "data/bsds500/train", bsds / "train"),
            (1, "data/bsds500/test", bsds / "test"),
            (1, "checkpoints/liveaction-image.safetensors",
             c / "liveaction-image" / "checkpoint.safetensors"),
            (2, "weights/manifest.json", w / "manifest.json"),
            (2, "weights/mbt2018-mean-tiny-q2.safetensors", w / "mbt2018-mean-tiny-q2.safetensors"),
            (3, "data/bsds500/val", (bsds / "val", VAL_IMAGES)),
            (4, "checkpoints/dualdiff.safetensors", c / "dualdiff" / "checkpoint.safetensors"),
            (4, "data/dualdiff", dualdiff_data),
            (5, "data/volumes", shared / "volumes"),
            (5, "data/hyperspectral", shared / "hyperspectral"),
            (6, "weights/mlicv2-tiny-q2.safetensors", w / "mlicv2-tiny-q2.safetensors")]


def _files(src) -> list:
    """The files of an item: a file, a folder's files, or the first N of a folder."""
    if isinstance(src, tuple):
        folder, n = src
        return sorted(p for p in folder.iterdir() if p.is_file())[:n]
    if src.is_file():
        return [src]
    return [p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and p.suffix != ".pyc"]


def make_bundle(out, shared="../shared", dualdiff_data="runs/dualdiff-data",
                budget_mb: float = 60, skip=()) -> dict:
    """The folder to send, filled in priority order while it stays under ``budget_mb``:
    package code, BSDS500, starting checkpoints and weights, the optional data. What does
    not fit is listed; the plan skips the jobs that need it (mlicv2-tiny's 32 MB start
    weights, for one, need a bundle of their own: ``--skip`` the rest)."""
    out = Path(out)
    if out.exists():
        raise BadInputError(f"{out} exists: remove it or pick another --out")
    shared = Path(shared) / "datasets"
    if not (shared / "bsds500").is_dir():
        raise MissingFileError(f"{shared / 'bsds500'}: BSDS500 is needed for the bundle")
    total, added, left = 0, [], {}
    for _, rel, src in bundle_items(shared, Path(dualdiff_data)):
        base = src[0] if isinstance(src, tuple) else src
        if not base.exists() or rel in skip:
            left[rel] = "skipped" if rel in skip else "missing here"
            continue
        files = _files(src)
        size = sum(f.stat().st_size for f in files)
        if total + size > budget_mb * 2**20:
            left[rel] = f"{size} bytes over the budget"
            continue
        for f in files:
            dst = out / rel / f.relative_to(base) if base.is_dir() else out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dst)
        total += size
        added.append(rel)
    return {"bundle": str(out), "bytes": total, "added": added, "left out": left}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["import"]:
        from .plan_import import main as import_main

        return import_main(argv[1:])
    if argv[:1] == ["bundle"]:
        ap = argparse.ArgumentParser(prog="python -m lvc.train plan bundle")
        ap.add_argument("--out", default="gpu-bundle")
        ap.add_argument("--shared", default="../shared")
        ap.add_argument("--dualdiff-data", default="runs/dualdiff-data")
        ap.add_argument("--budget-mb", type=float, default=60,
                        help="MiB; the lent machines take 64 MiB with the repository's own files")
        ap.add_argument("--skip", nargs="+", default=[], help="bundle paths to leave out")
        a = ap.parse_args(argv[1:])
        print(json.dumps(make_bundle(a.out, a.shared, a.dualdiff_data, a.budget_mb, a.skip),
                         indent=1))
        return 0
    ap = argparse.ArgumentParser(prog="python -m lvc.train plan", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=8.0, help="training time in all")
    ap.add_argument("--out", required=True, help="where plan.json and the returned files go")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--bundle", help="the sent folder (default gpu-bundle/)")
    ap.add_argument("--work", help="run folders (default /tmp/lvc-plan; OUT/work with --dry)")
    ap.add_argument("--only", nargs="+", help="run only these jobs")
    ap.add_argument("--dry", action="store_true",
                    help="the same plan on the CPU with tiny sizes, in seconds (a test)")
    a = ap.parse_args(argv)
    doc = run_plan(a.out, a.minutes, a.device, a.bundle, a.dry, a.work, a.only)
    for name, job in doc["jobs"].items():
        print(f"{job['priority']} {name}: {job['status']}; returned: {job.get('returned', '-')}")
    return 0
