"""The MPQ sweep: for every codec and quality, code each sample, run the task's model
on the decoded signal and score it against the model's output on the original (and
against the label, when the sample has one).

One job = (codec, quality, sample). Results are appended to ``results.csv`` as they
finish (statistics stored as JSON, rate from the whole ``.lvc`` file), so a re-run
skips what is measured. Curves pool each (codec, quality)'s statistics over the
samples that every codec coded successfully, so all points describe the same data.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from ...errors import BadInputError
from ...formats.files import write_bytes_atomic
from ..rd import append_row, read_rows
from .tasks import Task

CSV_FIELDS = ("codec", "quality", "sample", "sample_sha", "bytes", "rate", "agreement",
              "label", "encoding_time", "decoding_time", "status", "error")
_FLOATS = {"rate", "encoding_time", "decoding_time"}
_INTS = {"quality", "bytes"}
RATE_POINTS = 6  # equal-rate comparison points (log-spaced over all measured rates)


def sample_sha(sample) -> str:
    """Fingerprint of a sample's data, so a resumed run never mixes in rows measured on
    a different file of the same name."""
    import hashlib

    x = np.ascontiguousarray(sample.media.data)
    h = hashlib.sha256(f"{x.shape}{x.dtype}{sample.media.sample_rate}".encode())
    h.update(x.tobytes())
    return h.hexdigest()[:16]


def _plain(v):
    """json.dumps fallback for numpy scalars in a task's statistics."""
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"statistics must be numbers, not {type(v).__name__}")


def default_qualities(sweep: tuple, count: int = 4) -> tuple:
    """Up to ``count`` qualities spread evenly over a codec's default sweep."""
    if len(sweep) <= count:
        return tuple(sweep)
    idx = np.linspace(0, len(sweep) - 1, count).round().astype(int)
    return tuple(sweep[i] for i in sorted(set(idx)))


def run_job(task: Task, codec: str, quality: int, sample, reference, sha: str = "") -> dict:
    import lvc

    row = {"codec": codec, "quality": quality, "sample": sample.name, "sample_sha": sha,
           "status": "ok", "error": ""}
    try:
        t0 = time.perf_counter()
        data = lvc.encode(sample.media, codec, quality)
        t1 = time.perf_counter()
        decoded = lvc.decode_media(data)
        t2 = time.perf_counter()
        prediction = task.predict(decoded)
        row.update(bytes=len(data), rate=task.rate(sample.media, len(data)),
                   encoding_time=t1 - t0, decoding_time=t2 - t1,
                   agreement=json.dumps(task.compare(reference, prediction), default=_plain),
                   label="" if sample.label is None
                   else json.dumps(task.compare(sample.label, prediction), default=_plain))
    except Exception as e:  # one failure (codec, model or task) never stops a sweep
        row.update(status="failed", error=f"{type(e).__name__}: {e}".splitlines()[0])
    return row


def run(task: Task, samples: list, codecs: dict, out_dir, progress: bool | None = None) -> tuple:
    """Run the jobs not yet in ``out_dir/results.csv``; return (the rows of all jobs,
    the model's output on each original sample by name)."""
    from ..parallel import progress as progress_bar

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    marker = out / "task.txt"  # one task per folder: rows of two tasks never mix
    if marker.exists() and marker.read_text().strip() != task.name:
        raise BadInputError(f"{out} holds results of task {marker.read_text().strip()!r}, "
                            f"not {task.name!r}: use another --out folder")
    marker.write_text(task.name + "\n")
    csv_path = out / "results.csv"
    if csv_path.exists():
        with open(csv_path) as f:
            header = f.readline().strip().split(",")
        if header != list(CSV_FIELDS):
            raise BadInputError(f"{csv_path} has other columns than this version writes; "
                                "use a new --out folder")
    shas = {s.name: sample_sha(s) for s in samples}
    done = {(r["codec"], r["quality"], r["sample"]): r
            for r in read_rows(csv_path, _INTS, _FLOATS)
            if r["status"] == "ok" and r.get("sample_sha") == shas.get(r["sample"])}
    jobs = [(c, int(q), s) for c, qs in codecs.items() for q in qs for s in samples]
    todo = [j for j in jobs if (j[0], j[1], j[2].name) not in done]
    rows = [done[(c, q, s.name)] for c, q, s in jobs if (c, q, s.name) in done]
    references = {}
    with progress_bar(len(todo) + len(samples), f"{task.name}", progress) as advance:
        for s in samples:  # the original's prediction: the reference of every job
            references[s.name] = task.predict(s.media)
            advance()
        for codec, quality, s in todo:
            row = run_job(task, codec, quality, s, references[s.name], shas[s.name])
            append_row(csv_path, row, CSV_FIELDS)
            rows.append(row)
            advance()
    return rows, references


def _stats(rows: list, key: str) -> list:
    return [json.loads(r[key]) for r in rows if r.get(key)]


def curves_from_rows(task: Task, rows: list, samples: list) -> tuple:
    """(curves, excluded samples): per codec, qualities in increasing rate, with the mean
    rate, the task's metrics against the original's output, and ``<metric>-label``.
    A (codec, quality) that failed on every sample (say, a 4-channel model on mono
    clips) has no curve point and excludes no sample; its errors are in the summary."""
    ok = [r for r in rows if r["status"] == "ok"]
    combos = {(r["codec"], r["quality"]) for r in ok}
    measured = {(r["sample"], r["codec"], r["quality"]) for r in ok}
    good = [s.name for s in samples if all((s.name, c, q) in measured for c, q in combos)]
    excluded = sorted(set(s.name for s in samples) - set(good))
    keep = set(good)
    curves = {}
    for codec in sorted({c for c, _ in combos}):
        points = []
        for q in sorted({q for c, q in combos if c == codec}):
            sel = [r for r in ok if r["codec"] == codec and r["quality"] == q
                   and r["sample"] in keep]
            if not sel:
                continue
            point = {"quality": q, task.rate_unit: float(np.mean([r["rate"] for r in sel])),
                     **task.metrics(_stats(sel, "agreement"))}
            labelled = _stats(sel, "label")
            if labelled:
                point.update({f"{k}-label": v for k, v in task.metrics(labelled).items()})
            point["encoding_time"] = float(np.mean([r["encoding_time"] for r in sel]))
            point["decoding_time"] = float(np.mean([r["decoding_time"] for r in sel]))
            points.append(point)
        points.sort(key=lambda p: p[task.rate_unit])
        if points:
            curves[codec] = {"name": codec, "task": task.name,
                             "results": {k: [p.get(k) for p in points] for k in points[0]}}
    return curves, excluded


def value_at(curve: dict, rate_key: str, metric: str, rate: float) -> float | None:
    """The curve's metric at ``rate``, linear in log-rate between its measured points
    (sorted by rate); None outside the measured range."""
    r = np.asarray(curve["results"][rate_key], float)
    v = np.asarray(curve["results"][metric], float)
    if not len(r) or rate < r.min() * (1 - 1e-9) or rate > r.max() * (1 + 1e-9):
        return None
    order = np.argsort(r)
    return float(np.interp(math.log(rate), np.log(r[order]), v[order]))


def equal_rate_table(task: Task, curves: dict, metric: str) -> list:
    """Rows {rate, values: {codec: metric}, best: [codecs]} at ``RATE_POINTS`` rates
    spread log-uniformly over all measured rates, keeping the rates that at least two
    codecs cover; ``best`` lists every codec tied for the best value."""
    key = task.rate_unit
    have_metric = {n: c for n, c in curves.items() if metric in c["results"]}
    if len(have_metric) < 2:
        return []
    lo = min(min(c["results"][key]) for c in have_metric.values())
    hi = max(max(c["results"][key]) for c in have_metric.values())
    rows = []
    for rate in np.geomspace(lo, hi, RATE_POINTS) if lo < hi else [lo]:
        values = {n: value_at(c, key, metric, rate) for n, c in have_metric.items()}
        values = {n: v for n, v in values.items() if v is not None}
        if len(values) < 2:
            continue
        top = (max if task.higher_is_better else min)(values.values())
        rows.append({"rate": float(rate), "values": values,
                     "best": [n for n, v in values.items() if abs(v - top) <= 1e-9]})
    return rows


def evaluate(task: Task, dataset, codecs: dict, out_dir, limit: int | None = None,
             progress: bool | None = None) -> dict:
    """Run the sweep and write ``results.csv``, ``curves.json``, ``summary.json`` and
    ``mpq-<metric>.png`` (and ``mpq-<metric>-label.png`` with labels) to ``out_dir``;
    returns the summary."""
    from ..plots import rd_plot

    if not codecs:
        raise BadInputError(f"no codec to evaluate for the {task.modality} task {task.name}")
    samples = task.load(Path(dataset), limit)
    names = [s.name for s in samples]
    if len(set(names)) != len(names):
        raise BadInputError(f"{dataset}: sample names are not unique")
    task.setup()
    rows, references = run(task, samples, codecs, out_dir, progress)
    curves, excluded = curves_from_rows(task, rows, samples)
    labelled = [s for s in samples if s.label is not None]
    original = task.metrics([task.compare(s.label, references[s.name]) for s in labelled]) \
        if labelled else None
    out = Path(out_dir)
    metric = task.metric
    summary = {
        "task": task.name, "metric": metric, "higher_is_better": task.higher_is_better,
        "rate_unit": task.rate_unit, "dataset": str(dataset), "samples": len(samples),
        "labelled_samples": len(labelled), "original_vs_label": original,
        "excluded_samples": excluded,
        "failed_jobs": [{k: r[k] for k in ("codec", "quality", "sample", "error")}
                        for r in rows if r["status"] != "ok"],
        "curves": {n: c["results"] for n, c in curves.items()},
        "equal_rate": equal_rate_table(task, curves, metric),
    }
    if labelled:
        summary["equal_rate_label"] = equal_rate_table(task, curves, f"{metric}-label")
    write_bytes_atomic(out / "curves.json", json.dumps(curves, indent=1).encode(), overwrite=True)
    write_bytes_atomic(out / "summary.json", json.dumps(summary, indent=1).encode(),
                       overwrite=True)
    if curves:
        for m, what in [(metric, "against the original's output")] + \
                ([(f"{metric}-label", "against the labels")] if labelled else []):
            rd_plot(curves, m, out / f"mpq-{m}.png", measured=set(curves), rate=task.rate_unit,
                    title=f"{task.name}: {metric.upper()} {what}", ylabel=m)
    return summary
