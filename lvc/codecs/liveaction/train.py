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
Schedule (paper): the first ``joint_fraction`` of steps end-to-end with noise, then
the encoder is frozen and the decoder fine-tuned on rounded latents.
"""

from __future__ import annotations

import argparse
import math
import platform
from pathlib import Path

import numpy as np

from ...train.checkpoint import JsonlLog, StepClock, load_checkpoint, save_checkpoint
from ...train.data import CropSampler, load_folder

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


def lr_at(step: int, total: int, peak: float, warmup: int = 100) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return 1e-5 + 0.5 * (peak - 1e-5) * (1 + math.cos(math.pi * t))


def train(out, steps: int = 4000, minutes: float | None = None, batch_size: int = 8,
          crop: int = 256, lr: float = 5e-4, lam: float = 0.03, joint_fraction: float = 0.7,
          data=DEFAULT_DATA, threads: int | None = None, seed: int = 0, ckpt_minutes: float = 5,
          config: dict | None = None, rate_levels=RATE_LEVELS,
          fine_tune_step: float | None = FINE_TUNE_STEP, codec_id: str = "liveaction-rgb",
          sampler=None, spectral: float = 0.0):
    """Train (or resume) the run in ``out``. ``sampler`` (``.batch(step)`` -> float32
    ``(N, C, *axes)`` in [-1, 1]) replaces the image crops of ``data`` for other
    modalities; ``data`` is then only recorded. ``spectral > 0`` adds that weight times
    ``model.spectral_loss`` (1-D signals only)."""
    import torch

    from .model import LiVeAction, LiVeActionConfig, liveaction_loss, spectral_loss

    if threads:
        torch.set_num_threads(threads)
    if sampler is None:  # fail before mkdir
        sampler = CropSampler(load_folder(data, crop), crop, batch_size, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt, log = out / "checkpoint.safetensors", JsonlLog(out / "log.jsonl")
    torch.manual_seed(seed)
    model = LiVeAction(LiVeActionConfig(**(config or SMALL)))
    if spectral and model.config.ndim != 1:
        from ...errors import BadInputError

        raise BadInputError("the spectral loss is for 1-D (audio) models")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    start, wall = 0, 0.0
    if ckpt.exists():
        info = load_checkpoint(ckpt, model, opt)
        start, wall = info["step"], info.get("wall_seconds", 0.0)
        print(f"resumed at step {start} ({wall / 60:.1f} min trained)")
    if start == 0 and model.config.projection == "dense":
        from .warmstart import pca_init

        # crops drawn from a seed range the training steps never use
        pca_init(model, (torch.from_numpy(sampler.batch(10**9 + i))
                         for i in range(WARM_START_BATCHES)), step=rate_levels[0][1])
        print("warm start: PCA projections, zero residual branches")
    rng = np.random.default_rng([seed, start])
    clock = StepClock(ckpt_minutes, minutes)
    joint_steps = int(joint_fraction * steps)
    final_levels = [(k, fine_tune_step or d) for k, d in rate_levels]

    def save(step):
        save_checkpoint(ckpt, model, opt, step, {
            "codec": codec_id,
            "wall_seconds": wall + clock.elapsed(), "config": model.config.to_dict(),
            "rate_levels": final_levels, "training_levels": rate_levels,
            "steps_target": steps, "lam": lam, "spectral": spectral,
            "batch_size": batch_size, "crop": crop, "data": list(map(str, data)),
            "hardware": f"{platform.processor() or platform.machine()}, "
                        f"{torch.get_num_threads()} threads"})

    step = start
    for step in range(start, steps):
        frozen = step >= joint_steps
        model.encoder.requires_grad_(not frozen)
        model.quantizer.requires_grad_(not frozen)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr)
        x = torch.from_numpy(sampler.batch(step))
        k, delta = (final_levels if frozen else rate_levels)[rng.integers(len(rate_levels))]
        with torch.set_grad_enabled(not frozen):
            z = model.encode(x)
        latent, companded = level_latent(model, z, k, delta, noisy=not frozen)
        x_hat = model.decode(latent, size=tuple(x.shape[2:]), clamp=False)
        loss = liveaction_loss(x, x_hat, companded, lam, floor=delta)
        if spectral:
            loss = loss + spectral * spectral_loss(x, x_hat)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 20 == 0 or step == steps - 1:
            mse = float(((x_hat.detach().clamp(-1, 1) - x) ** 2).mean()) / 4  # [0,1] scale
            log.write(step=step, loss=float(loss.detach()), psnr=-10 * math.log10(max(mse, 1e-12)),
                      channels=k, delta=delta, lr=opt.param_groups[0]["lr"], frozen=frozen,
                      minutes=(wall + clock.elapsed()) / 60)
            print(f"step {step} loss {float(loss.detach()):.4f} psnr {-10 * math.log10(max(mse, 1e-12)):.2f}"
                  f" k={k} d={delta} {'(decoder only)' if frozen else ''}", flush=True)
        if clock.tick(step, save):
            step += 1
            break
    else:
        step = steps
    save(step)
    return ckpt


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m lvc.train liveaction", description=__doc__)
    ap.add_argument("--codec", default="liveaction-rgb",
                    help="liveaction-rgb (images) or a signal model: "
                         "liveaction-audio, liveaction-audio4, liveaction-hsi, liveaction-volume")
    ap.add_argument("--out", help="run folder (default runs/<codec>)")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--minutes", type=float, help="stop (with a checkpoint) after this long")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--lam", type=float, default=0.03)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--spectral", type=float, default=0.0,
                    help="weight of the log-spectrum loss (1-D audio models; 0 = off)")
    ap.add_argument("--data", nargs="+", default=list(DEFAULT_DATA))
    args = ap.parse_args(argv)
    out = args.out or ("runs/liveaction-image" if args.codec == "liveaction-rgb"
                       else f"runs/{args.codec}")
    if args.codec == "liveaction-rgb":
        train(out, args.steps, args.minutes, args.batch_size, args.crop, args.lr, args.lam,
              data=args.data, threads=args.threads)
        return
    from ...errors import BadInputError
    from .signal_data import SignalCropSampler, training_signals
    from .signals import SPECS

    if args.codec not in SPECS:
        raise BadInputError(f"unknown LiVeAction model {args.codec!r} "
                            f"(known: liveaction-rgb, {', '.join(SPECS)})")
    spec = SPECS[args.codec]
    sampler = SignalCropSampler(training_signals(spec.codec_id), spec.crop, spec.batch_size,
                                sign_flip=spec.modality == "audio")
    train(out, args.steps, args.minutes, spec.batch_size, list(spec.crop), args.lr, args.lam,
          data=[f"lvc.codecs.liveaction.signal_data training split of {spec.codec_id}"],
          threads=args.threads, config=spec.config, rate_levels=spec.rate_levels,
          codec_id=spec.codec_id, sampler=sampler, spectral=args.spectral)


if __name__ == "__main__":
    main()
