"""Train MLICv2-tiny or its equal-budget baseline on BSDS500 crops (resumable, logged).

    python -m lvc.train mlicv2 --model mlicv2-tiny --lmbda 0.0067 --steps 20000
    python -m lvc.train mlicv2 --model hyperprior  --lmbda 0.0067 --steps 20000
    python -m lvc.train mlicv2 --model hyperprior  --lmbda 0.0067 --export 2   # ship it

Both models see the same data, crops, batch, steps, learning-rate schedule and lambda
(``--seed`` fixes the crop sequence), so their RD curves compare architectures, not
budgets. The baseline is compressai's mean-scale hyperprior (``MeanScaleHyperprior``,
mbt2018-mean) at the tiny model's N and M. Loss: ``lambda * 255^2 * MSE + bpp`` (the
CompressAI convention), images in [0, 1]; the EntropyBottleneck quantiles train with
their own auxiliary loss and optimiser. The shared loop (``lvc.train.loop``) does the
rest: every ``--ckpt-every`` steps the run folder's ``checkpoint.safetensors`` is
rewritten (weights only, float16; with ``--save-optimizer`` float32 weights and both
optimisers) and ``log.jsonl`` gets loss, bpp, PSNR and steps/s; rerunning the same
command resumes. The learning rate is constant unless ``--schedule cosine`` (the GPU
plan's choice over a ``--minutes`` budget). ``--init`` starts from another run's
weights or a shipped file (how the shipped low and high rates were fine-tuned from the
middle one). On this CPU the tiny model takes ~2.8 s per step at
crop 128, batch 8, one thread (``benchmarks/train_mlicv2_cpu.sh`` is the schedule of
the shipped weights); paper-scale training needs a GPU (``--device cuda``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ...errors import BadInputError
from ...train.data import crop_sampler, load_folder, to_device
from ...train.loop import TrainTask, add_arguments, options, run

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


class RDTask(TrainTask):
    """``lambda * 255^2 * MSE + bpp`` on [0, 1] crops; the EntropyBottleneck quantiles
    take their own auxiliary step (Adam, 1e-3) after each main step."""

    schedule = "constant"
    grad_clip = 1.0

    def __init__(self, name: str, lmbda: float, sampler, init: str | None = None,
                 record: dict | None = None):
        self.name, self.lmbda, self.sampler, self.init = name, lmbda, sampler, init
        self.codec, self.record = name, record or {}

    def build(self):
        model, self.config = build(self.name)
        return model

    def optimizers(self, model, lr: float) -> list:
        import torch

        main = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
        aux = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
        self.aux_optimizer = torch.optim.Adam(aux, lr=1e-3)
        return [torch.optim.Adam(main, lr=lr), self.aux_optimizer]

    def start(self, model, step: int, device) -> None:
        if step == 0 and self.init:  # a resumed run keeps its own weights
            from ...train.checkpoint import load_weights

            load_weights(self.init, model)  # a run's checkpoint or shipped weights
            print(f"starting from the weights of {self.init}")

    def batch(self, index: int, device):
        return (to_device(self.sampler.batch(index), device) + 1.0) / 2.0

    def forward(self, model, x, ctx) -> dict:
        out = model(x)
        return {"x_hat": out["x_hat"], **{f"lik.{k}": v for k, v in out["likelihoods"].items()}}

    def loss(self, out, x, ctx) -> tuple:
        liks = {k[4:]: v for k, v in out.items() if k.startswith("lik.")}
        loss, bpp, mse = rate_distortion({"x_hat": out["x_hat"], "likelihoods": liks}, x,
                                         self.lmbda)
        return loss, {"bpp": bpp.detach(), "psnr": -10 * mse.detach().clamp_min(1e-12).log10()}

    def after_step(self, model, ctx) -> dict:
        aux_loss = model.entropy_bottleneck.loss()
        self.aux_optimizer.zero_grad()
        aux_loss.backward()
        ctx.sync([p for g in self.aux_optimizer.param_groups for p in g["params"]])
        self.aux_optimizer.step()
        return {"aux": aux_loss.detach()}

    def meta(self) -> dict:
        return {"model": self.name, "config": self.config, "lmbda": self.lmbda, "init": self.init,
                **self.record}

    def describe(self, step: int, logs: dict) -> str:
        return (f"step {step + 1}: loss {logs['loss']:.4f} bpp {logs['bpp']:.3f} "
                f"psnr {logs['psnr']:.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lvc.train mlicv2", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=MODELS, default="mlicv2-tiny")
    ap.add_argument("--lmbda", type=float, default=0.0067)
    ap.add_argument("--out", help="run folder (default runs/<model>-<lmbda>)")
    ap.add_argument("--data", nargs="+", default=list(DEFAULT_DATA))
    add_arguments(ap, steps=20000, lr=1e-4, ckpt_every=100)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--init", help="start from these weights, a run's checkpoint or a shipped "
                    "file (fresh optimiser; how the other lambdas are fine-tuned from one "
                    "trained rate)")
    ap.add_argument("--export", type=int, metavar="QUALITY",
                    help="do not train: ship the run folder's checkpoint as this quality of "
                         "its codec (mlicv2-tiny, or mbt2018-mean-tiny for hyperprior)")
    ap.add_argument("--weights-dir", help="where --export writes (default assets/weights)")
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
    sampler = crop_sampler(load_folder(args.data, args.crop), args.crop, args.batch, args.seed,
                           args.device)
    task = RDTask(args.model, args.lmbda, sampler, args.init,
                  {"data": args.data, "crop": args.crop, "batch": args.batch})
    run(task, out, options(args))
    return 0


__all__ = ["main", "build", "rate_distortion", "RDTask"]
