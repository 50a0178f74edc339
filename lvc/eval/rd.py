"""Rate-distortion sweeps over a folder of images: per-image CSV, CompressAI-layout
curves, BD-rate tables and RD plots.

One job = (codec, quality, image): encode with ``lvc.encode``, decode, measure.
Rates count the whole ``.lvc`` file (``bpp``); ``native-bpp`` counts only the
codec's streams (for classical codecs: their own file, e.g. the JPEG).

Results are appended to ``results.csv`` as they finish, so an interrupted run
resumes: re-running skips every (codec, quality, image) already measured. Mean
curves use the images that succeeded for *every* evaluated (codec, quality), so
all curves average the same images; the summary lists what was left out and why.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BadInputError, LVCError, MissingFileError
from ..formats.files import write_bytes_atomic
from ..formats.media import to_rgb8

CSV_FIELDS = ("codec", "quality", "image", "width", "height", "bytes", "bpp", "native-bpp",
              "psnr-rgb", "psnr-y", "ms-ssim-rgb", "encoding_time", "decoding_time",
              "status", "error")
CURVE_KEYS = ("bpp", "native-bpp", "psnr-rgb", "psnr-y", "ms-ssim-rgb", "encoding_time",
              "decoding_time")
_FLOATS = set(CURVE_KEYS)
_INTS = {"quality", "width", "height", "bytes"}


@dataclass(frozen=True)
class Job:
    codec: str
    quality: int
    path: str
    metrics: tuple = ("psnr", "ms-ssim")

    @property
    def key(self) -> tuple:
        return (self.codec, self.quality, Path(self.path).name)


@dataclass
class RDResult:
    rows: list
    curves: dict
    bd_rows: list
    excluded: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)


def list_images(dataset) -> list:
    """Every non-hidden regular file of ``dataset`` (sorted); non-images fail per image."""
    folder = Path(dataset)
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: no such dataset directory")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise BadInputError(f"{folder}: no files to evaluate")
    return files


def load_rgb(path) -> np.ndarray:
    """An 8-bit RGB array for evaluation: gray is replicated, alpha dropped."""
    from ..formats.image_io import read_image

    x = read_image(path).data
    if x.dtype != np.uint8:
        raise BadInputError(f"{path}: RD evaluation needs 8-bit images, got {x.dtype}")
    return to_rgb8(x)


def run_job(job: Job) -> dict:
    """Measure one (codec, quality, image); user errors become a failed row."""
    import lvc
    from ..formats.container import read_header
    from .metrics import image_metrics

    codec, quality, image = job.key
    row = {"codec": codec, "quality": quality, "image": image, "status": "ok", "error": ""}
    try:
        x = load_rgb(job.path)
        t0 = time.perf_counter()
        data = lvc.encode(x, codec=codec, quality=quality)
        t1 = time.perf_counter()
        y = lvc.decode(data)
        t2 = time.perf_counter()
        header = read_header(data)
        pixels = x.shape[0] * x.shape[1]
        row.update(width=x.shape[1], height=x.shape[0], bytes=len(data),
                   bpp=8 * len(data) / pixels,
                   **{"native-bpp": 8 * sum(header.stream_lengths) / pixels},
                   encoding_time=t1 - t0, decoding_time=t2 - t1)
        row.update(image_metrics(x, y, _metric_names(job.metrics)))
    except (LVCError, OSError, ValueError) as e:  # one bad image never stops a sweep
        row.update(status="failed", error=f"{type(e).__name__}: {e}".splitlines()[0])
    return row


def _metric_names(metrics) -> tuple:
    return tuple(m for m in metrics if m in ("psnr", "ms-ssim", "lpips", "dists"))


def plan(dataset, codecs: dict, metrics=("psnr", "ms-ssim"), limit: int | None = None) -> list:
    """Jobs for ``codecs`` = {codec id: qualities} over the first ``limit`` images."""
    images = list_images(dataset)[:limit]
    return [Job(c, int(q), str(p), tuple(metrics)) for c, qs in codecs.items() for q in qs
            for p in images]


# ------------------------------------------------------------------ results file
def read_rows(path: Path, ints=_INTS, floats=_FLOATS) -> list:
    """Rows of a results CSV, with the ``ints`` and ``floats`` columns typed."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [_typed(r, ints, floats) for r in csv.DictReader(f)]


def _typed(row: dict, ints, floats) -> dict:
    out = dict(row)
    for k, v in row.items():
        if k in ints and v not in ("", None):
            out[k] = int(v)
        elif k in floats and v not in ("", None):
            out[k] = float(v)
    return out


def append_row(path: Path, row: dict, fields=CSV_FIELDS) -> None:
    """Append one row (header first on a new file): results survive an interrupted run."""
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


# ------------------------------------------------------------------ the sweep
def run(jobs: list, out_dir, workers: int = 1, scheduler: str | None = None,
        progress: bool | None = None) -> list:
    """Run the jobs not yet in ``out_dir/results.csv``; return all rows of those jobs.

    Failed rows are retried on the next run; successful ones are kept.
    """
    from .parallel import map_unordered
    from .parallel import progress as progress_bar

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "results.csv"
    done = {(r["codec"], r["quality"], r["image"]): r for r in read_rows(csv_path)
            if r["status"] == "ok"}
    todo = [j for j in jobs if j.key not in done]
    rows = [done[j.key] for j in jobs if j.key in done]
    with progress_bar(len(todo), "evaluating", progress) as advance:
        for _, row in map_unordered(run_job, todo, workers, scheduler):
            append_row(csv_path, row)
            rows.append(row)
            advance()
    return rows


def curve_with_weights(dataset, codec: str, qualities, weights, out_dir, limit: int | None = None,
                       workers: int = 1) -> dict:
    """``codec``'s mean RD curve on ``dataset`` with the weights installed in the folder
    ``weights`` (``LVC_WEIGHTS_DIR`` for the sweep; resumable in ``out_dir``): how two
    sets of weights of one codec are compared in one run."""
    import os

    old = os.environ.get("LVC_WEIGHTS_DIR")
    os.environ["LVC_WEIGHTS_DIR"] = str(Path(weights).resolve())
    try:
        rows = run(plan(dataset, {codec: list(qualities)}, limit=limit), out_dir, workers,
                   progress=False)
    finally:
        if old is None:
            os.environ.pop("LVC_WEIGHTS_DIR", None)
        else:
            os.environ["LVC_WEIGHTS_DIR"] = old
    curves, excluded = curves_from_rows(rows)
    if codec not in curves or excluded:
        raise BadInputError(f"{codec} with the weights in {weights} failed on "
                            f"{', '.join(excluded) or dataset}")
    return curves[codec]


def curves_from_rows(rows: list, dataset_name: str = "") -> tuple:
    """(curves, excluded): per-codec mean curves over the common successful images."""
    ok = [r for r in rows if r["status"] == "ok"]
    combos = {(r["codec"], r["quality"]) for r in rows}
    measured = {(r["image"], r["codec"], r["quality"]) for r in ok}
    good = {r["image"] for r in rows
            if all((r["image"], c, q) in measured for c, q in combos)}
    excluded = {}
    for r in rows:
        if r["status"] != "ok":
            excluded.setdefault(r["image"], []).append(f"{r['codec']}:{r['quality']}: {r['error']}")
    curves = {}
    for codec in sorted({c for c, _ in combos}):
        qs = sorted({q for c, q in combos if c == codec})
        results = {"quality": qs}
        for key in CURVE_KEYS:
            results[key] = [_mean([r.get(key) for r in ok if r["codec"] == codec
                                   and r["quality"] == q and r["image"] in good]) for q in qs]
        curves[codec] = {"name": codec,
                         "description": f"lvc {codec}, mean over {len(good)} images"
                                        + (f" of {dataset_name}" if dataset_name else ""),
                         "results": results}
    return curves, excluded


def _mean(values) -> float:
    """Order-independent mean (fsum), so parallel runs give bit-identical curves."""
    vals = [float(v) for v in values if v is not None and v != "" and math.isfinite(float(v))]
    return math.fsum(vals) / len(vals) if vals else float("nan")


def write_outputs(out_dir, curves: dict, anchors: dict, ref: str | None, excluded: dict,
                  metrics=("psnr-rgb", "ms-ssim-rgb")) -> tuple:
    """Curves JSON, BD-rate table (md + json) and RD plots; returns (bd_rows, files)."""
    from .bdrate import bd_table, format_table
    from .plots import rd_plot

    out = Path(out_dir)
    (out / "curves").mkdir(parents=True, exist_ok=True)
    files = {}
    for name, c in curves.items():
        files[f"curve:{name}"] = write_bytes_atomic(out / "curves" / f"{name}.json",
                                                    (json.dumps(c, indent=1) + "\n").encode(),
                                                    overwrite=True)
    everything = {**anchors, **curves}
    refs = ([ref] if ref and ref in everything else []) + [a for a in anchors if a != ref]
    bd_rows = [r for r in bd_table(everything, refs, metrics) if r["test"] in curves]
    files["bd_md"] = write_bytes_atomic(out / "bd-rate.md", (format_table(bd_rows) + "\n").encode(),
                                        overwrite=True)
    files["bd_json"] = write_bytes_atomic(out / "bd-rate.json",
                                          (json.dumps(bd_rows, indent=1) + "\n").encode(),
                                          overwrite=True)
    for metric in metrics:
        if any(metric in c["results"] for c in curves.values()):
            files[f"plot:{metric}"] = rd_plot(everything, metric, out / f"rd-{metric}.png",
                                              measured=tuple(curves))
    if excluded:
        files["excluded"] = write_bytes_atomic(out / "excluded.json",
                                               (json.dumps(excluded, indent=1) + "\n").encode(),
                                               overwrite=True)
    return bd_rows, files


def evaluate(dataset, codecs: dict, out_dir, metrics=("psnr", "ms-ssim"), ref: str | None = None,
             anchors: dict | None = None, workers: int = 1, scheduler: str | None = None,
             limit: int | None = None, progress: bool | None = None) -> RDResult:
    """The whole ``codec eval rd``: sweep, curves, BD-rates, plots, summary.json."""
    jobs = plan(dataset, codecs, metrics, limit)
    rows = run(jobs, out_dir, workers, scheduler, progress)
    curves, excluded = curves_from_rows(rows, Path(dataset).name)
    curve_metrics = tuple(m for m, need in (("psnr-rgb", "psnr"), ("ms-ssim-rgb", "ms-ssim"))
                          if need in metrics)
    bd_rows, files = write_outputs(out_dir, curves, anchors or {}, ref, excluded, curve_metrics)
    result = RDResult(rows, curves, bd_rows, excluded, {k: str(v) for k, v in files.items()})
    summary = summarize(result, dataset, ref)
    write_bytes_atomic(Path(out_dir) / "summary.json", (json.dumps(summary, indent=1) + "\n")
                       .encode(), overwrite=True)
    return result


def summarize(result: RDResult, dataset, ref) -> dict:
    images = {r["image"] for r in result.rows}
    return {
        "dataset": str(dataset), "reference": ref, "images": len(images),
        "jobs": len(result.rows),
        "failed_jobs": sum(r["status"] != "ok" for r in result.rows),
        "skipped_images": len(result.excluded),
        "excluded": result.excluded,
        "curves": {k: v["results"] for k, v in result.curves.items()},
        "bd_rate": result.bd_rows,
        "files": result.files,
    }
