"""RD points of candidate LiVeAction quality levels (channels, step), to choose the shipped set.

Exports the checkpoint with the given levels to a temporary folder (tables fitted on
BSDS500 train) and codes the first ``--count`` images of ``--images`` (BSDS500 *val* by
default: the choice must not look at Kodak) at each level, printing mean whole-file
bpp and PSNR. The shipped levels were chosen from these runs:

    python benchmarks/liveaction_levels.py --checkpoint runs/liveaction-image/checkpoint.safetensors \\
        --levels 12:2 24:2 24:3 24:4 36:3 48:2 48:3 192:2
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import lvc
from lvc.codecs.liveaction.train import parse_levels
from lvc.eval.bench import load_images
from lvc.eval.metrics import psnr

ROOT = Path(__file__).resolve().parents[1]
VAL = ROOT.parent / "shared" / "datasets" / "bsds500" / "val"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--levels", nargs="+", required=True, metavar="K:STEP",
                    help="at most 8 channels:step pairs (the codec's quality range)")
    ap.add_argument("--images", default=str(VAL))
    ap.add_argument("--count", type=int, default=6)
    ap.add_argument("--fit-images", type=int, default=50)
    args = ap.parse_args(argv)
    levels = parse_levels(args.levels)
    if len(levels) > 8:
        ap.error("at most 8 levels per run (quality 1..8)")
    from lvc.codecs.liveaction.weights import export_weights

    images = load_images(args.images, args.count)
    with tempfile.TemporaryDirectory(prefix="lvc-levels-") as tmp:
        export_weights(args.checkpoint, Path(tmp) / "liveaction-rgb.safetensors",
                       n_fit_images=args.fit_images, rate_levels=levels)
        os.environ["LVC_WEIGHTS_DIR"] = tmp
        print(f"{len(images)} images of {args.images}")
        print("| channels | step | bpp | PSNR dB |\n|---:|---:|---:|---:|")
        for quality, (k, step) in enumerate(levels, 1):
            bpp = dist = 0.0
            for image in images:
                blob = lvc.encode(image, "liveaction-rgb", quality)
                bpp += 8 * len(blob) / (image.shape[0] * image.shape[1])
                dist += psnr(image, lvc.decode(blob))
            print(f"| {k} | {step:g} | {bpp / len(images):.3f} | {dist / len(images):.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
