"""Does the channel *order* change the rate of a sequential channel-slice model?

    python benchmarks/iscs_order_ablation.py --order reversed [--layout sequential|core]
                                             [--quality 2] [--steps 1500]

Trains the slice networks of 5 sequential slices of 32 on the frozen
``mbt2018-mean-tiny`` host (the ``mbt2018-mean-tiny-slices`` recipe: same networks,
data, steps and schedule, ``lvc.codecs.iscs.train``) with the latent channels in the
chosen order, and prints the held-out rate of y (96 BSDS500 val crops): ``original``
(index order, the shipped reference), ``iscs`` (most salient first), ``reversed``
(least salient first) or ``interleaved`` (ISCS ranks dealt round-robin to the 5
slices, so every slice mixes salient and non-salient channels). ``--layout core``
cuts the same order like the shipped ISCS codec instead (the first ``--core`` channels,
default 64, in sequential slices of ``--group`` (32), then the others in one batched slice that
reads the core only).
Run folders go to ``runs/order-<order>[-core]-q<Q>`` (resumable). Not a codec: the run
is for the comparison only.
"""

from __future__ import annotations

import argparse

from lvc.codecs.iscs import train
from lvc.codecs.iscs.slices import SliceLayout
from lvc.codecs.iscs.weights import plan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--order", choices=("original", "iscs", "reversed", "interleaved"),
                    required=True)
    ap.add_argument("--layout", choices=("sequential", "core"), default="sequential")
    ap.add_argument("--core", type=int, default=64, help="core channels of --layout core")
    ap.add_argument("--group", type=int, default=32, help="core slice width of --layout core")
    ap.add_argument("--quality", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1500)
    args = ap.parse_args()

    def ordered_plan(model, kind, *widths):
        order, core_layout = plan(model, "core", args.core, args.group)
        channels = len(order)
        order = {"original": tuple(range(channels)), "iscs": order,
                 "reversed": tuple(reversed(order)),
                 "interleaved": tuple(order[r] for k in range(5)
                                      for r in range(k, channels, 5))}[args.order]
        return order, (core_layout if args.layout == "core"
                       else SliceLayout.sequential(channels, 5))

    train.plan = ordered_plan  # the trainer's layout, for this process only
    core = (f"-core{args.core if args.core != 64 else ''}"
            f"{f'x{args.group}' if args.group != 32 else ''}" if args.layout == "core" else "")
    out = f"runs/order-{args.order}{core}-q{args.quality}"
    train.run("mbt2018-mean-tiny-iscs", args.quality, out, steps=args.steps,
              log=lambda s: print(s, flush=True))
    train.run("mbt2018-mean-tiny-iscs", args.quality, out, steps=args.steps,
              log=lambda s: print(f"{args.order} order, q{args.quality}: {s}", flush=True))


if __name__ == "__main__":
    main()
