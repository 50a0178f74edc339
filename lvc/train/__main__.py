"""``python -m lvc.train <codec> [options]``: run a codec's training script."""

import importlib
import os
import sys

from ..errors import run_main

TRAINERS = {"liveaction": "lvc.codecs.liveaction.train", "pc": "lvc.codecs.pc.train",
            "mlicv2": "lvc.codecs.mlicv2.train", "iscs": "lvc.codecs.iscs.train",
            "dualdiff": "lvc.codecs.diffusion.train",
            "plan": "lvc.train.plan"}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in TRAINERS:
        print(f"usage: python -m lvc.train {{{','.join(TRAINERS)}}} [options]  (--help per codec)",
              file=sys.stderr)
        return 2
    code = run_main(importlib.import_module(TRAINERS[argv[0]]).main, argv[1:])
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Under torchrun, skip interpreter finalisation: gloo's worker threads can still
        # hold tensors then and abort the process (pytorch/pytorch#179291) after a run
        # that finished and wrote everything.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    return code


if __name__ == "__main__":
    sys.exit(main())
