"""LiVeAction speed against WebP, AVIF and a CompressAI hyperprior, at about 0.5 bpp, in one run.

Issue 4's speed table: encoder and decoder megapixels per second on this CPU for
LiVeAction, WebP (method 4), AVIF (speed 6) and CompressAI's bmshj2018-hyperprior
(random weights: only its time is measured, at the same image size), each codec in its
own process, all in this run, so the ratios compare like with like. For every ``.lvc``
codec the quality is the one whose whole-file bpp on the images is closest to
``--bpp`` (default 0.5). Images: the first ``--count`` Kodak images when
``../shared/datasets/kodak`` exists, else procedural 768x512 ones. ``--large`` adds
the 4000x3000 LiVeAction peak-memory run of ``liveaction_large.py``.

Two checks follow the table. Same bytes: every Kodak image coded by liveaction-rgb at
every quality has the sha256 recorded in ``liveaction_kodak_sha256.json`` (written by
commit 8a07d9c, before issue 23's speed work; ``--record-hashes`` rewrites it with the
code in use). Synthesis: the CPU's integer-product decoder against the float32
reference decoder on the same latents (seconds and PSNR against the original).

    python benchmarks/liveaction_speed.py [--count 4] [--repeat 3] [--large] [--json]
                                          [--no-hashes] [--record-hashes]
    python benchmarks/liveaction_speed.py --synthesis-sweep --count 24
"""

from __future__ import annotations

import argparse
import hashlib
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
HASHES = Path(__file__).with_name("liveaction_kodak_sha256.json")
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


def kodak_hashes() -> dict:
    """sha256 of the liveaction-rgb file of every Kodak image at every quality."""
    from lvc.codecs.liveaction.weights import load_weights
    from lvc.formats.io import read_media

    files = {}
    for path in sorted(KODAK.glob("*.png")):
        image = read_media(path).data
        files[path.name] = {str(q): hashlib.sha256(lvc.encode(image, "liveaction-rgb", q))
                            .hexdigest() for q in codec_info("liveaction-rgb").sweep_qualities()}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(lvc.__file__).parents[1]).stdout.strip()
    return {"made_by": f"commit {commit or '?'}", "weights_sha256":
            load_weights("liveaction-rgb").sha256, "files": files}


def same_bytes(reference: dict, now: dict) -> str:
    """One line: how many files match the recorded hashes (and which do not)."""
    if reference["weights_sha256"] != now["weights_sha256"]:
        return "Same bytes: not comparable (the recorded hashes are for other weights)"
    pairs = [(name, q) for name, per in reference["files"].items() for q in per]
    differ = [f"{name} q{q}" for name, q in pairs
              if now["files"].get(name, {}).get(q) != reference["files"][name][q]]
    return (f"Same bytes as {reference.get('made_by', 'recorded')}: "
            f"{len(pairs) - len(differ)}/{len(pairs)} files identical"
            + (f"; DIFFERENT: {', '.join(differ[:8])}" if differ else ""))


def synthesis_check(images: list, quality: int) -> dict:
    """Integer-product against float32 synthesis of the same latents: median seconds per
    image and mean PSNR (dB) against the originals and between the two."""
    from lvc.codecs.liveaction.codec import analyse, level_symbols, synthesise
    from lvc.codecs.liveaction.weights import load_weights
    from lvc.eval.metrics import psnr

    w = load_weights("liveaction-rgb")
    k, delta = w.rate_levels[quality - 1]
    seconds = {"integer": [], "float32": []}
    scores = {"integer": [], "float32": [], "between": []}
    for image in images:
        symbols = level_symbols(analyse(w.model, image), k, delta)
        out = {}
        for name, decoder in (("integer", w.decoder_on()), ("float32", None)):
            runs = []
            for _ in range(3):
                start = time.perf_counter()
                out[name] = synthesise(w.model, symbols, delta, image.shape[:2], decoder=decoder)
                runs.append(time.perf_counter() - start)
            seconds[name].append(statistics.median(runs))
            scores[name].append(psnr(image, out[name]))
        scores["between"].append(psnr(out["float32"], out["integer"]))
    return {"quality": quality,
            "seconds": {k: statistics.median(v) for k, v in seconds.items()},
            "psnr": {k: statistics.mean(v) for k, v in scores.items()},
            "worst_loss_db": max(f - i for f, i in zip(scores["float32"], scores["integer"])),
            "between_range_db": (min(scores["between"]), max(scores["between"]))}


def synthesis_sweep(images: list) -> str:
    """``synthesis_check`` at every quality: the integer decoder's PSNR cost by rate."""
    lines = ["| q | float32 dB | integer dB | mean loss | worst image | between dB |",
             "|---:|---:|---:|---:|---:|---:|"]
    for q in codec_info("liveaction-rgb").sweep_qualities():
        r = synthesis_check(images, q)
        f, i = r["psnr"]["float32"], r["psnr"]["integer"]
        lines.append(f"| {q} | {f:.3f} | {i:.3f} | {f - i:.3f} | {r['worst_loss_db']:.3f} | "
                     "{:.1f}-{:.1f} |".format(*r["between_range_db"]))
    return "\n".join(lines)


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
        lines.append(f"LiVeAction decode = {la['decode_mps']:.2f} MP/s (target >= 3: "
                     f"{'met' if la['decode_mps'] >= 3 else 'NOT met'})")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=4, help="images (Kodak when present)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bpp", type=float, default=0.5, help="target bpp for the quality choice")
    ap.add_argument("--large", action="store_true", help="also the 4000x3000 memory run")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-hashes", action="store_true", help="skip the same-bytes check")
    ap.add_argument("--record-hashes", action="store_true",
                    help=f"write {HASHES.name} with this code and stop")
    ap.add_argument("--synthesis-sweep", action="store_true",
                    help="only the integer vs float32 synthesis, at every quality")
    ap.add_argument("--hyperprior-worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.hyperprior_worker:
        return hyperprior_worker(args.hyperprior_worker, args.repeat)
    if args.record_hashes:
        HASHES.write_text(json.dumps(kodak_hashes(), indent=1) + "\n")
        return print(f"wrote {HASHES}")
    images = (load_images(KODAK, args.count) if KODAK.is_dir()
              else synthetic_images(768, 512, args.count))
    if args.synthesis_sweep:
        return print(f"{len(images)} image(s)\n{synthesis_sweep(images)}")
    codecs = [c for c in CODECS if not codec_info(c).unavailable_reason()]
    qualities = {c: quality_for_bpp(c, images, args.bpp)[0] for c in codecs}
    rows = bench([(c, qualities[c]) for c in codecs], images, args.repeat)
    rows.append(hyperprior(images, args.repeat))
    result = {"rows": rows}
    if "liveaction-rgb" in codecs:
        result["synthesis"] = synthesis_check(images, qualities["liveaction-rgb"])
        if not args.no_hashes and KODAK.is_dir() and HASHES.is_file():
            result["same_bytes"] = same_bytes(json.loads(HASHES.read_text()), kodak_hashes())
    if args.large and "liveaction-rgb" in codecs:
        sys.path.insert(0, str(Path(__file__).parent))
        from liveaction_large import large

        with tempfile.TemporaryDirectory(prefix="lvc-large-") as tmp:
            result["large"] = large(Path(tmp), None, qualities["liveaction-rgb"], None)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(render(rows, images, args.repeat, args.bpp))
    if "synthesis" in result:
        syn = result["synthesis"]
        print(f"Synthesis q{syn['quality']} (median s/image; mean PSNR vs original): integer "
              f"products {syn['seconds']['integer']:.3f} s, {syn['psnr']['integer']:.2f} dB; "
              f"float32 reference {syn['seconds']['float32']:.3f} s, "
              f"{syn['psnr']['float32']:.2f} dB; the two {syn['psnr']['between']:.1f} dB apart")
    if "same_bytes" in result:
        print(result["same_bytes"])
    if "large" in result:
        big = result["large"]
        print(f"4000x3000 LiVeAction q{big['quality']}: {big['bpp']:.3f} bpp, peak RSS encode "
              f"{big['encode']['peak_rss_mib']:.0f} MiB, decode {big['decode']['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
