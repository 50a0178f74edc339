"""Bjøntegaard deltas (BD-rate, BD-PSNR) on the ``bjontegaard`` package, and tables of them.

All points of both curves are used (``require_matching_points=False``) and the
integral runs over the range both curves cover, as the package does. Before calling
it, points with a NaN/inf value or a non-positive rate are dropped and the rest sorted
by rate; curves whose distortion does not increase with rate are left as they are, so
``cubic`` (a least-squares polynomial) still answers and ``pchip``/``akima`` (which need
a strictly monotonic curve) report why they cannot. Nothing here raises on bad curves:
a delta that cannot be computed is NaN with a ``warning`` saying why.

The package is imported lazily (it imports scipy and matplotlib).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import BadInputError
from .anchors import has_metric, points

METHODS = ("cubic", "pchip", "akima")
MIN_POINTS = 4  # a cubic fit needs four points
MIN_OVERLAP = 0.5  # below this fraction of the smaller curve's range, warn


@dataclass(frozen=True)
class BDResult:
    """A BD-rate: ``percent`` rate change of test vs reference at equal quality
    (negative = test saves bits; NaN when not computable), the interpolation
    ``method``, ``overlap`` (fraction of the smaller curve's distortion range that both
    curves cover) and a ``warning`` when the number should not be trusted."""

    percent: float
    method: str
    overlap: float
    warning: str | None = None


@dataclass(frozen=True)
class BDPSNRResult:
    """A BD-PSNR: ``db`` quality change of test vs reference at equal rate (positive =
    test is better); ``overlap`` is measured on the log-rate axis."""

    db: float
    method: str
    overlap: float
    warning: str | None = None


def _clean(rate, dist) -> tuple:
    r = np.asarray(rate, dtype=np.float64).ravel()
    d = np.asarray(dist, dtype=np.float64).ravel()
    if len(r) != len(d):
        raise ValueError(f"{len(r)} rates but {len(d)} distortion values")
    keep = np.isfinite(r) & np.isfinite(d) & (r > 0)
    order = np.argsort(r[keep], kind="stable")
    return r[keep][order], d[keep][order]


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of the smaller of the two ranges that both cover (0 when one is empty)."""
    smaller = min(np.ptp(a), np.ptp(b))
    if smaller <= 0:
        return 0.0
    both = min(a.max(), b.max()) - max(a.min(), b.min())
    return float(min(max(both, 0.0) / smaller, 1.0))


def _delta(kind: str, rate_ref, dist_ref, rate_test, dist_test, method: str) -> tuple:
    """(value, overlap, warning) of the package's ``bd_rate`` or ``bd_psnr``."""
    if method not in METHODS:
        raise BadInputError(f"unknown BD interpolation {method!r} (known: {', '.join(METHODS)})")
    notes = []
    try:
        rr, dr = _clean(rate_ref, dist_ref)
        rt, dt = _clean(rate_test, dist_test)
    except ValueError as e:
        return math.nan, math.nan, str(e)
    n = min(len(rr), len(rt))
    if n < 2:
        return math.nan, math.nan, "fewer than 2 valid points"
    if kind == "rate":
        overlap, axis = _overlap(dr, dt), "distortion"
    else:
        overlap, axis = _overlap(np.log10(rr), np.log10(rt)), "log-rate"
    if overlap == 0.0:
        return math.nan, overlap, f"the curves do not overlap in {axis}"
    if overlap < MIN_OVERLAP:
        notes.append(f"overlap {overlap:.0%} of the {axis} range is below {MIN_OVERLAP:.0%}: "
                     f"BD-{kind} is unreliable")
    for which, r, d in (("reference", rr, dr), ("test", rt, dt)):
        if not np.all(np.diff(d if kind == "rate" else r) > 0):
            notes.append(f"the {which} curve's quality does not rise strictly with rate")
    if n < MIN_POINTS:
        notes.append(f"fewer than {MIN_POINTS} points")
        if method == "cubic":
            return math.nan, overlap, "; ".join(notes)
    import bjontegaard

    func = bjontegaard.bd_rate if kind == "rate" else bjontegaard.bd_psnr
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = float(func(rr, dr, rt, dt, method, require_matching_points=False,
                               min_overlap=0.0))
        except Exception as e:  # the package's errors become a note, never a crash
            value = math.nan
            why = str(e) or "the curve is not monotonic"
            notes.append(f"{method}: {why}")
    notes += [f"{method}: {w.message}" for w in caught]
    if not math.isfinite(value) and not notes:
        notes.append(f"{method}: no finite result")
    return value, overlap, "; ".join(dict.fromkeys(notes)) or None


def bd_rate(rate_ref, dist_ref, rate_test, dist_test, method: str = "cubic") -> BDResult:
    """BD-rate in percent of ``test`` against ``ref`` (rates in bpp, distortion e.g. PSNR dB)."""
    value, overlap, warning = _delta("rate", rate_ref, dist_ref, rate_test, dist_test, method)
    return BDResult(value, method, overlap, warning)


def bd_psnr(rate_ref, dist_ref, rate_test, dist_test, method: str = "cubic") -> BDPSNRResult:
    """BD-PSNR (average quality difference in dB at equal rate) of ``test`` against ``ref``."""
    value, overlap, warning = _delta("PSNR", rate_ref, dist_ref, rate_test, dist_test, method)
    return BDPSNRResult(value, method, overlap, warning)


def bd_table(curves: dict, refs: list, metrics=("psnr-rgb", "ms-ssim-rgb"),
             methods=("cubic", "pchip")) -> list:
    """BD-rates of every curve against every reference, one row per (test, ref, metric).

    ``curves`` maps names to CompressAI-layout dicts; ``refs`` are names in it. Rows have
    ``test, ref, metric, bd_rate_<method>... , overlap, warning``. A curve is not compared
    with itself, and a pair is skipped for a metric either curve lacks. MS-SSIM metrics are
    compared in dB, -10 log10(1 - MS-SSIM), as CompressAI's plots show them (the BD
    integral then weights the high-quality end as the plots do).
    """
    missing = [r for r in refs if r not in curves]
    if missing:
        raise BadInputError(f"no curve named {missing[0]!r} to use as reference "
                            f"(have: {', '.join(curves) or 'none'})")
    rows = []
    for test, tc in curves.items():
        for ref in refs:
            if test == ref:
                continue
            for metric in metrics:
                if not (has_metric(tc, metric) and has_metric(curves[ref], metric)):
                    continue
                results = [bd_rate(*points(curves[ref], metric), *points(tc, metric), m)
                           for m in methods]
                row = {"test": test, "ref": ref, "metric": metric}
                row.update({f"bd_rate_{r.method}": r.percent for r in results})
                notes = [n for r in results if r.warning for n in r.warning.split("; ")]
                row["overlap"] = results[0].overlap if results else math.nan
                row["warning"] = "; ".join(dict.fromkeys(notes)) or None
                rows.append(row)
    return rows


def _percent(v) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:+.1f}%"


def _cell(s) -> str:
    return str(s).replace("|", "\\|")


def format_table(rows: list) -> str:
    """``bd_table`` rows as a Markdown table (BD-rates as +12.3%, warnings last)."""
    methods = list(dict.fromkeys(k[len("bd_rate_"):] for r in rows for k in r
                                 if k.startswith("bd_rate_"))) or ["cubic", "pchip"]
    head = ["test", "reference", "metric"] + [f"BD-rate ({m})" for m in methods] \
        + ["overlap", "warning"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (
        len(methods) + 1) + ["---"]) + "|"]
    for r in rows:
        overlap = r.get("overlap")
        cells = [r["test"], r["ref"], r["metric"]] \
            + [_percent(r.get(f"bd_rate_{m}")) for m in methods] \
            + ["n/a" if overlap is None or not math.isfinite(overlap) else f"{overlap:.0%}",
               r.get("warning") or ""]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)
