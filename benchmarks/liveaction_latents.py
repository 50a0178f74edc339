"""LiVeAction latents: lvc's integer context model vs the paper's lossless-image storage.

On the same integer latents ``q = round(compand(z)[:k] / delta)`` this prints, per
quality level (k channels sent, step delta):

  context      lvc.codecs.liveaction.entropy (tables fitted on BSDS500 train, never Kodak)
  no-context   one table per channel (same fitting data), for scale
  webp         the k channels tiled into one 8-bit grayscale image (q + 128), lossless
               WebP (quality=100, method=6), as the paper stores its latents
  png          the same tiled image as PNG (compress_level=9)

as bits per latent element and bytes per image, plus the context model's saving against
WebP. The tiled image holds q + 128 in 8 bits: for delta < 1 the latents may span more
than 256 values, and anything outside [-128, 127] is clipped before tiling (which only
favours WebP/PNG; the number of clipped values is printed). Every context-model stream
is decoded and checked.

    python benchmarks/liveaction_latents.py \\
        --checkpoint runs/liveaction-image/checkpoint.safetensors \\
        --images ../shared/datasets/kodak --count 6 --train-count 20 --levels 32:1 96:1
    python benchmarks/liveaction_latents.py            # synthetic latents (no checkpoint)

The checkpoint is copied to a temporary file before loading, so a training run may
rewrite it meanwhile.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lvc.codecs.liveaction.entropy import LatentTables, decode_latents, encode_latents, \
    synthetic_latents
from lvc.codecs.liveaction.train import parse_levels
from lvc.entropy import FrequencyTables, channel_indexes, encode_indexed

TRAIN = "../shared/datasets/bsds500/train"
KODAK = "../shared/datasets/kodak"


# ---------------------------------------------------------------- latents
def model_latents(checkpoint, folder, count: int):
    """Companded float latents (C, h, w) of the first ``count`` images in ``folder``."""
    import torch

    from lvc.codecs.liveaction.model import LiVeAction, LiVeActionConfig
    from lvc.train.checkpoint import load_checkpoint
    from lvc.train.data import load_folder

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "checkpoint.safetensors"
        shutil.copyfile(checkpoint, copy)
        from safetensors import safe_open

        with safe_open(str(copy), "pt") as f:
            meta = json.loads(f.metadata()["lvc"])
        model = LiVeAction(LiVeActionConfig.from_dict(meta["config"]))
        load_checkpoint(copy, model)
    model.eval()
    out = []
    with torch.no_grad():
        for im in load_folder(folder)[:count]:
            x = torch.from_numpy(im.transpose(2, 0, 1)[None] / 127.5 - 1.0).float()
            out.append(model.quantizer.compand(model.encode(x))[0].numpy().astype(np.float64))
    return out, meta.get("step")


def quantise(companded, k: int, delta: float) -> list:
    return [np.rint(v[:k] / delta).astype(np.int32) for v in companded]


# ---------------------------------------------------------------- the paper's storage
def tile(q: np.ndarray) -> tuple[np.ndarray, int]:
    """k channels as one 8-bit grayscale mosaic (q + 128, clipped); returns (image, clipped)."""
    k, h, w = q.shape
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    mosaic = np.full((rows * h, cols * w), 128, np.uint8)
    clipped = int(((q < -128) | (q > 127)).sum())
    v = (np.clip(q, -128, 127) + 128).astype(np.uint8)
    for c in range(k):
        r, s = divmod(c, cols)
        mosaic[r * h: (r + 1) * h, s * w: (s + 1) * w] = v[c]
    return mosaic, clipped


def image_bytes(mosaic: np.ndarray, fmt: str) -> int:
    buf = io.BytesIO()
    im = Image.fromarray(mosaic, "L")
    if fmt == "webp":
        im.save(buf, "WEBP", lossless=True, quality=100, method=6)
    else:
        im.save(buf, "PNG", compress_level=9)
    return buf.getbuffer().nbytes


def channel_tables(train: list, k: int) -> FrequencyTables:
    """Context-free baseline: one histogram table per channel."""
    vals = np.concatenate([q[:k].reshape(k, -1) for q in train], 1).astype(np.int64)
    lo, hi = vals.min(1), vals.max(1)
    counts = [np.bincount(v - a, minlength=b - a + 1) for v, a, b in zip(vals, lo, hi)]
    return FrequencyTables.from_histograms(counts, lo, pseudocount=0.05)


# ---------------------------------------------------------------- run
def measure(tables: LatentTables, train: list, test: list, k: int) -> dict:
    plain = channel_tables(train, k)
    sums = dict(context=0, plain=0, webp=0, png=0, elements=0, clipped=0, enc=0.0, dec=0.0)
    for q in test:
        t0 = time.perf_counter()
        data = encode_latents(q, tables)
        t1 = time.perf_counter()
        back = decode_latents(data, q.shape, tables)
        sums["enc"] += t1 - t0
        sums["dec"] += time.perf_counter() - t1
        if not np.array_equal(back, q):
            raise SystemExit("context model round trip failed")
        mosaic, clipped = tile(q)
        sums["context"] += len(data)
        sums["plain"] += len(encode_indexed(q, channel_indexes(q.shape, 0), plain))
        sums["webp"] += image_bytes(mosaic, "webp")
        sums["png"] += image_bytes(mosaic, "png")
        sums["elements"] += q.size
        sums["clipped"] += clipped
    return sums


def render(rows: list, n_images: int) -> str:
    head = (f"{'level (k, delta)':>17} | {'context':>16} | {'no-context':>16} | {'webp':>16} | "
            f"{'png':>16} | {'vs webp':>7} | clipped")
    lines = [head, f"{'':>17} | {'bits/elt  B/img':>16} | " + " | ".join(
        [f"{'bits/elt  B/img':>16}"] * 3) + f" | {'':>7} |", "-" * len(head)]
    for (k, delta), s in rows:
        cells = []
        for key in ("context", "plain", "webp", "png"):
            cells.append(f"{8 * s[key] / s['elements']:8.3f} {s[key] / n_images:7.0f}")
        saving = 100 * (1 - s["context"] / s["webp"])
        lines.append(f"{f'({k}, {delta:g})':>17} | " + " | ".join(cells)
                     + f" | {saving:6.1f}% | {s['clipped']}")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="LiVeAction checkpoint or weights (safetensors); "
                                         "synthetic latents without it")
    ap.add_argument("--images", default=KODAK, help="evaluation images (default Kodak)")
    ap.add_argument("--train", default=TRAIN, help="images the tables are fitted on")
    ap.add_argument("--count", type=int, default=24, help="evaluation images used")
    ap.add_argument("--train-count", type=int, default=200, help="training images used")
    ap.add_argument("--levels", nargs="+", default=["32:1", "96:1"],
                    help="quality levels as k:delta")
    args = ap.parse_args(argv)
    levels = parse_levels(args.levels)

    if args.checkpoint:
        train_f, step = model_latents(args.checkpoint, args.train, args.train_count)
        test_f, _ = model_latents(args.checkpoint, args.images, args.count)
        source = f"{args.checkpoint} (step {step}); fit on {len(train_f)} images of " \
                 f"{args.train}, measured on {len(test_f)} images of {args.images}"
    else:
        channels = max(k for k, _ in levels)
        train_f = synthetic_latents(args.train_count, channels, 21, 31, seed=0)
        test_f = synthetic_latents(args.count, channels, 32, 48, seed=1)
        source = (f"synthetic correlated Laplacian latents: fit on {len(train_f)} of 21x31, "
                  f"measured on {len(test_f)} of 32x48")
    rows, fitted, fit_s = [], {}, 0.0
    for k, delta in levels:
        train = quantise(train_f, train_f[0].shape[0], delta)
        if delta not in fitted:  # one table set per step, for all the latent channels
            t0 = time.perf_counter()
            fitted[delta] = LatentTables.fit(train, train[0].shape[0])
            fit_s += time.perf_counter() - t0
        rows.append(((k, delta), measure(fitted[delta], train, quantise(test_f, k, delta), k)))
    print(source)
    print(render(rows, len(test_f)))
    enc = sum(s["enc"] for _, s in rows)
    dec = sum(s["dec"] for _, s in rows)
    print(f"context model: fit {fit_s:.2f} s, encode {enc:.2f} s, decode {dec:.2f} s in total; "
          "bits/elt = bits per latent element, B/img = bytes per image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
