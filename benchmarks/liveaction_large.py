"""LiVeAction on large images: peak memory and time at 4000x3000, and what tiling costs.

1. Encode and decode a 4000x3000 image, each in a fresh process, printing the
   process's peak RSS (``VmHWM``) and its RSS once torch and the weights are loaded.
2. Code a 2048x1536 image tiled (the codec's tile size, 1024 px: 2x2 tiles) and
   untiled at a few qualities and print bpp, PSNR and the PSNR tiling costs.

Images: procedural photo-like images (``lvc.samples``), or ``--image PATH`` centre-
cropped to 4:3 and resized (Lanczos) to each size. Weights: the installed ones
(``LVC_WEIGHTS_DIR`` or ``assets/weights``); ``--random`` (or none installed) exports
a randomly initialised model of the shipped configuration to a temporary folder,
which is fine for memory and time but not for PSNR.

    python benchmarks/liveaction_large.py [--random] [--image PATH] [--qualities 2 5 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import lvc
from lvc.codecs.liveaction import weights as la_weights
from lvc.eval.bench import rss_now_mib, rss_peak_mib
from lvc.eval.metrics import psnr

CODEC = "liveaction-rgb"
LARGE = (4000, 3000)
TILING = (2048, 1536)


def make_image(width: int, height: int, path=None) -> np.ndarray:
    if path is None:
        from lvc.samples import sample_image

        return sample_image(width, height, seed=1)
    from PIL import Image

    rgb = lvc.read(path).data
    rgb = np.dstack([rgb] * 3) if rgb.ndim == 2 else rgb[:, :, :3]
    h, w = rgb.shape[:2]
    ch, cw = min(h, w * height // width), min(w, h * width // height)
    crop = rgb[(h - ch) // 2:(h - ch) // 2 + ch, (w - cw) // 2:(w - cw) // 2 + cw]
    return np.asarray(Image.fromarray(crop).resize((width, height), Image.LANCZOS))


def random_weights(folder: Path) -> Path:
    """Export a random-init model of the shipped (train.SMALL) configuration."""
    import torch
    from PIL import Image

    from lvc.codecs.liveaction.model import LiVeAction, LiVeActionConfig
    from lvc.codecs.liveaction.train import RATE_LEVELS, SMALL
    from lvc.samples import sample_image
    from lvc.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = LiVeAction(LiVeActionConfig(**SMALL))
    ckpt = folder / "random.safetensors"
    save_checkpoint(ckpt, model, torch.optim.SGD(model.parameters(), lr=0.1), 0,
                    {"config": model.config.to_dict(), "rate_levels": RATE_LEVELS})
    (folder / "fit").mkdir()
    for i in range(4):
        Image.fromarray(sample_image(256, 256, seed=10 + i)).save(folder / "fit" / f"{i}.png")
    la_weights.export_weights(ckpt, folder / "weights" / la_weights.DEFAULT_FILE,
                              folder / "fit", manifest_fields={"note": "random init"})
    return folder / "weights"


# ---------------------------------------------------------------- child processes
def child(task: str, src: str, dst: str, quality: int) -> None:
    """Run one encode or decode in this (fresh) process; print one JSON line."""
    from lvc.codecs.registry import get_codec

    get_codec(CODEC).fingerprint()  # import torch, load the weights
    data = np.load(src) if task == "encode" else Path(src).read_bytes()
    loaded = rss_now_mib()
    t = time.perf_counter()
    out = lvc.encode(data, CODEC, quality) if task == "encode" else lvc.decode(data)
    seconds = time.perf_counter() - t
    if task == "encode":
        Path(dst).write_bytes(out)
    else:
        np.save(dst, out)
    print(json.dumps({"task": task, "seconds": seconds, "loaded_rss_mib": loaded,
                      "peak_rss_mib": rss_peak_mib()}))


def run_child(task: str, src: Path, dst: Path, quality: int, threads: int | None) -> dict:
    extra = ["--threads", str(threads)] if threads else []
    proc = subprocess.run([sys.executable, __file__, *extra, "--child", task, str(src), str(dst),
                           str(quality)], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{task} child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the two measurements
def large(tmp: Path, image_path, quality: int, threads: int | None) -> dict:
    x = make_image(*LARGE, image_path)
    np.save(tmp / "large.npy", x)
    enc = run_child("encode", tmp / "large.npy", tmp / "large.lvc", quality, threads)
    dec = run_child("decode", tmp / "large.lvc", tmp / "decoded.npy", quality, threads)
    y = np.load(tmp / "decoded.npy")
    size = (tmp / "large.lvc").stat().st_size
    return {"size": f"{LARGE[0]}x{LARGE[1]}", "quality": quality,
            "bpp": 8 * size / (LARGE[0] * LARGE[1]), "psnr": psnr(x, y),
            "encode": enc, "decode": dec}


def tiling(image_path, qualities) -> list:
    from lvc.codecs.liveaction.codec import LiVeActionCodec

    x = make_image(*TILING, image_path)
    pixels = TILING[0] * TILING[1]
    rows = []
    default_tile = LiVeActionCodec.tile_size
    for q in qualities:
        row = {"quality": q, "tile": default_tile}
        for name, tile in (("tiled", default_tile), ("untiled", 1 << 20)):
            LiVeActionCodec.tile_size = tile
            try:
                t = time.perf_counter()
                blob = lvc.encode(x, CODEC, q)
                t_enc = time.perf_counter() - t
                t = time.perf_counter()
                y = lvc.decode(blob)
                t_dec = time.perf_counter() - t
            finally:
                LiVeActionCodec.tile_size = default_tile
            row[name] = {"bpp": 8 * len(blob) / pixels, "psnr": psnr(x, y),
                         "encode_s": t_enc, "decode_s": t_dec}
        row["psnr_cost_db"] = row["untiled"]["psnr"] - row["tiled"]["psnr"]
        row["bpp_cost"] = row["tiled"]["bpp"] - row["untiled"]["bpp"]
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--random", action="store_true", help="random-init weights (memory/time)")
    ap.add_argument("--image", help="source image (default: procedural)")
    ap.add_argument("--quality", type=int, default=4, help="quality of the 4000x3000 run")
    ap.add_argument("--qualities", type=int, nargs="+", default=[2, 5, 8],
                    help="qualities of the tiling comparison")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--skip-tiling", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.child:
        task, src, dst, quality = args.child
        return child(task, src, dst, int(quality))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.random or la_weights.probe():
            os.environ[la_weights.WEIGHTS_ENV] = str(random_weights(tmp))
            print("weights: random init (memory and time only; PSNR is meaningless)")
        else:
            entry = la_weights.manifest_entry(la_weights.CODEC_ID)
            print(f"weights: {la_weights.weights_dir() / entry['file']} (steps {entry.get('steps')})")
        import torch

        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
        result = {}
        if not args.skip_large:
            result["large"] = r = large(tmp, args.image, args.quality, args.threads)
            if not args.json:
                print(f"\n{r['size']} at quality {r['quality']}: {r['bpp']:.3f} bpp, "
                      f"PSNR {r['psnr']:.2f} dB")
                print(f"{'':8} {'seconds':>8} {'MP/s':>6} {'RSS loaded':>11} {'peak RSS':>9}")
                for part in ("encode", "decode"):
                    p = r[part]
                    print(f"{part:8} {p['seconds']:8.1f} {12 / p['seconds']:6.2f} "
                          f"{p['loaded_rss_mib']:8.0f} MiB {p['peak_rss_mib']:5.0f} MiB")
        if not args.skip_tiling:
            result["tiling"] = rows = tiling(args.image, args.qualities)
            if not args.json:
                print(f"\n{TILING[0]}x{TILING[1]}: tiled ({rows[0]['tile']} px tiles) vs untiled")
                print(f"{'q':>2} {'bpp tiled':>9} {'untiled':>8} {'PSNR tiled':>10} "
                      f"{'untiled':>8} {'PSNR cost':>9}")
                for r in rows:
                    print(f"{r['quality']:2d} {r['tiled']['bpp']:9.4f} {r['untiled']['bpp']:8.4f} "
                          f"{r['tiled']['psnr']:10.2f} {r['untiled']['psnr']:8.2f} "
                          f"{r['psnr_cost_db']:9.3f}")
        if args.json:
            print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
