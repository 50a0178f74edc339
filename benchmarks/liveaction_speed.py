"""LiVeAction speed against WebP, AVIF and a CompressAI hyperprior, at about 0.5 bpp, in one run.

Issue 4's speed table: encoder and decoder megapixels per second on this CPU for
LiVeAction, WebP (method 4), AVIF (speed 6) and CompressAI's bmshj2018-hyperprior
(random weights: only its time is measured, at the same image size), each codec in its
own process, all in this run, so the ratios compare like with like. For every ``.lvc``
codec the quality is the one whose whole-file bpp on the images is closest to
``--bpp`` (default 0.5). Images: the first ``--count`` Kodak images when
``../shared/datasets/kodak`` exists, else procedural 768x512 ones. ``--large`` adds
the 4000x3000 LiVeAction peak-memory run of ``liveaction_large.py``.

    python benchmarks/liveaction_speed.py [--count 4] [--repeat 3] [--large] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import lvc
from lvc.codecs.registry import codec_info
from lvc.eval.bench import bench, load_images, rss_now_mib, rss_peak_mib, synthetic_images

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "datasets" / "kodak"
CODECS = ("liveaction-rgb", "webp", "avif")
HYPERPRIOR = "bmshj2018-hyperprior"


def quality_for_bpp(codec: str, images: list, target: float) -> tuple[int, float]:
    """The codec's RD-sweep quality whose mean whole-file bpp is closest to ``target``."""
    best = None
    for q in codec_info(codec).sweep_qualities():
        bits = sum(8 * len(lvc.encode(im, codec, q)) for im in images)
        bpp = bits / sum(im.shape[0] * im.shape[1] for im in images)
        if best is None or abs(bpp - target) < abs(best[1] - target):
            best = (q, bpp)
    return best


def hyperprior_worker(images_file: str, repeat: int) -> None:
    """Time CompressAI compress/decompress (real range coding) in this process."""
    import torch
    from compressai.zoo import bmshj2018_hyperprior

    with np.load(images_file) as npz:
        images = [npz[k] for k in npz.files]
    idle = rss_now_mib()
    net = bmshj2018_hyperprior(quality=4, pretrained=False).eval()
    net.update(force=True)
    tensors = []
    for im in images:   # pad to a multiple of 64, as CompressAI's own evaluation does
        x = torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255
        h, w = x.shape[2:]
        tensors.append(torch.nn.functional.pad(x, (0, -w % 64, 0, -h % 64), mode="replicate"))
    pixels = sum(im.shape[0] * im.shape[1] for im in images)
    enc, dec = [], []
    with torch.no_grad():
        for run in range(repeat + 1):            # run 0 warms up
            t0 = time.perf_counter()
            coded = [net.compress(x) for x in tensors]
            t1 = time.perf_counter()
            for c in coded:
                net.decompress(c["strings"], c["shape"])
            t2 = time.perf_counter()
            if run:
                enc.append(pixels / 1e6 / (t1 - t0))
                dec.append(pixels / 1e6 / (t2 - t1))
    bits = sum(8 * len(s[0]) for c in coded for s in c["strings"])
    peak = rss_peak_mib()
    print(json.dumps({"codec": f"{HYPERPRIOR} (random)", "quality": 4, "bpp": bits / pixels,
                      "encode_mps": statistics.median(enc), "decode_mps": statistics.median(dec),
                      "peak_rss_mib": peak, "rss_increase_mib": peak - idle}))


def hyperprior(images: list, repeat: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="lvc-speed-") as tmp:
        data = Path(tmp) / "images.npz"
        np.savez(data, *images)
        proc = subprocess.run([sys.executable, __file__, "--hyperprior-worker", str(data),
                               "--repeat", str(repeat)], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"hyperprior worker failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def render(rows: list, images: list, repeat: int, target: float) -> str:
    avif = next(r for r in rows if r["codec"] == "avif")
    lines = [f"{len(images)} image(s) {images[0].shape[1]}x{images[0].shape[0]}, target "
             f"{target} bpp, median of {repeat} runs, each codec in its own process",
             "| codec | quality | bpp | enc MP/s | dec MP/s | enc x AVIF | dec x AVIF | peak RSS MiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['codec']} | {r['quality']} | {r['bpp']:.3f} | {r['encode_mps']:.2f} | "
                     f"{r['decode_mps']:.2f} | {r['encode_mps'] / avif['encode_mps']:.2f} | "
                     f"{r['decode_mps'] / avif['decode_mps']:.2f} | {r['peak_rss_mib']:.0f} |")
    la = next((r for r in rows if r["codec"] == "liveaction-rgb"), None)
    webp = next(r for r in rows if r["codec"] == "webp")
    if la:
        x = la["encode_mps"] / avif["encode_mps"]
        lines.append(f"LiVeAction encode = {x:.2f}x AVIF (target >= 5x: "
                     f"{'met' if x >= 5 else 'NOT met'}); "
                     f"{la['encode_mps'] / webp['encode_mps']:.2f}x WebP (stretch > 1x)")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=4, help="images (Kodak when present)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bpp", type=float, default=0.5, help="target bpp for the quality choice")
    ap.add_argument("--large", action="store_true", help="also the 4000x3000 memory run")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--hyperprior-worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.hyperprior_worker:
        return hyperprior_worker(args.hyperprior_worker, args.repeat)
    images = (load_images(KODAK, args.count) if KODAK.is_dir()
              else synthetic_images(768, 512, args.count))
    codecs = [c for c in CODECS if not codec_info(c).unavailable_reason()]
    qualities = {c: quality_for_bpp(c, images, args.bpp)[0] for c in codecs}
    rows = bench([(c, qualities[c]) for c in codecs], images, args.repeat)
    rows.append(hyperprior(images, args.repeat))
    result = {"rows": rows}
    if args.large and "liveaction-rgb" in codecs:
        sys.path.insert(0, str(Path(__file__).parent))
        from liveaction_large import large

        with tempfile.TemporaryDirectory(prefix="lvc-large-") as tmp:
            result["large"] = large(Path(tmp), None, qualities["liveaction-rgb"], None)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(render(rows, images, args.repeat, args.bpp))
    if "large" in result:
        big = result["large"]
        print(f"4000x3000 LiVeAction q{big['quality']}: {big['bpp']:.3f} bpp, peak RSS encode "
              f"{big['encode']['peak_rss_mib']:.0f} MiB, decode {big['decode']['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
