"""Does the channel *order* change the rate of a sequential channel-slice model?

    python benchmarks/iscs_order_ablation.py --order reversed [--quality 2] [--steps 1500]

Trains the slice networks of 5 sequential slices of 32 on the frozen
``mbt2018-mean-tiny`` host (the ``mbt2018-mean-tiny-slices`` recipe: same networks,
data, steps and schedule, ``lvc.codecs.iscs.train``) with the latent channels in the
chosen order, and prints the held-out rate of y (96 BSDS500 val crops): ``original``
(index order, the shipped reference), ``iscs`` (most salient first) or ``reversed``
(least salient first). Run folders go to ``runs/order-<order>-q<Q>`` (resumable). Not a
codec: the run is for the comparison only.
"""

from __future__ import annotations

import argparse

from lvc.codecs.iscs import train
from lvc.codecs.iscs.slices import SliceLayout
from lvc.codecs.iscs.weights import plan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--order", choices=("original", "iscs", "reversed"), required=True)
    ap.add_argument("--quality", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1500)
    args = ap.parse_args()

    def ordered_plan(model, kind, *widths):
        order, _ = plan(model, "core")
        channels = len(order)
        order = {"original": tuple(range(channels)), "iscs": order,
                 "reversed": tuple(reversed(order))}[args.order]
        return order, SliceLayout.sequential(channels, 5)

    train.plan = ordered_plan  # the trainer's layout, for this process only
    out = f"runs/order-{args.order}-q{args.quality}"
    train.run("mbt2018-mean-tiny-iscs", args.quality, out, steps=args.steps,
              log=lambda s: print(s, flush=True))
    train.run("mbt2018-mean-tiny-iscs", args.quality, out, steps=args.steps,
              log=lambda s: print(f"{args.order} order, q{args.quality}: {s}", flush=True))


if __name__ == "__main__":
    main()
