"""Candidate explicit levels of dualdiff on BSDS500 val (never Kodak): the base codec's
rate and PSNR for every shrink factor and quality, from which ``explicit.LEVELS`` takes
points on the rate-PSNR frontier.

    OMP_NUM_THREADS=1 python benchmarks/dualdiff_levels.py [--limit 8]

bpp counts the whole .lvc file of the shrunk image over the full-size pixels; PSNR is
of the reconstruction resized back to full size (what the diffusion prior sees).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

VAL = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "bsds500" / "val"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--factors", type=int, nargs="+", default=[4, 3, 2])
    args = ap.parse_args(argv)
    if not VAL.is_dir():
        sys.exit(f"error: {VAL} not found")
    from PIL import Image

    from lvc.codecs.diffusion.explicit import decode_explicit, encode_base
    from lvc.eval.metrics import image_metrics

    images = [np.asarray(Image.open(p).convert("RGB"))
              for p in sorted(VAL.glob("*.jpg"))[:args.limit]]
    print(f"{len(images)} BSDS500 val images\nfactor quality    bpp   PSNR")
    for factor in args.factors:
        for quality in range(1, 7):
            bpp, psnr = [], []
            for x in images:
                data = encode_base(x, factor, quality)
                bpp.append(8 * len(data) / (x.shape[0] * x.shape[1]))
                psnr.append(image_metrics(x, decode_explicit(data, x.shape))["psnr-rgb"])
            print(f"{factor:6d} {quality:7d} {np.mean(bpp):6.4f} {np.mean(psnr):6.2f}", flush=True)


if __name__ == "__main__":
    main()
