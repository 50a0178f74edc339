"""``python -m lvc.train <codec> [options]``: run a codec's training script."""

import importlib
import sys

from ..errors import run_main

TRAINERS = {"liveaction": "lvc.codecs.liveaction.train", "pc": "lvc.codecs.pc.train",
            "mlicv2": "lvc.codecs.mlicv2.train", "iscs": "lvc.codecs.iscs.train",
            "dualdiff": "lvc.codecs.diffusion.train"}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in TRAINERS:
        print(f"usage: python -m lvc.train {{{','.join(TRAINERS)}}} [options]  (--help per codec)",
              file=sys.stderr)
        return 2
    return run_main(importlib.import_module(TRAINERS[argv[0]]).main, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
