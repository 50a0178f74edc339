"""``python -m lvc.train plan import DIR``: bring a GPU plan's results home.

Joins the returned parts into ``DIR/merged/<job>.safetensors``, then judges each run on
held-out BSDS500 *val* images (never Kodak) against what ships, in one run:

- ``liveaction-rgb``: exported with the shipped quality levels, both curves at every
  quality; shipped when its BD-rate (PSNR) against the shipped weights is negative. The
  checkpoint becomes ``checkpoints/liveaction-image/checkpoint.safetensors``.
- ``mlicv2-tiny-q2`` / ``mbt2018-mean-tiny-q2``: the rate-distortion cost
  ``bpp + lambda 255^2 MSE`` at quality 2; shipped when lower. A new mbt2018-mean-tiny
  host ships only together with the ISCS slice runs trained on it (the slice codecs
  check their host's sha256). q1/q3 are then fine-tuned from the new q2 on the CPU
  (``benchmarks/train_mlicv2_cpu.sh``).
- dualdiff and the volume/cube models are joined and reported with the command that
  exports them; they are not judged automatically.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
from pathlib import Path

from ..errors import BadInputError, MissingFileError
from .checkpoint import checkpoint_meta
from .plan import ROOT, unpack

VAL = "../shared/datasets/bsds500/val"
FIT = "../shared/datasets/bsds500/train"
LMBDA = 0.0067


def merge(folder: Path) -> dict:
    """{job: merged checkpoint path} of every job whose parts came back."""
    path = folder / "plan.json"
    if not path.is_file():
        raise MissingFileError(f"{path}: not the output of python -m lvc.train plan")
    doc = json.loads(path.read_text())
    missing = [n for n in doc["files"] if not (folder / n).is_file()]
    if missing:
        raise MissingFileError(f"{folder}: returned part {missing[0]} is missing")
    merged = {}
    for ckpt in unpack(folder, doc["files"], folder / "merged"):
        checkpoint_meta(ckpt)  # a damaged file is a one-line error here
        merged[ckpt.name[: -len(".safetensors")]] = ckpt
    return merged


def judge_liveaction(ckpt: Path, weights: Path, val, limit, fit, work: Path) -> dict:
    from ..codecs.liveaction.weights import export_weights
    from ..codecs.manifest import manifest_entry
    from ..eval.bdrate import bd_rate
    from ..eval.rd import curve_with_weights

    shipped = manifest_entry("liveaction-rgb", directory=weights)
    if shipped is None:
        raise MissingFileError(f"no liveaction-rgb weights in {weights} to compare with")
    meta = checkpoint_meta(ckpt)
    same = meta.get("config") == shipped.get("config")  # else its own levels (other network)
    levels = [tuple(level) for level in (shipped if same else meta)["rate_levels"]]
    new = work / "liveaction-rgb"
    export_weights(ckpt, new / "liveaction-rgb.safetensors", fit, rate_levels=levels)
    qs = range(1, len(levels) + 1)
    old_qs = range(1, len(shipped["rate_levels"]) + 1)
    old_c = curve_with_weights(val, "liveaction-rgb", old_qs, weights, work / "rows-old", limit)
    new_c = curve_with_weights(val, "liveaction-rgb", qs, new, work / "rows-new", limit)
    r = lambda c: (c["results"]["bpp"], c["results"]["psnr-rgb"])  # noqa: E731
    bd = bd_rate(*r(old_c), *r(new_c))
    pct = None if math.isnan(bd.percent) else round(bd.percent, 2)  # NaN: no overlap
    return {"bd_rate_psnr": pct, "better": pct is not None and pct < 0, "weights": new,
            "levels": levels}


def judge_rd(codec: str, ckpt: Path, weights: Path, val, limit, work: Path) -> dict:
    from ..codecs.mlicv2.weights import export
    from ..eval.rd import curve_with_weights

    new = work / codec
    export(ckpt, 2, new)

    def cost(folder, rows):
        res = curve_with_weights(val, codec, [2], folder, work / rows, limit)["results"]
        mse = 10 ** (-res["psnr-rgb"][0] / 10)  # [0, 1] scale, as the training loss
        return res["bpp"][0] + LMBDA * 255 ** 2 * mse

    old_j, new_j = cost(weights, f"rows-{codec}-old"), cost(new, f"rows-{codec}-new")
    return {"cost_shipped": round(old_j, 4), "cost_new": round(new_j, 4),
            "better": new_j < old_j, "weights": new}


def ship_liveaction(ckpt: Path, weights: Path, levels, fit, bd: float) -> None:
    from ..codecs.liveaction.weights import export_weights

    meta = checkpoint_meta(ckpt)
    export_weights(ckpt, weights / "liveaction-rgb.safetensors", fit, rate_levels=levels,
                   manifest_fields={"training_chain": meta.get("continued_from"),
                                    "gpu_plan": {k: meta.get(k) for k in (
                                        "hardware", "wall_seconds", "steps_target", "lr",
                                        "precision", "world_size")},
                                    "level_choice": f"GPU plan import: BD-rate (PSNR) "
                                                    f"{bd:+.1f}% vs the weights it replaced "
                                                    f"on BSDS500 val"})
    dest = ROOT / "checkpoints" / "liveaction-image" / "checkpoint.safetensors"
    shutil.copyfile(ckpt, dest)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lvc.train plan import", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="the plan's returned files (plan.json and parts)")
    ap.add_argument("--val", default=VAL, help="held-out images the runs are judged on")
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--fit-images", default=FIT, help="training images for latent tables")
    ap.add_argument("--weights-dir", default=str(ROOT / "assets" / "weights"))
    ap.add_argument("--only", nargs="+", help="judge only these jobs")
    ap.add_argument("--no-ship", action="store_true", help="judge, change nothing")
    a = ap.parse_args(argv)
    folder, weights = Path(a.folder), Path(a.weights_dir)
    if not Path(a.val).is_dir():
        raise MissingFileError(f"{a.val}: no validation images")
    merged = merge(folder)
    if a.only:
        merged = {k: v for k, v in merged.items() if k in a.only}
    report = {}
    with tempfile.TemporaryDirectory(prefix="lvc-plan-import-") as tmp:
        work = Path(tmp)
        if "liveaction-rgb" in merged:
            res = judge_liveaction(merged["liveaction-rgb"], weights, a.val, a.limit,
                                   a.fit_images, work)
            if res["better"] and not a.no_ship:
                ship_liveaction(merged["liveaction-rgb"], weights, res["levels"], a.fit_images,
                                res["bd_rate_psnr"])
            report["liveaction-rgb"] = {k: v for k, v in res.items() if k != "weights"}
        for codec in ("mlicv2-tiny", "mbt2018-mean-tiny"):
            if f"{codec}-q2" not in merged:
                continue
            res = judge_rd(codec, merged[f"{codec}-q2"], weights, a.val, a.limit, work)
            slices = [f"{c}-q2" for c in ("mbt2018-mean-tiny-iscs", "mbt2018-mean-tiny-slices")]
            if codec == "mbt2018-mean-tiny" and res["better"] and \
                    not all(s in merged for s in slices):
                res["better"], res["note"] = False, "kept: the ISCS slice runs on this host " \
                                                    "did not come back"
            if res["better"] and not a.no_ship:
                from ..codecs.mlicv2.weights import export

                export(merged[f"{codec}-q2"], 2, weights)
                if codec == "mbt2018-mean-tiny":
                    from ..codecs.iscs.weights import export as export_slices

                    for s in slices:
                        export_slices(merged[s], weights)
            report[f"{codec}-q2"] = {k: v for k, v in res.items() if k != "weights"}
    for name in ("dualdiff", "liveaction-volume", "liveaction-hsi"):
        if name in merged:
            cmd = ("python -m lvc.train dualdiff export" if name == "dualdiff" else
                   "python -m lvc.codecs.liveaction.export --checkpoint")
            report[name] = {"merged": str(merged[name]),
                            "not judged": f"evaluate, then: {cmd} {merged[name]}"}
    if not report:
        raise BadInputError(f"{folder}: no returned checkpoint to import")
    print(json.dumps(report, indent=1, default=str))
    return 0
