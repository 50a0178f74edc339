"""Train LiVeAction weights (resumable, logged): images on BSDS500 crops, or the audio,
hyperspectral and volume models of ``signals.SPECS`` on their training splits
(``signal_data.py``).

    python -m lvc.train liveaction --out runs/liveaction-image --steps 4000 --minutes 90
    python -m lvc.train liveaction --codec liveaction-audio --steps 3000 --minutes 40

Multi-rate from one run: the latent has ``latent_channels`` ordered channels and a
quality level is (channels sent k, quantisation step delta). Training draws a level
per batch: channels >= k are zeroed (nested dropout, so the first channels learn to
carry the most), and the noise width is delta. The loss is the paper's
``log10(MSE) + lam * log2(std(companded latent))`` on the channels sent, with the
std floored softly at the quantisation step (see ``liveaction_loss``).
Schedule (paper): the first ``joint_fraction`` of the run (steps, or the ``--minutes``
budget) end-to-end with noise, then the encoder is frozen and the decoder fine-tuned
on rounded latents. The loop (device, precision, checkpoints, torchrun) is the shared
one, ``lvc.train.loop``; on a GPU the crops are cut there:

    python -m lvc.train liveaction --device cuda --batch-size 64 --lr 6e-4 --warmup 200 \
        --joint-fraction 0.6 --minutes 8 --steps 1000000000
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from ...errors import BadInputError
from ...train.data import crop_sampler, load_folder, to_device
from ...train.loop import LoopOptions, TrainTask, add_arguments, options, run

DEFAULT_DATA = ("../shared/datasets/bsds500/train", "../shared/datasets/bsds500/test")
SMALL = dict(latent_channels=192, decoder_width=384, decoder_blocks=4, mbconv_expansion=4,
             projection="dense")
"""The CPU-trainable configuration (the paper's decoder is 10x larger); dense projections
so training can start from a PCA (``warmstart.py``)."""
WARM_START_BATCHES = 40

RATE_LEVELS = ((12, 1.0), (24, 1.0), (36, 1.0), (48, 1.0), (72, 1.0), (96, 1.0), (144, 1.0),
               (192, 1.0))
"""Quality levels (channels sent, quantisation step) of the end-to-end phase, low to high."""
FINE_TUNE_STEP = 2.0
"""Quantisation step of every level in the decoder-only phase and at inference: measured
on BSDS500 val at step 3000, doubling the step from 1 saved 23-26% of the bits for
0.1-0.3 dB, so the decoder is fine-tuned on (and ships with) the coarser grid."""


def parse_levels(items) -> list:
    """``["12:2", "48:3"]`` -> ``[(12, 2.0), (48, 3.0)]`` (quality levels as channels:step)."""
    from ...errors import BadInputError

    try:
        levels = [(int(k), float(d)) for k, d in (str(item).split(":") for item in items)]
    except ValueError:
        raise BadInputError(f"levels are channels:step pairs such as 48:2, not {list(items)}") \
            from None
    if any(k < 1 or not d > 0 for k, d in levels):
        raise BadInputError(f"levels need channels >= 1 and step > 0, not {list(items)}")
    return levels


def level_latent(model, z, channels: int, step: float, noisy: bool):
    """Companded latent for one quality level: channels >= ``channels`` zeroed, noise of
    width ``step`` (training) or rounding to multiples of ``step`` (inference)."""
    import torch

    v = model.quantizer.compand(z)
    kept = v[:, :channels]
    if noisy:
        kept = kept + step * (torch.rand_like(kept) - 0.5)
    else:
        kept = torch.round(kept / step) * step
    pad = v.new_zeros((v.shape[0], v.shape[1] - channels) + tuple(v.shape[2:]))
    return torch.cat([kept, pad], 1), v[:, :channels]


class LiVeActionTask(TrainTask):
    """LiVeAction on crops from ``sampler``: nested channel dropout over ``rate_levels``
    with noise end-to-end for ``joint_fraction`` of the run, then decoder-only on
    rounded latents at ``fine_tune_step``."""

    def __init__(self, sampler, config: dict, rate_levels=RATE_LEVELS, lam: float = 0.03,
                 joint_fraction: float = 0.7, fine_tune_step: float | None = FINE_TUNE_STEP,
                 codec_id: str = "liveaction-rgb", spectral: float = 0.0, seed: int = 0,
                 record: dict | None = None):
        self.sampler, self.config, self.rate_levels = sampler, config, rate_levels
        self.lam, self.joint_fraction, self.spectral, self.seed = lam, joint_fraction, spectral, seed
        self.final_levels = [(k, fine_tune_step or d) for k, d in rate_levels]
        self.codec, self.record = codec_id, record or {}

    def build(self):
        from .model import LiVeAction, LiVeActionConfig

        model = LiVeAction(LiVeActionConfig(**self.config))
        if self.spectral and model.config.ndim != 1:
            raise BadInputError("the spectral loss is for 1-D (audio) models")
        return model

    def start(self, model, step: int, device) -> None:
        import torch

        if step == 0 and model.config.projection == "dense":
            from .warmstart import pca_init

            # crops drawn from a seed range the training steps never use
            pca_init(model, (torch.from_numpy(self.sampler.batch(10**9 + i)).to(device)
                             for i in range(WARM_START_BATCHES)), step=self.rate_levels[0][1])
            print("warm start: PCA projections, zero residual branches")
        self.rng = np.random.default_rng([self.seed, step])  # the level draws

    def batch(self, index: int, device):
        return to_device(self.sampler.batch(index), device)

    def frozen(self, ctx) -> bool:
        if ctx.timed:
            return ctx.progress >= self.joint_fraction
        return ctx.step >= int(self.joint_fraction * ctx.steps)

    def forward(self, model, x, ctx) -> dict:
        import torch

        frozen = self.frozen(ctx)
        model.encoder.requires_grad_(not frozen)
        model.quantizer.requires_grad_(not frozen)
        k, delta = (self.final_levels if frozen else self.rate_levels)[
            self.rng.integers(len(self.rate_levels))]
        ctx.state.update(k=k, delta=delta, frozen=frozen)
        with torch.set_grad_enabled(not frozen):
            z = model.encode(x)
        latent, companded = level_latent(model, z, k, delta, noisy=not frozen)
        return {"x_hat": model.decode(latent, size=tuple(x.shape[2:]), clamp=False),
                "companded": companded}

    def loss(self, out, x, ctx) -> tuple:
        from .model import liveaction_loss, spectral_loss

        x_hat, k, delta = out["x_hat"], ctx.state["k"], ctx.state["delta"]
        loss = liveaction_loss(x, x_hat, out["companded"], self.lam, floor=delta)
        if self.spectral:
            loss = loss + self.spectral * spectral_loss(x, x_hat)
        mse = ((x_hat.detach().clamp(-1, 1) - x) ** 2).mean() / 4  # [0,1] scale
        return loss, {"psnr": -10 * mse.clamp_min(1e-12).log10(), "channels": k,
                      "delta": delta, "frozen": ctx.state["frozen"]}

    def meta(self) -> dict:
        return {**self.record, "config": dict(self.model_config()),
                "rate_levels": self.final_levels, "training_levels": self.rate_levels,
                "lam": self.lam, "spectral": self.spectral,
                "joint_fraction": self.joint_fraction}

    def model_config(self) -> dict:
        from .model import LiVeActionConfig

        return LiVeActionConfig(**self.config).to_dict()

    def describe(self, step: int, logs: dict) -> str:
        return (f"step {step} loss {logs['loss']:.4f} psnr {logs['psnr']:.2f} "
                f"k={logs['channels']} d={logs['delta']}"
                + (" (decoder only)" if logs["frozen"] else ""))


def train(out, steps: int = 4000, minutes: float | None = None, batch_size: int = 8,
          crop: int = 256, lr: float = 5e-4, lam: float = 0.03, joint_fraction: float = 0.7,
          data=DEFAULT_DATA, threads: int | None = None, seed: int = 0, ckpt_minutes: float = 5,
          config: dict | None = None, rate_levels=RATE_LEVELS,
          fine_tune_step: float | None = FINE_TUNE_STEP, codec_id: str = "liveaction-rgb",
          sampler=None, spectral: float = 0.0, device: str = "cpu", precision: str = "fp32",
          save_optimizer: bool = False, schedule: str | None = None, log_every: int = 20):
    """Train (or resume) the run in ``out`` on the shared loop (``lvc.train.loop``).
    ``sampler`` (``.batch(step)`` -> float32 ``(N, C, *axes)`` in [-1, 1]) replaces the
    image crops of ``data`` for other modalities; ``data`` is then only recorded. On a
    GPU the image crops are drawn there. ``spectral > 0`` adds that weight times
    ``model.spectral_loss`` (1-D signals only)."""
    if sampler is None:  # fail before mkdir
        sampler = crop_sampler(load_folder(data, crop), crop, batch_size, seed, device)
    task = LiVeActionTask(sampler, config or SMALL, rate_levels, lam, joint_fraction,
                          fine_tune_step, codec_id, spectral, seed,
                          record={"batch_size": batch_size, "crop": crop,
                                  "data": list(map(str, data))})
    opts = LoopOptions(steps=steps, lr=lr, minutes=minutes, device=device, precision=precision,
                       threads=threads, seed=seed, ckpt_minutes=ckpt_minutes,
                       save_optimizer=save_optimizer, schedule=schedule, log_every=log_every)
    return run(task, out, opts)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m lvc.train liveaction", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codec", default="liveaction-rgb",
                    help="liveaction-rgb (images) or a signal model: "
                         "liveaction-audio, liveaction-audio4, liveaction-hsi, liveaction-volume")
    ap.add_argument("--out", help="run folder (default runs/<codec>)")
    add_arguments(ap, steps=4000, lr=5e-4)
    ap.add_argument("--batch-size", type=int, help="default 8 (images) or the model's")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--lam", type=float, default=0.03)
    ap.add_argument("--joint-fraction", type=float, default=0.7,
                    help="share of the run trained end to end (then decoder only)")
    ap.add_argument("--levels", nargs="+", metavar="K:STEP",
                    help="training levels (channels:step; default: RATE_LEVELS for images, "
                         "the model's for signals)")
    ap.add_argument("--config", type=json.loads, help="network config as JSON "
                    "(default: SMALL for images, the model's for signals)")
    ap.add_argument("--spectral", type=float, default=0.0,
                    help="weight of the log-spectrum loss (1-D audio models; 0 = off)")
    ap.add_argument("--data", nargs="+", default=list(DEFAULT_DATA))
    ap.add_argument("--data-root", help="the datasets folder of the signal models' training "
                                        "splits (default ../shared/datasets)")
    args = ap.parse_args(argv)
    out = args.out or ("runs/liveaction-image" if args.codec == "liveaction-rgb"
                       else f"runs/{args.codec}")
    opts = options(args)
    if args.codec == "liveaction-rgb":
        batch = args.batch_size or 8
        sampler = crop_sampler(load_folder(args.data, args.crop), args.crop, batch, args.seed,
                               opts.device)
        task = LiVeActionTask(sampler, args.config or SMALL,
                              parse_levels(args.levels) if args.levels else RATE_LEVELS,
                              lam=args.lam,
                              joint_fraction=args.joint_fraction, seed=args.seed,
                              record={"batch_size": batch, "crop": args.crop,
                                      "data": list(args.data)})
        return run(task, out, opts)
    from .signal_data import SignalCropSampler, training_signals
    from .signals import SPECS

    if args.codec not in SPECS:
        raise BadInputError(f"unknown LiVeAction model {args.codec!r} "
                            f"(known: liveaction-rgb, {', '.join(SPECS)})")
    spec = SPECS[args.codec]
    batch = args.batch_size or spec.batch_size
    signals = (training_signals(spec.codec_id, args.data_root) if args.data_root
               else training_signals(spec.codec_id))
    sampler = SignalCropSampler(signals, spec.crop, batch,
                                sign_flip=spec.modality == "audio")
    task = LiVeActionTask(sampler, args.config or spec.config,
                          parse_levels(args.levels) if args.levels else spec.rate_levels, args.lam,
                          args.joint_fraction, codec_id=spec.codec_id, spectral=args.spectral,
                          seed=args.seed, record={
                              "batch_size": batch, "crop": list(spec.crop),
                              "data": [f"lvc.codecs.liveaction.signal_data training split "
                                       f"of {spec.codec_id}"]})
    return run(task, out, opts)


if __name__ == "__main__":
    main()
