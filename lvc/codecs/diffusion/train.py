"""Train the conditional denoiser of ``dualdiff`` (resumable, logged).

    python -m lvc.train dualdiff prepare --out runs/dualdiff-data
    python -m lvc.train dualdiff train --data runs/dualdiff-data --out runs/dualdiff --steps 3000
    python -m lvc.train dualdiff export runs/dualdiff/checkpoint.safetensors

``prepare`` codes every BSDS500 train+test image (never Kodak) at each explicit level
(``explicit.LEVELS``) and stores the full-size conditions as PNGs (skipping what
exists). ``train`` draws 64 x 64 crops (random flips), a level per crop or, with
probability ``DROP``, no condition (zeros: the implicit-only variant shares the
network), a timestep uniform in 0..T-1, and regresses the clean crop from
``x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps`` (MSE on x_0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ...train.loop import LoopOptions, TrainTask, add_arguments, options, run
from .explicit import LEVELS, decode_explicit, encode_explicit

DEFAULT_DATA = ("../shared/datasets/bsds500/train", "../shared/datasets/bsds500/test")
DROP = 0.15
CROP = 64


def prepare(out, folders=DEFAULT_DATA) -> int:
    """Write ``out/orig/<name>.png`` and ``out/L<level>/<name>.png``; returns images."""
    from PIL import Image

    from ...formats.image_io import read_image
    from ...formats.media import to_rgb8

    out = Path(out)
    n = 0
    for folder in folders:
        for path in sorted(Path(folder).iterdir()):
            if path.suffix.lower() not in (".jpg", ".png"):
                continue
            x = to_rgb8(read_image(path).data)
            name = f"{path.stem}.png"
            for sub, make in [("orig", lambda: x)] + [
                    (f"L{i}", lambda i=i: decode_explicit(encode_explicit(x, i), x.shape))
                    for i in range(len(LEVELS))]:
                dst = out / sub / name
                if not dst.exists():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(make()).save(dst)
            n += 1
    return n


class PairSampler:
    """Batches (x0, cond) float32 NCHW in [-1, 1]; ``batch(step)`` depends only on
    (seed, step), so a resumed run continues the same stream."""

    def __init__(self, data, batch_size: int = 16, seed: int = 0):
        from PIL import Image

        data = Path(data)
        names = sorted(p.name for p in (data / "orig").iterdir())
        if not names:
            raise FileNotFoundError(f"{data}/orig is empty: run prepare first")
        self.orig = [np.asarray(Image.open(data / "orig" / n)) for n in names]
        self.conds = [[np.asarray(Image.open(data / f"L{i}" / n)) for i in range(len(LEVELS))]
                      for n in names]
        self.batch_size, self.seed = batch_size, seed

    def batch(self, step: int) -> tuple:
        rng = np.random.default_rng([self.seed, step])
        x = np.empty((self.batch_size, 3, CROP, CROP), np.float32)
        c = np.zeros_like(x)
        for b in range(self.batch_size):
            i = rng.integers(len(self.orig))
            im = self.orig[i]
            y0 = rng.integers(0, im.shape[0] - CROP + 1)
            x0 = rng.integers(0, im.shape[1] - CROP + 1)
            box = (slice(y0, y0 + CROP), slice(x0, x0 + CROP))
            level = rng.integers(len(LEVELS))
            drop = rng.random() < DROP
            flip = rng.random() < 0.5
            pair = [im[box], self.conds[i][level][box]]
            if flip:
                pair = [p[:, ::-1] for p in pair]
            x[b] = pair[0].transpose(2, 0, 1) / 127.5 - 1.0
            if not drop:
                c[b] = pair[1].transpose(2, 0, 1) / 127.5 - 1.0
        return x, c


class DenoiserTask(TrainTask):
    """The conditional U-Net regressing x_0 from x_t (MSE), on (crop, condition) pairs."""

    codec = "dualdiff"
    lr_floor = 0.0

    def __init__(self, sampler: "PairSampler", config: dict | None, seed: int, data):
        self.sampler, self.config, self.seed, self.data = sampler, config or {}, seed, data

    def build(self):
        from .model import CondUNet, UNetConfig

        return CondUNet(UNetConfig(**self.config))

    def start(self, model, step: int, device) -> None:
        import torch

        from .diffc import T, abar

        self.abars = torch.from_numpy(abar(np.arange(T))).float().to(device)
        self.model_config = model.config.to_dict()

    def batch(self, index: int, device):
        import torch

        from .diffc import T

        x, c = (torch.from_numpy(a) for a in self.sampler.batch(index))
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        t = torch.randint(0, T, (x.shape[0],), generator=gen)
        noise = torch.randn(x.shape, generator=gen)
        return tuple(v.to(device) for v in (x, c, t, noise))

    def forward(self, model, batch, ctx) -> dict:
        x, c, t, noise = batch
        a = self.abars[t][:, None, None, None]
        return {"x0_hat": model(a.sqrt() * x + (1 - a).sqrt() * noise, c, t)}

    def loss(self, out, batch, ctx) -> tuple:
        import torch

        return torch.nn.functional.mse_loss(out["x0_hat"], batch[0]), {}

    def meta(self) -> dict:
        return {"config": self.model_config, "batch_size": self.sampler.batch_size,
                "crop": CROP, "drop": DROP,
                "data": f"{self.data} (BSDS500 train+test and their explicit "
                        "reconstructions, explicit.LEVELS)"}

    def describe(self, step: int, logs: dict) -> str:
        return f"step {step} loss {logs['loss']:.5f}"


def train(data, out, steps: int = 3000, minutes: float | None = None, batch_size: int = 16,
          lr: float = 2e-4, seed: int = 0, threads: int | None = None,
          ckpt_minutes: float = 5.0, config: dict | None = None, device: str = "cpu",
          precision: str = "fp32", save_optimizer: bool = False) -> Path:
    """Train (or resume) the run in ``out`` on the shared loop (``lvc.train.loop``)."""
    task = DenoiserTask(PairSampler(data, batch_size, seed), config, seed, data)
    return run(task, out, LoopOptions(steps=steps, lr=lr, minutes=minutes, device=device,
                                      precision=precision, threads=threads, seed=seed,
                                      ckpt_minutes=ckpt_minutes, save_optimizer=save_optimizer))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m lvc.train dualdiff", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--out", default="runs/dualdiff-data")
    p.add_argument("--data", nargs="+", default=list(DEFAULT_DATA))
    t = sub.add_parser("train")
    t.add_argument("--data", default="runs/dualdiff-data")
    t.add_argument("--out", default="runs/dualdiff")
    add_arguments(t, steps=3000, lr=2e-4)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--config", type=json.loads, help="U-Net config as JSON (default: UNetConfig())")
    e = sub.add_parser("export", help="checkpoint -> assets/weights/dualdiff.safetensors "
                                      "and its manifest entry")
    e.add_argument("checkpoint", nargs="?", default="runs/dualdiff/checkpoint.safetensors")
    args = ap.parse_args(argv)
    if args.cmd == "prepare":
        if any("kodak" in str(d).lower() for d in args.data):
            from ...errors import BadInputError

            raise BadInputError("dualdiff trains on training images, never Kodak")
        print(f"prepared {prepare(args.out, args.data)} images in {args.out}")
    elif args.cmd == "export":
        from .weights import export

        entry = export(args.checkpoint)
        print(f"exported {entry['file']} ({entry['steps']} steps, sha256 {entry['sha256'][:12]})")
    else:
        task = DenoiserTask(PairSampler(args.data, args.batch_size, args.seed), args.config,
                            args.seed, args.data)
        run(task, args.out, options(args))


if __name__ == "__main__":
    main()
