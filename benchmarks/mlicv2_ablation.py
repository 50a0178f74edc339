"""Ablation at one rate: MLIC++-tiny (every v2 addition off) against MLICv2-tiny,
trained with the same budget, measured on real files with the RD harness.

    python benchmarks/mlicv2_ablation.py --runs runs/mlicv2-tiny-base-0.0067 \\
        runs/mlicv2-tiny-0.0067 [--dataset ../shared/datasets/kodak] [--workers 1]

Each run folder's checkpoint is exported (float16, as shipped) into its own temporary
weights folder as ``mlicv2-tiny`` quality 2 (the codec builds the network from the
config in the manifest entry) and evaluated by ``lvc.eval.rd`` into
``results/mlicv2-ablation/<run>``. Prints parameters, steps, mean bpp (whole file),
PSNR and the training objective ``lambda * 255^2 * MSE + bpp`` per run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from lvc.codecs.mlicv2.weights import export
from lvc.eval import rd

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared" / "datasets" / "kodak"))
    ap.add_argument("--out", default=str(ROOT / "results" / "mlicv2-ablation"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--limit", type=int)
    args = ap.parse_args(argv)

    print("| run | v2 additions | parameters | steps | lambda | bpp | PSNR (dB) | RD cost |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for run in map(Path, args.runs):
        with tempfile.TemporaryDirectory() as weights:
            entry = export(run / "checkpoint.safetensors", 2, weights, codec_id="mlicv2-tiny")
            os.environ["LVC_WEIGHTS_DIR"] = weights
            res = rd.evaluate(args.dataset, {"mlicv2-tiny": [2]}, Path(args.out) / run.name,
                              metrics=("psnr",), workers=args.workers, limit=args.limit,
                              progress=False)
        ok = [r for r in res.rows if r["status"] == "ok"]
        bpp = np.mean([r["bpp"] for r in ok])
        psnr = np.mean([r["psnr-rgb"] for r in ok])
        cost = np.mean([entry["lmbda"] * 255 ** 2 * 10 ** (-r["psnr-rgb"] / 10) + r["bpp"]
                        for r in ok])
        cfg = entry["config"]
        extras = [k for k in ("token_mixer", "hyper_global", "reweight", "rope") if cfg[k]]
        print(f"| {run.name} | {', '.join(extras) or 'none (MLIC++)'} | {entry['parameters']:,} "
              f"| {entry['steps_total']} | {entry['lmbda']} | {bpp:.4f} | {psnr:.2f} | "
              f"{cost:.4f} |", flush=True)


if __name__ == "__main__":
    main()
