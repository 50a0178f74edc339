"""pc-hclt against classical lossless coders on MNIST (and sklearn digits), one run.

    python benchmarks/pc_mnist.py                 # MNIST eval split (last 2,000) + digits
    python benchmarks/pc_mnist.py --count 200     # a quicker subset

For each dataset's evaluation split it prints bits per dimension (pixel) and
images/second:

  pc-hclt      one .lvc image-set file for the whole split (whole file: header,
               streams, ANS flush), encoded here and decoded by a *separate* process,
               which must return every image exactly; "theoretical" is -log2 p(x) / D
               under the shipped model
  png / webp / jpegxl   one lossless file per image (Pillow: PNG compress_level 9,
               WebP lossless method 6, JPEG XL lossless effort 7 bare codestream)
  zlib / lzma  the split's raw pixels concatenated into one blob (level 9 /
               preset 9 | extreme), which favours them: no per-image overhead

Then naive vs incremental conditionals: the naive way runs one full marginal query
(upward pass over the whole circuit, for all K values at once) per pixel, O(D |p|);
the incremental one reuses cached messages, O(|p|) per image. On digits both run on
whole images; on MNIST the naive one runs on the first ``--naive-pixels`` pixels of
one image and is extrapolated linearly to 784 (every naive query costs the same
full pass), which the table says.
"""

from __future__ import annotations

import argparse
import io
import lzma
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

import lvc
from lvc.codecs.pc import weights as pc_weights
from lvc.codecs.pc.conditionals import incremental_conditionals, naive_conditionals
from lvc.codecs.pc.data import load

DECODE = ("import sys, time, numpy as np, lvc; data = open(sys.argv[1], 'rb').read(); "
          "t = time.perf_counter(); x, _ = lvc.decode_images(data); "
          "print(time.perf_counter() - t); np.save(sys.argv[2], x)")


def pillow_bytes(image: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    im = Image.fromarray(image)
    if fmt == "png":
        im.save(buf, "PNG", compress_level=9)
    elif fmt == "webp":
        im.save(buf, "WEBP", lossless=True, quality=100, method=6)
    else:
        import pillow_jxl  # noqa: F401

        im.save(buf, "JXL", lossless=True, effort=7, use_container=False)
    return buf.getvalue()


def classical(images: np.ndarray) -> list:
    rows = []
    for fmt in ("png", "webp", "jpegxl"):
        try:
            t0 = time.perf_counter()
            blobs = [pillow_bytes(im, fmt) for im in images]
            t1 = time.perf_counter()
            back = [np.asarray(Image.open(io.BytesIO(b)).convert("L")) for b in blobs]
            t2 = time.perf_counter()
        except ImportError as e:
            print(f"{fmt}: skipped ({e})")
            continue
        assert all(np.array_equal(a, b) for a, b in zip(back, images)), f"{fmt} not lossless"
        rows.append((fmt, sum(map(len, blobs)), None, t1 - t0, t2 - t1))
    raw = np.ascontiguousarray(images).tobytes()
    for name, comp, decomp in (
            ("zlib (one blob)", lambda b: zlib.compress(b, 9), zlib.decompress),
            ("lzma (one blob)", lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME),
             lzma.decompress)):
        t0 = time.perf_counter()
        blob = comp(raw)
        t1 = time.perf_counter()
        assert decomp(blob) == raw
        rows.append((name, len(blob), None, t1 - t0, time.perf_counter() - t1))
    return rows


def pc_row(images: np.ndarray) -> tuple:
    shape = images.shape[1:]
    model = pc_weights.load_model(shape).hclt
    theory = model.bits_per_dimension(images.reshape(len(images), -1).astype(np.int64))
    t0 = time.perf_counter()
    data = lvc.encode_images(images, codec="pc-hclt")
    enc = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "set.lvc", Path(tmp) / "back.npy"
        path.write_bytes(data)
        proc = subprocess.run([sys.executable, "-c", DECODE, str(path), str(out)], check=True,
                              capture_output=True, text=True, env=dict(os.environ))
        dec = float(proc.stdout.split()[0])
        exact = np.array_equal(np.load(out), images)
    if not exact:
        raise SystemExit("pc-hclt round trip FAILED")
    return ("pc-hclt", len(data), theory, enc, dec), model


def speedup(model, images: np.ndarray, naive_pixels: int | None) -> str:
    x = images.reshape(len(images), -1).astype(np.int64)
    n = 1 if naive_pixels else min(len(x), 20)
    t0 = time.perf_counter()
    incremental_conditionals(model, x[:n])
    inc = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for row in x[:n]:
        naive_conditionals(model, row, naive_pixels)
    naive = (time.perf_counter() - t0) / n
    note = ""
    if naive_pixels:
        naive *= model.variables / naive_pixels
        note = f" (extrapolated from {naive_pixels} of {model.variables} pixels)"
    return (f"conditionals per image: naive {naive:.3f} s{note}, incremental {inc * 1e3:.1f} ms "
            f"-> {naive / inc:.0f}x faster")


def render(title: str, rows: list, images: np.ndarray) -> str:
    pixels = images.size
    out = [title, f"{'codec':<18} {'bpd':>7} {'theory':>7} {'enc img/s':>10} {'dec img/s':>10}",
           "-" * 56]
    for name, nbytes, theory, enc, dec in rows:
        th = f"{theory:7.3f}" if theory is not None else f"{'':>7}"
        out.append(f"{name:<18} {8 * nbytes / pixels:7.3f} {th} {len(images) / enc:10.0f} "
                   f"{len(images) / dec:10.0f}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, help="only the first N evaluation images")
    ap.add_argument("--naive-pixels", type=int, default=32)
    ap.add_argument("--skip-mnist", action="store_true")
    args = ap.parse_args(argv)
    for name in (("digits",) if args.skip_mnist else ("mnist", "digits")):
        images = load(name)[1][: args.count]
        row, model = pc_row(images)
        rows = [row] + classical(images)
        print(render(f"\n{name}: {len(images)} evaluation images {images.shape[1]}x"
                     f"{images.shape[2]}, H = {model.hidden}, K = {model.values}; "
                     "pc-hclt decoded exactly by a separate process", rows, images))
        best = min(r[1] for r in rows[1:])
        print(f"pc-hclt vs best classical: {100 * (1 - row[1] / best):.1f}% fewer bits")
        print(speedup(model, images, args.naive_pixels if name == "mnist" else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
