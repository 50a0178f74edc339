"""Train an HCLT on MNIST or sklearn digits: ``python -m lvc.train pc --dataset mnist``.

1. Structure: the Chow-Liu tree of the first ``--structure-images`` training images.
2. Mini-batch EM (``--minibatch-epochs``): per batch, an M-step on the batch's expected
   counts (pseudocount 0.1) blended into the parameters with a step size annealed
   linearly from ``--step`` to ``--step-end`` (EM with inertia).
3. Full-batch EM (``--full-epochs``): expected counts over all training images, then
   one M-step per epoch.

Every epoch appends ``{phase, epoch, train_bpd, eval_bpd, seconds}`` to ``log.jsonl``
and rewrites ``checkpoint.safetensors`` (float64 parameters and the progress), so a
killed run continues where it stopped with the same command. ``--export`` then
writes the float32 parameters the codec uses to ``assets/weights/`` with a manifest
entry (see ``weights.py``). Float64 throughout, numpy only.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from ...errors import BadInputError
from .data import VALUES, load
from .hclt import HCLT
from .structure import chow_liu_tree


def _save(path: Path, model: HCLT, state: dict) -> None:
    from safetensors.numpy import save_file

    from ...formats.files import atomic_output

    with atomic_output(path, overwrite=True) as tmp:
        save_file(model.to_arrays(np.float64),
                  str(tmp), metadata={"lvc": json.dumps(state)})


def load_checkpoint(path: Path) -> tuple[HCLT, dict]:
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        state = json.loads(f.metadata()["lvc"])
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    return HCLT.from_arrays(arrays), state


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lvc.train pc", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(VALUES), default="mnist")
    ap.add_argument("--out", help="run folder (default runs/pc-<dataset>)")
    ap.add_argument("--hidden", type=int, default=16, help="hidden states H per pixel")
    ap.add_argument("--structure-images", type=int, default=3000)
    ap.add_argument("--minibatch-epochs", type=int, default=10)
    ap.add_argument("--full-epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--step", type=float, default=0.5, help="first mini-batch step size")
    ap.add_argument("--step-end", type=float, default=0.05, help="last mini-batch step size")
    ap.add_argument("--pseudocount", type=float, default=0.1)
    ap.add_argument("--smooth", nargs=4, type=float, metavar=("LO", "HI", "SIGMA", "WEIGHT"),
                    help="blur the leaf counts of values LO..HI-1 in every M-step "
                         "(HCLT.smooth_values; the MNIST model: 1 250 6 0.9, chosen by "
                         "benchmarks/pc_smoothing.py)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--export", action="store_true",
                    help="when done, write the shipped weights and manifest entry")
    args = ap.parse_args(argv)
    if args.hidden < 1 or args.batch < 1:
        raise BadInputError("--hidden and --batch must be positive")
    smooth = None
    if args.smooth:
        lo, hi, sigma, weight = args.smooth
        if not (0 <= lo < hi and sigma > 0 and 0 <= weight <= 1):
            raise BadInputError("--smooth needs 0 <= LO < HI, SIGMA > 0, 0 <= WEIGHT <= 1")
        smooth = (int(lo), int(hi), sigma, weight)

    train, test = load(args.dataset)
    x = train.reshape(len(train), -1).astype(np.int64)
    xt = test.reshape(len(test), -1).astype(np.int64)
    out = Path(args.out or f"runs/pc-{args.dataset}")
    out.mkdir(parents=True, exist_ok=True)
    ckpt, log = out / "checkpoint.safetensors", out / "log.jsonl"
    if ckpt.is_file():
        model, state = load_checkpoint(ckpt)
        print(f"resuming {ckpt} after {state['done']} epochs")
    else:
        t0 = time.time()
        tree = chow_liu_tree(x[: args.structure_images], VALUES[args.dataset])
        model = HCLT.random(tree, args.hidden, VALUES[args.dataset], args.seed, data=x)
        state = {"dataset": args.dataset, "shape": list(train.shape[1:]), "done": 0,
                 "seconds": time.time() - t0, "hidden": args.hidden,
                 "train_images": len(train), "eval_images": len(test), "args": vars(args)}
        _save(ckpt, model, state)
    total = args.minibatch_epochs + args.full_epochs
    while state["done"] < total:
        epoch, t0 = state["done"], time.time()
        rng = np.random.default_rng([args.seed, epoch])
        if epoch < args.minibatch_epochs:
            phase = "minibatch"
            frac = epoch / max(args.minibatch_epochs - 1, 1)
            step = args.step + (args.step_end - args.step) * frac
            ll = 0.0
            perm = rng.permutation(len(x))
            for i in range(0, len(x), args.batch):
                counts, batch_ll = model.expected_counts(x[perm[i: i + args.batch]])
                model = model.blend(model.maximise(counts, args.pseudocount, smooth), step)
                ll += batch_ll
        else:
            phase = "full"
            sums, ll = None, 0.0
            for i in range(0, len(x), args.batch):
                counts, batch_ll = model.expected_counts(x[i: i + args.batch])
                sums = counts if sums is None else tuple(a + b for a, b in zip(sums, counts))
                ll += batch_ll
            model = model.maximise(sums, args.pseudocount, smooth)
        seconds = time.time() - t0
        state["done"], state["seconds"] = epoch + 1, state["seconds"] + seconds
        row = {"phase": phase, "epoch": epoch + 1, "train_bpd": -ll / np.log(2) / x.size,
               "eval_bpd": model.bits_per_dimension(xt), "seconds": round(seconds, 1)}
        state["last"] = row
        _save(ckpt, model, state)
        with open(log, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    if args.export:
        from .weights import export_weights

        state["hardware"] = f"{platform.machine()}, numpy CPU"
        print(json.dumps(export_weights(model, state, xt), indent=1))
    return 0


__all__ = ["main", "load_checkpoint"]
