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

Schedule: Adam, ``--lr`` for the first 80% of the steps and a tenth of it after.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from ...errors import BadInputError
from ...train.checkpoint import JsonlLog, load_checkpoint, save_checkpoint
from ...train.data import CropSampler, load_folder
from ..latent_coding import bottleneck_medians
from ..mlicv2.train import DEFAULT_DATA
from .weights import AUX_GROUPS, CODECS, CORE, SLICE, host_model, host_sha256, permuted_host, plan

DEFAULT_VAL = ("../shared/datasets/bsds500/val",)
VAL_CROPS = 96


def latent_pool(host, sampler: CropSampler, crops: int):
    """(y, hyper) of ``crops`` training crops through the (permuted) frozen host."""
    import torch

    model, ys, hypers = host.model, [], []
    med = bottleneck_medians(model.entropy_bottleneck)
    with torch.inference_mode():
        for step in range(-(-crops // sampler.batch_size)):
            y = model.g_a(torch.from_numpy((sampler.batch(step) + 1.0) / 2.0))
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


def run(codec_id: str, quality: int, out, data=DEFAULT_DATA, steps: int = 1500,
        batch: int = 8, crop: int = 256, pool: int = 1200, lr: float = 1e-3, seed: int = 0,
        checkpoint_every: int = 100, log=print, core: int = CORE, group: int = SLICE,
        val=DEFAULT_VAL, aux_groups: int | None = AUX_GROUPS) -> Path:
    """Train (or resume) the run in ``out``; returns its checkpoint path."""
    import numpy as np
    import torch

    from .slices import SliceEntropyModel

    if codec_id not in CODECS:
        raise BadInputError(f"unknown slice codec {codec_id!r} (known: {', '.join(CODECS)})")
    if steps < 1 or batch < 1 or pool < batch or crop < 64 or crop % 64:
        raise BadInputError("--steps, --batch must be positive, --pool >= --batch and "
                            "--crop a multiple of 64")
    host_id, kind = CODECS[codec_id]
    zm = host_model(host_id, quality)
    order, layout = plan(zm.model, kind, core, group, aux_groups)
    host = permuted_host(zm, order)
    out = Path(out)
    ckpt = out / "checkpoint.safetensors"
    torch.manual_seed(seed)
    model = SliceEntropyModel(layout)
    opt = torch.optim.Adam(model.nets.parameters(), lr=lr)
    step, wall = 0, 0.0
    if ckpt.is_file():
        info = load_checkpoint(ckpt, model, opt)
        if tuple(info["order"]) != order or info["layout"] != layout.to_dict():
            raise BadInputError(f"{ckpt} belongs to another channel order or layout; "
                                "use a new --out")
        step, wall = info["step"], info.get("wall_seconds", 0.0)
        log(f"resuming {ckpt} at step {step}")
    t0 = time.time()
    val_images = load_folder(val, crop)
    train_images = load_folder(data, crop) if step < steps else None
    val_ys, val_hypers = latent_pool(host, CropSampler(val_images, crop, 16, seed), VAL_CROPS)
    if step >= steps:
        log(f"held-out rate of y: {validation_bpp(model, val_ys, val_hypers, crop):.4f} bpp")
        return ckpt
    out.mkdir(parents=True, exist_ok=True)  # only once the inputs are known good
    jsonl = JsonlLog(out / "log.jsonl")
    ys, hypers = latent_pool(host, CropSampler(train_images, crop, 16, seed), pool)
    log(f"{codec_id} q{quality}: {len(layout.sizes)} slices {list(layout.sizes)} in "
        f"{len(layout.stages())} stages; pool of {pool} crops ready in {time.time() - t0:.0f} s")
    meta = {"codec": codec_id, "quality": quality, "host": host_id,
            "host_sha256": host_sha256(host_id, quality), "order": list(order),
            "layout": layout.to_dict(), "data": [str(d) for d in data], "crop": crop,
            "batch": batch, "pool": pool, "lr": lr, "seed": seed,
            "loss": "rate of y (bits per pixel), host frozen",
            "hardware": f"{platform.machine()}, {torch.get_num_threads()} threads"}
    if step == 0:  # the correction networks start at zero: this is the host's own rate
        meta["val_bpp_y_host"] = validation_bpp(model, val_ys, val_hypers, crop)
        log(f"held-out rate of y with the host's own entropy model: "
            f"{meta['val_bpp_y_host']:.4f} bpp")
    else:
        meta["val_bpp_y_host"] = info.get("val_bpp_y_host")
    pixels = batch * crop * crop
    model.train()
    start = step
    while step < steps:
        for group in opt.param_groups:
            group["lr"] = lr if step < 0.8 * steps else lr / 10
        idx = torch.from_numpy(np.random.default_rng([seed, step]).integers(0, pool, batch))
        bpp = model.rate_bits(ys[idx], hypers[idx]) / pixels
        opt.zero_grad()
        bpp.backward()
        torch.nn.utils.clip_grad_norm_(model.nets.parameters(), 1.0)
        opt.step()
        step += 1
        if step % checkpoint_every == 0 or step == steps:
            seconds = wall + time.time() - t0
            held_out = validation_bpp(model, val_ys, val_hypers, crop)
            jsonl.write(step=step, bpp_y=float(bpp.detach()), val_bpp_y=held_out,
                        seconds=round(seconds, 1))
            save_checkpoint(ckpt, model, opt, step, {**meta, "wall_seconds": seconds,
                                                     "val_bpp_y": held_out})
            log(f"step {step}: y {float(bpp.detach()):.4f} bpp, held out {held_out:.4f} "
                f"({(step - start) / max(time.time() - t0, 1e-9):.2f} steps/s)")
    return ckpt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lvc.train iscs", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codec", choices=sorted(CODECS), default="mbt2018-mean-tiny-iscs")
    ap.add_argument("--quality", type=int, default=2, help="host quality (1-3)")
    ap.add_argument("--out", help="run folder (default runs/<codec>-q<quality>)")
    ap.add_argument("--data", nargs="+", default=list(DEFAULT_DATA))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--pool", type=int, default=1200, help="training crops in the latent pool")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--core", type=int, default=CORE, help="ISCS core width (channels)")
    ap.add_argument("--group", type=int, default=SLICE,
                    help="auxiliary group (ISCS) or slice (original order) width")
    ap.add_argument("--aux-groups", type=int, default=AUX_GROUPS,
                    help="auxiliary groups (ISCS), decoded side by side; 0: groups of --group")
    ap.add_argument("--val", nargs="+", default=list(DEFAULT_VAL),
                    help="held-out images whose rate is logged")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--export", action="store_true",
                    help="after training, ship the run as the codec's weights at --quality")
    ap.add_argument("--weights-dir", help="where --export writes (default assets/weights)")
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or f"runs/{args.codec}-q{args.quality}"
    ckpt = run(args.codec, args.quality, out, args.data, args.steps, args.batch, args.crop,
               args.pool, args.lr, args.seed, log=lambda s: print(s, flush=True),
               core=args.core, group=args.group, val=args.val,
               aux_groups=args.aux_groups or None)
    if args.export:
        from .weights import export

        entry = export(ckpt, args.weights_dir)
        print(f"wrote {entry['file']} ({entry['steps']} steps)")
    return 0
