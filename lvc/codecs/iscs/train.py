"""Fine-tune the slice networks of an ISCS (or original-order) slice codec on its frozen
host (resumable, logged): ``python -m lvc.train iscs --codec ID --quality Q``.

Only the slice networks train: the host's transforms and hyperprior stay as shipped
(the issue's "fine-tune only what must change"), so the loss is the rate of y alone
(``SliceEntropyModel.rate_bits``: with straight-through rounding the distortion does
not depend on these networks). Because nothing upstream changes, the host runs once:
a pool of ``--pool`` BSDS500 crops is pushed through g_a, h_a, the z quantizer and
h_s at start (about a minute), and batches are drawn from that pool. The rate on 96
crops of held-out images (``--val``, BSDS500 val) is logged at every checkpoint: it
is what layouts are compared on, never Kodak.

Schedule: Adam, ``--lr`` for the first 80% of the steps (or of ``--minutes``) and a
tenth of it after, on the shared loop (``lvc.train.loop``: ``--device``, budgets,
checkpoints). On a GPU the host runs there too, so a large pool takes seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ...errors import BadInputError
from ...train.checkpoint import checkpoint_meta, load_checkpoint
from ...train.data import CropSampler, load_folder
from ...train.loop import LoopOptions, TrainTask, add_arguments, options
from ...train.loop import run as loop_run
from ..latent_coding import bottleneck_medians
from ..mlicv2.train import DEFAULT_DATA
from .weights import AUX_GROUPS, CODECS, CORE, SLICE, host_model, host_sha256, permuted_host, plan

DEFAULT_VAL = ("../shared/datasets/bsds500/val",)
VAL_CROPS = 96


def latent_pool(host, sampler: CropSampler, crops: int, device="cpu"):
    """(y, hyper) of ``crops`` training crops through the (permuted) frozen host, on
    ``device`` (the host moves there; a GPU makes a large pool take seconds)."""
    import torch

    model, ys, hypers = host.model.to(device), [], []
    med = bottleneck_medians(model.entropy_bottleneck)
    with torch.inference_mode():
        for step in range(-(-crops // sampler.batch_size)):
            y = model.g_a(torch.from_numpy((sampler.batch(step) + 1.0) / 2.0).to(device))
            ys.append(y)
            hypers.append(model.h_s(torch.round(model.h_a(y) - med) + med))
    return torch.cat(ys)[:crops].clone(), torch.cat(hypers)[:crops].clone()


def validation_bpp(model, ys, hypers, crop: int) -> float:
    """Rate of y (bits per pixel) on held-out latents, rounded as the codec does."""
    import torch

    model.eval()
    with torch.no_grad():
        bits = sum(float(model.rate_bits(ys[i:i + 16], hypers[i:i + 16]))
                   for i in range(0, len(ys), 16))
    model.train()
    return bits / (len(ys) * crop * crop)


class SliceTask(TrainTask):
    """The slice networks of a slice codec on its frozen host: the rate of y (bits per
    pixel) on batches drawn from a pool of host latents, held-out rate at checkpoints."""

    schedule = "step"
    grad_clip = 1.0

    def __init__(self, codec_id: str, quality: int, data, batch: int, crop: int, pool: int,
                 seed: int, log, core: int, group: int, val, aux_groups):
        if codec_id not in CODECS:
            raise BadInputError(f"unknown slice codec {codec_id!r} (known: {', '.join(CODECS)})")
        if batch < 1 or pool < batch or crop < 64 or crop % 64:
            raise BadInputError("--batch must be positive, --pool >= --batch and "
                                "--crop a multiple of 64")
        self.codec, self.quality, self.data, self.val = codec_id, quality, data, val
        self.batch_size, self.crop, self.pool, self.seed, self.log = batch, crop, pool, seed, log
        self.host_id, kind = CODECS[codec_id]
        self.zm = host_model(self.host_id, quality)
        self.order, self.layout = plan(self.zm.model, kind, core, group, aux_groups)
        self.host_bpp = None

    def build(self):
        from .slices import SliceEntropyModel

        return SliceEntropyModel(self.layout)

    def optimizers(self, model, lr: float) -> list:
        import torch

        return [torch.optim.Adam(model.nets.parameters(), lr=lr)]

    def resumed(self, model, info: dict) -> None:
        if tuple(info["order"]) != self.order or info["layout"] != self.layout.to_dict():
            raise BadInputError("the run folder's checkpoint belongs to another channel order "
                                "or layout; use a new --out")
        self.host_bpp = info.get("val_bpp_y_host")

    def prepare_val(self, device) -> None:
        """The held-out latents (``VAL_CROPS`` crops of ``val`` through the host)."""
        self.host, self.device = permuted_host(self.zm, self.order), device
        val_images = load_folder(self.val, self.crop)
        self.val_ys, self.val_hypers = latent_pool(
            self.host, CropSampler(val_images, self.crop, 16, self.seed), VAL_CROPS, device)

    def start(self, model, step: int, device) -> None:
        t0 = time.time()
        self.prepare_val(device)
        host = self.host
        ys, hypers = latent_pool(host, CropSampler(load_folder(self.data, self.crop), self.crop,
                                                   16, self.seed), self.pool, device)
        self.ys, self.hypers = ys.to(device), hypers.to(device)
        self.log(f"{self.codec} q{self.quality}: {len(self.layout.sizes)} slices "
                 f"{list(self.layout.sizes)} in {len(self.layout.stages())} stages; pool of "
                 f"{self.pool} crops ready in {time.time() - t0:.0f} s")
        if self.host_bpp is None:  # the correction networks start at zero: the host's rate
            self.host_bpp = self.held_out(model)
            self.log(f"held-out rate of y with the host's own entropy model: "
                     f"{self.host_bpp:.4f} bpp")

    def held_out(self, model) -> float:
        return validation_bpp(model, self.val_ys.to(self.device), self.val_hypers.to(self.device),
                              self.crop)

    def batch(self, index: int, device):
        import numpy as np
        import torch

        idx = torch.from_numpy(np.random.default_rng([self.seed, index])
                               .integers(0, self.pool, self.batch_size)).to(device)
        return self.ys[idx], self.hypers[idx]

    def forward(self, model, batch, ctx) -> dict:
        return {"bits": model.rate_bits(*batch)}

    def loss(self, out, batch, ctx) -> tuple:
        bpp = out["bits"] / (self.batch_size * self.crop * self.crop)
        return bpp, {"bpp_y": bpp.detach()}

    def on_checkpoint(self, model, step: int) -> dict:
        return {"val_bpp_y": self.held_out(model)}

    def meta(self) -> dict:
        return {"quality": self.quality, "host": self.host_id,
                "host_sha256": host_sha256(self.host_id, self.quality), "order": list(self.order),
                "layout": self.layout.to_dict(), "data": [str(d) for d in self.data],
                "crop": self.crop, "batch": self.batch_size, "pool": self.pool,
                "loss": "rate of y (bits per pixel), host frozen",
                "val_bpp_y_host": self.host_bpp}

    def describe(self, step: int, logs: dict) -> str:
        held = f", held out {logs['val_bpp_y']:.4f}" if "val_bpp_y" in logs else ""
        return f"step {step + 1}: y {logs['bpp_y']:.4f} bpp{held}"


def run(codec_id: str, quality: int, out, data=DEFAULT_DATA, steps: int = 1500,
        batch: int = 8, crop: int = 256, pool: int = 1200, lr: float = 1e-3, seed: int = 0,
        checkpoint_every: int = 100, log=print, core: int = CORE, group: int = SLICE,
        val=DEFAULT_VAL, aux_groups: int | None = AUX_GROUPS,
        opts: LoopOptions | None = None) -> Path:
    """Train (or resume) the run in ``out`` on the shared loop; returns its checkpoint.
    ``opts`` (device, precision, budget, ...) replaces ``steps``, ``lr``, ``seed`` and
    ``checkpoint_every``."""
    opts = opts or LoopOptions(steps=steps, lr=lr, seed=seed, ckpt_every=checkpoint_every,
                               log_every=checkpoint_every)
    task = SliceTask(codec_id, quality, data, batch, crop, pool, opts.seed, log, core, group,
                     val, aux_groups)
    out = Path(out)
    if (out / "checkpoint.safetensors").is_file():
        info = checkpoint_meta(out / "checkpoint.safetensors")
        if info["step"] >= opts.steps:  # finished: report the held-out rate, train nothing
            model = task.build()
            load_checkpoint(out / "checkpoint.safetensors", model)
            task.resumed(model, info)
            task.prepare_val("cpu")
            log(f"held-out rate of y: {task.held_out(model):.4f} bpp")
            return out / "checkpoint.safetensors"
    return loop_run(task, out, opts, log=log)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lvc.train iscs", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codec", choices=sorted(CODECS), default="mbt2018-mean-tiny-iscs")
    ap.add_argument("--quality", type=int, default=2, help="host quality (1-3)")
    ap.add_argument("--out", help="run folder (default runs/<codec>-q<quality>)")
    ap.add_argument("--data", nargs="+", default=list(DEFAULT_DATA))
    add_arguments(ap, steps=1500, lr=1e-3, ckpt_every=100)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--pool", type=int, default=1200, help="training crops in the latent pool")
    ap.add_argument("--core", type=int, default=CORE, help="ISCS core width (channels)")
    ap.add_argument("--group", type=int, default=SLICE,
                    help="auxiliary group (ISCS) or slice (original order) width")
    ap.add_argument("--aux-groups", type=int, default=AUX_GROUPS,
                    help="auxiliary groups (ISCS), decoded side by side; 0: groups of --group")
    ap.add_argument("--val", nargs="+", default=list(DEFAULT_VAL),
                    help="held-out images whose rate is logged")
    ap.add_argument("--export", action="store_true",
                    help="after training, ship the run as the codec's weights at --quality")
    ap.add_argument("--weights-dir", help="where --export writes (default assets/weights)")
    args = ap.parse_args(argv)
    out = args.out or f"runs/{args.codec}-q{args.quality}"
    opts = options(args)
    opts.log_every = opts.ckpt_every or 100
    ckpt = run(args.codec, args.quality, out, args.data, batch=args.batch, crop=args.crop,
               pool=args.pool, log=lambda s: print(s, flush=True), core=args.core,
               group=args.group, val=args.val, aux_groups=args.aux_groups or None, opts=opts)
    if args.export:
        from .weights import export

        entry = export(ckpt, args.weights_dir)
        print(f"wrote {entry['file']} ({entry['steps']} steps)")
    return 0
