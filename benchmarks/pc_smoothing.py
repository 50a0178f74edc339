"""How the MNIST model's leaf smoothing was chosen: on a validation split of the
*training* images (fit on the first 7,000 of the 8,000, validate on the last 1,000),
never on the evaluation images.

    python benchmarks/pc_smoothing.py [--hidden 16] [--full-epochs 10]

Each setting trains an HCLT the way ``python -m lvc.train pc`` does (Chow-Liu tree of
the first 3,000 fit images, 2 mini-batch EM epochs, then full-batch EM) with
``--smooth LO HI SIGMA WEIGHT`` (``HCLT.smooth_values``) or none, and prints the
validation bits per dimension. About a minute per setting at H = 16.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from lvc.codecs.pc.data import load
from lvc.codecs.pc.hclt import HCLT
from lvc.codecs.pc.structure import chow_liu_tree

SETTINGS = [None, (1, 250, 4, 0.8), (1, 250, 2, 0.7), (1, 252, 4, 0.8), (1, 250, 6, 0.9)]


def train(tree, fit, hidden: int, smooth, full_epochs: int, batch: int = 1000) -> HCLT:
    model = HCLT.random(tree, hidden, 256, 0, data=fit)
    rng = np.random.default_rng(0)
    for step in (0.5, 0.05):  # mini-batch EM, annealed
        perm = rng.permutation(len(fit))
        for i in range(0, len(fit), batch):
            counts, _ = model.expected_counts(fit[perm[i: i + batch]])
            model = model.blend(model.maximise(counts, 0.1, smooth), step)
    for _ in range(full_epochs):
        sums = None
        for i in range(0, len(fit), batch):
            counts, _ = model.expected_counts(fit[i: i + batch])
            sums = counts if sums is None else tuple(a + b for a, b in zip(sums, counts))
        model = model.maximise(sums, 0.1, smooth)
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--full-epochs", type=int, default=10)
    args = ap.parse_args(argv)
    images = load("mnist")[0]
    x = images.reshape(len(images), -1).astype(np.int64)
    fit, val = x[:7000], x[7000:]
    tree = chow_liu_tree(fit[:3000])
    print(f"MNIST training images: fit {len(fit)}, validate {len(val)}; H = {args.hidden}, "
          f"2 mini-batch + {args.full_epochs} full EM epochs")
    print(f"{'smoothing (lo, hi, sigma, weight)':<36} {'val bpd':>8} {'seconds':>8}")
    for smooth in SETTINGS:
        t0 = time.time()
        model = train(tree, fit, args.hidden, smooth, args.full_epochs)
        print(f"{str(smooth or 'none'):<36} {model.bits_per_dimension(val):8.4f} "
              f"{time.time() - t0:8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
