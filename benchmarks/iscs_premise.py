"""ISCS premise check: do parameter statistics rank latent channels the way zeroing
them on Kodak does? One table row per shipped model.

    python benchmarks/iscs_premise.py [--models liveaction-rgb mbt2018-mean-tiny:2 ...]
        [--dataset ../shared/datasets/kodak] [--limit 24] [--crop 256]

Per model: the measured importance of each latent channel (mean PSNR drop over the
images' center crops when it is set to its mean, ``lvc.codecs.iscs.importance``) and
the Spearman correlation of every parameter-only statistic and of the ISCS score with
it; also the share of the total drop held by the 16 most important channels and by
the Salient-Core. Same computation as ``codec iscs analyze MODEL --measure DIR``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from lvc.codecs.iscs.layers import find_latent_layers
from lvc.codecs.iscs.models import load_target
from lvc.codecs.iscs.stats import STATISTICS, analyze
from lvc.eval.channel_importance import center_crops, psnr_drop, spearman

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = ("mbt2018-mean-tiny:1", "mbt2018-mean-tiny:2", "mbt2018-mean-tiny:3",
                  "mlicv2-tiny:1", "mlicv2-tiny:2", "mlicv2-tiny:3", "liveaction-rgb")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared" / "datasets" / "kodak"))
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--crop", type=int, default=256)
    args = ap.parse_args(argv)

    names = list(STATISTICS) + ["iscs_score"]
    print(f"Spearman correlation with the measured PSNR drop ({args.limit} images, "
          f"{args.crop or 'full'} crops)\n")
    print("| model | channels | " + " | ".join(names) + " | top-16 share | core (size) share "
          "| seconds |")
    print("|---|---:|" + "---:|" * len(names) + "---:|---:|---:|")
    for spec in args.models:
        t0 = time.time()
        target = load_target(spec)
        table = analyze(find_latent_layers(target.g_a, target.g_s, target.channels), spec)
        images = center_crops(args.dataset, args.limit, args.crop, target.factor)
        with torch.no_grad():
            drops = np.clip(psnr_drop(target.encode, target.decode, images), 0, None)
        rhos = [spearman(table.statistics[k], drops) for k in STATISTICS]
        rhos.append(spearman(table.score, drops))
        total = max(drops.sum(), 1e-12)
        top = np.sort(drops)[::-1][:16].sum() / total
        core = drops[table.core].sum() / total
        print(f"| {spec} | {target.channels} | " + " | ".join(f"{r:+.3f}" for r in rhos)
              + f" | {top:.0%} | {core:.0%} ({len(table.core)}) | {time.time() - t0:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
