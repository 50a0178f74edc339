"""Export a LiVeAction training checkpoint as shipped weights (see ``weights.py``).

    python -m lvc.codecs.liveaction.export \\
        --checkpoint runs/liveaction-image/checkpoint.safetensors \\
        --out assets/weights/liveaction-rgb.safetensors

Rounds the model to float16, fits the latent entropy tables on BSDS500 training images
(never Kodak), writes the safetensors file atomically and updates the manifest.json
next to it (sha256, size, config, rate levels, training steps, wall time, hardware).
The audio, hyperspectral and volume models (``signals.py``; the checkpoint names its
codec) fit their tables on their own training split instead and are written to
``assets/weights/<codec>.safetensors`` by default. ``--levels`` ships other (channels, step) levels than the checkpoint's: the decoder
decodes any step, and the shipped set was chosen on BSDS500 *val* RD points.
"""

from __future__ import annotations

import argparse
import json

from .train import parse_levels
from .weights import CODEC_ID, DEFAULT_FIT_DIR, DEFAULT_FIT_IMAGES, checkpoint_meta, \
    export_weights


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m lvc.codecs.liveaction.export",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="training checkpoint (.safetensors)")
    ap.add_argument("--out", help="weights file to write; its folder holds manifest.json "
                                  "(default assets/weights/<codec>.safetensors)")
    ap.add_argument("--fit-images", default=DEFAULT_FIT_DIR,
                    help="folder of training images for the latent tables")
    ap.add_argument("--n-fit-images", type=int, default=DEFAULT_FIT_IMAGES)
    ap.add_argument("--pseudocount", type=float, default=0.05)
    ap.add_argument("--levels", nargs="+", metavar="K:STEP",
                    help="quality levels to ship (channels:step, low to high rate); "
                         "default: the checkpoint's")
    ap.add_argument("--field", action="append", default=[], metavar="KEY=JSON",
                    help="extra manifest field (JSON value, or a plain string); repeatable")
    args = ap.parse_args(argv)
    fields = {}
    for item in args.field:
        key, _, value = item.partition("=")
        try:
            fields[key] = json.loads(value)
        except ValueError:
            fields[key] = value
    levels = parse_levels(args.levels) if args.levels else None
    out = args.out or (f"assets/weights/"
                       f"{checkpoint_meta(args.checkpoint).get('codec', CODEC_ID)}.safetensors")
    entry = export_weights(args.checkpoint, out, args.fit_images, args.n_fit_images,
                           fields, args.pseudocount, levels)
    print(json.dumps(entry, indent=1))
    return entry


if __name__ == "__main__":
    import sys

    from ...errors import run_main

    sys.exit(run_main(main))
