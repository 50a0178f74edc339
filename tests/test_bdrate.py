"""BD-rate on the bjontegaard package: published anchors and synthetic curves."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lvc.errors import BadInputError
from lvc.eval.anchors import curve, load_curves
from lvc.eval.bdrate import BDResult, bd_psnr, bd_rate, bd_table, format_table

ANCHORS = Path(__file__).resolve().parents[1] / ".." / "shared" / "anchors" / "kodak"
needs_anchors = pytest.mark.skipif(not ANCHORS.is_dir(), reason="needs ../shared/anchors/kodak")


def _anchor_bd(test_file: str) -> dict:
    curves = load_curves([ANCHORS / "vtm.json", ANCHORS / test_file])
    ref, test = (curves[n]["results"] for n in curves)
    return {m: bd_rate(ref["bpp"], ref["psnr-rgb"], test["bpp"], test["psnr-rgb"], m)
            for m in ("cubic", "pchip")}


@needs_anchors
def test_bmshj2018_hyperprior_vs_vtm_matches_published_value():
    bd = _anchor_bd("compressai-bmshj2018-hyperprior_mse_cuda.json")
    print({m: r.percent for m, r in bd.items()})
    assert bd["cubic"].percent == pytest.approx(30.1, abs=1.0)
    assert bd["pchip"].percent == pytest.approx(30.5, abs=1.0)
    assert bd["cubic"].warning is None and bd["cubic"].overlap == pytest.approx(1.0)


@needs_anchors
def test_mlicpp_vs_vtm_matches_published_value():
    bd = _anchor_bd("paper-mlicpp_mse.json")
    print({m: r.percent for m, r in bd.items()})
    for r in bd.values():
        assert r.percent == pytest.approx(-15.1, abs=1.5)


# ------------------------------------------------------------------ synthetic curves
BPP = np.array([0.1, 0.2, 0.4, 0.8, 1.6, 3.2])
PSNR = 24 + 4 * np.log2(BPP / 0.1)  # 24..44 dB
MSSSIM = 1 - 0.1 * (BPP / 0.1) ** -0.7


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_constant_rate_factor_gives_that_bd_rate(method):
    r = bd_rate(BPP, PSNR, 0.8 * BPP, PSNR, method)
    assert isinstance(r, BDResult) and r.method == method
    assert r.percent == pytest.approx(-20.0, abs=1e-6)
    assert r.overlap == pytest.approx(1.0) and r.warning is None


@pytest.mark.parametrize("method", ["cubic", "pchip", "akima"])
def test_identical_curves_give_zero(method):
    assert bd_rate(BPP, PSNR, BPP, PSNR, method).percent == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(BPP, PSNR, BPP, PSNR, method).db == pytest.approx(0.0, abs=1e-9)


def test_bd_psnr_of_a_constant_quality_shift():
    assert bd_psnr(BPP, PSNR, BPP, PSNR + 0.5).db == pytest.approx(0.5, abs=1e-9)


def test_small_overlap_warns():
    r = bd_rate(BPP, PSNR, BPP, PSNR + 14)  # test covers 38..58 dB, ref 24..44 dB
    assert r.overlap == pytest.approx(0.3)
    assert r.warning and "overlap 30%" in r.warning and "unreliable" in r.warning
    assert math.isfinite(r.percent)


def test_disjoint_curves_are_nan_not_an_error():
    r = bd_rate(BPP, PSNR, BPP, PSNR + 30)
    assert math.isnan(r.percent) and r.overlap == 0.0 and "do not overlap" in r.warning


def test_points_are_cleaned_and_sorted():
    rate = np.r_[BPP[::-1], np.nan, 0.0, -1.0]
    dist = np.r_[PSNR[::-1], 30.0, 30.0, 30.0]
    r = bd_rate(rate, dist, 0.8 * BPP, PSNR, "pchip")
    assert r.percent == pytest.approx(-20.0, abs=1e-6) and r.warning is None


def test_few_points():
    r = bd_rate(BPP[:3], PSNR[:3], BPP[:3], PSNR[:3], "cubic")
    assert math.isnan(r.percent) and "fewer than 4 points" in r.warning
    r = bd_rate(BPP[:3], PSNR[:3], 0.8 * BPP[:3], PSNR[:3], "pchip")
    assert r.percent == pytest.approx(-20.0, abs=1e-6) and "fewer than 4 points" in r.warning
    assert "fewer than 2" in bd_rate(BPP[:1], PSNR[:1], BPP, PSNR).warning


def test_non_monotonic_curve_is_handled_like_the_package():
    bumpy = PSNR.copy()
    bumpy[3] = bumpy[2] - 0.5  # quality drops while rate rises
    cubic = bd_rate(BPP, PSNR, BPP, bumpy, "cubic")
    pchip = bd_rate(BPP, PSNR, BPP, bumpy, "pchip")
    assert math.isfinite(cubic.percent) and "test curve's quality does not rise" in cubic.warning
    assert math.isnan(pchip.percent) and "pchip: " in pchip.warning


def test_unknown_method_is_a_caller_error():
    with pytest.raises(BadInputError):
        bd_rate(BPP, PSNR, BPP, PSNR, "linear")


def _three():
    return {
        "a": curve("a", "", {"bpp": BPP, "psnr-rgb": PSNR, "ms-ssim-rgb": MSSSIM}),
        "b": curve("b", "", {"bpp": 0.8 * BPP, "psnr-rgb": PSNR, "ms-ssim-rgb": MSSSIM}),
        "c": curve("c", "no ms-ssim", {"bpp": 1.25 * BPP, "psnr-rgb": PSNR}),
    }


def test_bd_table_rows_and_self_pairs():
    rows = bd_table(_three(), refs=["a", "b"])
    keys = [(r["test"], r["ref"], r["metric"]) for r in rows]
    assert keys == [("a", "b", "psnr-rgb"), ("a", "b", "ms-ssim-rgb"),
                    ("b", "a", "psnr-rgb"), ("b", "a", "ms-ssim-rgb"),
                    ("c", "a", "psnr-rgb"), ("c", "b", "psnr-rgb")]
    assert list(rows[0]) == ["test", "ref", "metric", "bd_rate_cubic", "bd_rate_pchip",
                             "overlap", "warning"]
    by = {k: r for k, r in zip(keys, rows)}
    assert by[("b", "a", "ms-ssim-rgb")]["bd_rate_pchip"] == pytest.approx(-20.0, abs=1e-6)
    assert by[("a", "b", "psnr-rgb")]["bd_rate_cubic"] == pytest.approx(25.0, abs=1e-6)
    assert by[("c", "b", "psnr-rgb")]["bd_rate_cubic"] == pytest.approx(56.25, abs=1e-6)
    assert all(r["warning"] is None for r in rows)
    with pytest.raises(BadInputError):
        bd_table(_three(), refs=["nope"])


def test_ms_ssim_bd_rate_is_on_decibels():
    factor = np.linspace(0.5, 1.0, len(BPP))  # a saving that shrinks with quality
    curves = {"a": curve("a", "", {"bpp": BPP, "ms-ssim-rgb": MSSSIM}),
              "b": curve("b", "", {"bpp": factor * BPP, "ms-ssim-rgb": MSSSIM})}
    (row,) = bd_table(curves, ["a"], metrics=("ms-ssim-rgb",), methods=("pchip",))
    db = -10 * np.log10(1 - MSSSIM)
    on_db = bd_rate(BPP, db, factor * BPP, db, "pchip").percent
    on_raw = bd_rate(BPP, MSSSIM, factor * BPP, MSSSIM, "pchip").percent
    assert row["bd_rate_pchip"] == pytest.approx(on_db, abs=1e-9)
    assert abs(on_db - on_raw) > 1.0


def test_format_table_renders():
    rows = bd_table(_three(), refs=["a"])
    rows.append({**rows[0], "bd_rate_cubic": float("nan"), "warning": "fewer than 4 points"})
    text = format_table(rows)
    lines = text.splitlines()
    assert lines[0].startswith("| test | reference | metric | BD-rate (cubic) | BD-rate (pchip)")
    assert "| -20.0% |" in text and "| +25.0% |" in text and "| 100% |" in text
    assert lines[-1].endswith("| fewer than 4 points |") and "n/a" in lines[-1]
    assert len(lines) == 2 + len(rows)
    assert format_table([]).count("\n") == 1
