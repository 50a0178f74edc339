"""Print a LiVeAction model's parameters and MACs per pixel, encoder and decoder apart.

    python -m lvc.codecs.liveaction.info [--height 512 --width 768] [--paper]

Uses the installed weights' configuration (``weights.py``), the training default
(``train.SMALL``) when none is installed, or the paper's F16 C12 model with ``--paper``.
Counting runs on the meta device: no weights are loaded and nothing is computed.
"""

from __future__ import annotations

import argparse


def main(argv=None) -> dict:
    from .model import LiVeAction, LiVeActionConfig, complexity
    from .train import SMALL
    from .weights import CODEC_ID, read_manifest

    ap = argparse.ArgumentParser(prog="python -m lvc.codecs.liveaction.info", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--paper", action="store_true", help="the paper's F16 C12 configuration")
    args = ap.parse_args(argv)
    entry = next((e for e in read_manifest()["weights"] if e.get("codec") == CODEC_ID), None)
    if args.paper:
        config, source = LiVeActionConfig(), "paper F16 C12"
    elif entry:
        config, source = LiVeActionConfig.from_dict(entry["config"]), f"installed {entry['file']}"
    else:
        config, source = LiVeActionConfig(**SMALL), "train.SMALL (no weights installed)"
    import torch

    with torch.device("meta"):
        model = LiVeAction(config)
    c = complexity(model, args.height, args.width)
    print(f"{source}: {args.width}x{args.height}, latent {c['latent_shape']}")
    for part in ("encoder", "decoder"):
        print(f"  {part}: {c[part + '_params'] / 1e6:.3f} M parameters, "
              f"{c[part + '_macs_per_pixel'] / 1e3:.2f} kMAC/pixel (WPT included)")
    return c


if __name__ == "__main__":
    import sys

    from ...errors import run_main

    sys.exit(run_main(main))
