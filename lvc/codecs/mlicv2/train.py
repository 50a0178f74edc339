"""Train MLICv2-tiny or its equal-budget baseline on BSDS500 crops (resumable, logged).

    python -m lvc.train mlicv2 --model mlicv2-tiny --lmbda 0.0067 --steps 20000
    python -m lvc.train mlicv2 --model hyperprior  --lmbda 0.0067 --steps 20000
    python -m lvc.train mlicv2 --model hyperprior  --lmbda 0.0067 --export 2   # ship it

Both models see the same data, crops, batch, steps, learning-rate schedule and lambda
(``--seed`` fixes the crop sequence), so their RD curves compare architectures, not
budgets. The baseline is compressai's mean-scale hyperprior (``MeanScaleHyperprior``,
mbt2018-mean) at the tiny model's N and M. Loss: ``lambda * 255^2 * MSE + bpp`` (the
CompressAI convention), images in [0, 1]; the EntropyBottleneck quantiles train with
their own auxiliary loss and optimiser. Every ``--checkpoint-every`` steps the run
folder's ``checkpoint.safetensors`` (weights and both optimisers) is rewritten and
``log.jsonl`` gets loss, bpp and PSNR; rerunning the same command resumes.
``--init`` starts from another run's weights (how the shipped low and high rates were
fine-tuned from the middle one). On this CPU the tiny model takes ~2.8 s per step at
crop 128, batch 8, one thread (``benchmarks/train_mlicv2_cpu.sh`` is the schedule of
the shipped weights); paper-scale training needs a GPU (``--device cuda``).
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

from ...errors import BadInputError
from ...train.checkpoint import JsonlLog, load_checkpoint, save_checkpoint
from ...train.data import CropSampler, load_folder

DEFAULT_DATA = ("../shared/datasets/bsds500/train", "../shared/datasets/bsds500/test")
MODELS = ("mlicv2-tiny", "mlicv2-tiny-base", "hyperprior")


def build(name: str):
    """The network of ``name`` (one of ``MODELS``) and its config dict."""
    from .model import MLICv2, MLICv2Config

    if name == "mlicv2-tiny":
        cfg = MLICv2Config.tiny()
    elif name == "mlicv2-tiny-base":
        cfg = MLICv2Config.base(N=96, M=160, slices=5, context_width=0.5)
    elif name == "hyperprior":
        from compressai.models import MeanScaleHyperprior

        tiny = MLICv2Config.tiny()
        return MeanScaleHyperprior(tiny.N, tiny.M), {"N": tiny.N, "M": tiny.M}
    else:
        raise BadInputError(f"unknown model {name!r} (one of {', '.join(MODELS)})")
    return MLICv2(cfg), cfg.to_dict()


def rate_distortion(out: dict, x, lmbda: float) -> tuple:
    """``(loss, bpp, mse)`` of a forward pass on images ``x`` in [0, 1]."""
    import torch

    pixels = x.shape[0] * x.shape[2] * x.shape[3]
    bits = sum(-torch.log2(lik).sum() for lik in out["likelihoods"].values())
    bpp = bits / pixels
    mse = (out["x_hat"] - x).square().mean()
    return lmbda * 255 ** 2 * mse + bpp, bpp, mse


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lvc.train mlicv2", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=MODELS, default="mlicv2-tiny")
    ap.add_argument("--lmbda", type=float, default=0.0067)
    ap.add_argument("--out", help="run folder (default runs/<model>-<lmbda>)")
    ap.add_argument("--data", nargs="+", default=list(DEFAULT_DATA))
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--minutes", type=float, help="stop (with a checkpoint) after this long")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--checkpoint-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", help="start from this run checkpoint's weights (fresh optimiser; "
                    "how the other lambdas are fine-tuned from one trained rate)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--export", type=int, metavar="QUALITY",
                    help="do not train: ship the run folder's checkpoint as this quality of "
                         "its codec (mlicv2-tiny, or mbt2018-mean-tiny for hyperprior)")
    ap.add_argument("--weights-dir", help="where --export writes (default assets/weights)")
    ap.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.batch < 1 or args.crop < 64 or args.crop % 64:
        raise BadInputError("--steps, --batch must be positive and --crop a multiple of 64")

    out = Path(args.out or f"runs/{args.model}-{args.lmbda:g}")
    if args.export is not None:
        from .weights import export

        if not (out / "checkpoint.safetensors").is_file():
            raise BadInputError(f"no checkpoint to export in {out}")
        entry = export(out / "checkpoint.safetensors", args.export, args.weights_dir)
        print(f"wrote {entry['file']} ({entry['codec']} quality {entry['quality']}, "
              f"lambda {entry['lmbda']}, {entry['steps_total']} steps)")
        return 0
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    sampler = CropSampler(load_folder(args.data, args.crop), args.crop, args.batch, args.seed)
    torch.manual_seed(args.seed)
    model, config = build(args.model)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(device)
    main_params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    aux_params = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    opt = torch.optim.Adam(main_params, lr=args.lr)
    aux = torch.optim.Adam(aux_params, lr=1e-3)
    out.mkdir(parents=True, exist_ok=True)
    ckpt, log = out / "checkpoint.safetensors", JsonlLog(out / "log.jsonl")
    both = _Both(opt, aux)
    step, wall = 0, 0.0
    if ckpt.is_file():
        info = load_checkpoint(ckpt, model, both)
        step, wall = info["step"], info.get("wall_seconds", 0.0)
        print(f"resuming {ckpt} at step {step}")
    elif args.init:
        load_checkpoint(args.init, model)
        print(f"starting from the weights of {args.init}")
    meta = {"model": args.model, "config": config, "lmbda": args.lmbda, "data": args.data,
            "crop": args.crop, "batch": args.batch, "seed": args.seed, "lr": args.lr,
            "init": args.init,
            "hardware": (torch.cuda.get_device_name(device) if device.type == "cuda"
                         else f"{platform.machine()}, {torch.get_num_threads()} threads")}
    model.train()
    t0, start = time.time(), step
    while step < args.steps:
        x = torch.from_numpy((sampler.batch(step) + 1.0) / 2.0).to(device)
        loss, bpp, mse = rate_distortion(model(x), x, args.lmbda)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main_params, 1.0)
        opt.step()
        aux_loss = model.entropy_bottleneck.loss()
        aux.zero_grad()
        aux_loss.backward()
        aux.step()
        step += 1
        done = args.minutes is not None and time.time() - t0 > 60 * args.minutes
        if step % args.checkpoint_every == 0 or step == args.steps or done:
            seconds = wall + time.time() - t0
            loss_v, bpp_v, mse_v = (float(v.detach()) for v in (loss, bpp, mse))
            psnr = 10 * math.log10(1.0 / max(mse_v, 1e-12))
            log.write(step=step, loss=loss_v, bpp=bpp_v, psnr=psnr,
                      aux=float(aux_loss.detach()), seconds=round(seconds, 1))
            save_checkpoint(ckpt, model, both, step, {**meta, "wall_seconds": seconds})
            print(f"step {step}: loss {loss_v:.4f} bpp {bpp_v:.3f} psnr {psnr:.2f} "
                  f"({(step - start) / max(time.time() - t0, 1e-9):.2f} steps/s)", flush=True)
        if done:
            break
    return 0


class _Both:
    """The main and auxiliary optimisers saved and restored as one state."""

    def __init__(self, main, aux):
        self.main, self.aux = main, aux

    def state_dict(self) -> dict:
        a, b = self.main.state_dict(), self.aux.state_dict()
        shift = len(a["param_groups"][0]["params"])
        state = dict(a["state"])
        state.update({k + shift: v for k, v in b["state"].items()})
        groups = a["param_groups"] + [dict(g, params=[p + shift for p in g["params"]])
                                      for g in b["param_groups"]]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, saved: dict) -> None:
        shift = len(self.main.state_dict()["param_groups"][0]["params"])
        main_state = {k: v for k, v in saved["state"].items() if k < shift}
        aux_state = {k - shift: v for k, v in saved["state"].items() if k >= shift}
        groups = saved["param_groups"]
        self.main.load_state_dict({"state": main_state, "param_groups": groups[:1]})
        self.aux.load_state_dict({"state": aux_state, "param_groups": [
            dict(g, params=[p - shift for p in g["params"]]) for g in groups[1:]]})


__all__ = ["main", "build", "rate_distortion"]
