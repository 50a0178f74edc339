"""MLICv2+ (SGA at encode time) against plain MLICv2-tiny encoding, on real files.

    python benchmarks/mlicv2_sga.py [--dataset ../shared/datasets/kodak] [--limit 6]
                                    [--quality 2] [--iterations 30]

Each image is encoded twice with the shipped ``mlicv2-tiny`` weights at one quality,
without and with ``refine=N`` (``lvc.encode``), and both files decoded. Prints per
image and on average: bpp (whole file), PSNR, the rate-distortion cost the weights
were trained for (``lambda * 255^2 * MSE + bpp``, MSE of [0, 1] pixels) and encode
seconds, then the mean RD-cost change and the encode-time multiple. Decoding is the
same program either way (only the latent differs).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import lvc
from lvc.eval.rd import list_images, load_rgb

ROOT = Path(__file__).resolve().parents[1]


def measure(img: np.ndarray, quality: int, refine: int, lmbda: float) -> dict:
    t0 = time.perf_counter()
    data = lvc.encode(img, "mlicv2-tiny", quality, refine=refine)
    seconds = time.perf_counter() - t0
    out = lvc.decode(data)
    mse = float(np.mean((img / 255.0 - out / 255.0) ** 2))
    bpp = 8 * len(data) / (img.shape[0] * img.shape[1])
    return {"bpp": bpp, "psnr": 10 * np.log10(1 / mse), "cost": lmbda * 255 ** 2 * mse + bpp,
            "enc_s": seconds}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared" / "datasets" / "kodak"))
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--quality", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=30)
    args = ap.parse_args(argv)

    from lvc.codecs.mlicv2.codec import _load

    lmbda = _load(args.quality)[2]
    print(f"mlicv2-tiny quality {args.quality} (lambda {lmbda}), SGA {args.iterations} "
          "iterations\n")
    print("| image | bpp | bpp SGA | PSNR | PSNR SGA | RD cost | RD cost SGA | change | "
          "enc s | enc s SGA |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for path in list_images(args.dataset)[:args.limit]:
        img = load_rgb(path)
        a, b = measure(img, args.quality, 0, lmbda), measure(img, args.quality,
                                                             args.iterations, lmbda)
        rows.append((a, b))
        print(f"| {path.name} | {a['bpp']:.4f} | {b['bpp']:.4f} | {a['psnr']:.2f} | "
              f"{b['psnr']:.2f} | {a['cost']:.4f} | {b['cost']:.4f} | "
              f"{100 * (b['cost'] / a['cost'] - 1):+.2f}% | {a['enc_s']:.1f} | "
              f"{b['enc_s']:.1f} |", flush=True)
    mean = {k: (np.mean([a[k] for a, _ in rows]), np.mean([b[k] for _, b in rows]))
            for k in rows[0][0]}
    print(f"| mean of {len(rows)} | {mean['bpp'][0]:.4f} | {mean['bpp'][1]:.4f} | "
          f"{mean['psnr'][0]:.2f} | {mean['psnr'][1]:.2f} | {mean['cost'][0]:.4f} | "
          f"{mean['cost'][1]:.4f} | {100 * (mean['cost'][1] / mean['cost'][0] - 1):+.2f}% | "
          f"{mean['enc_s'][0]:.1f} | {mean['enc_s'][1]:.1f} |")
    print(f"\nRD cost {100 * (mean['cost'][1] / mean['cost'][0] - 1):+.2f}% with SGA; "
          f"rate {100 * (mean['bpp'][1] / mean['bpp'][0] - 1):+.2f}%, "
          f"PSNR {mean['psnr'][1] - mean['psnr'][0]:+.3f} dB; encode time "
          f"x{mean['enc_s'][1] / mean['enc_s'][0]:.1f}")


if __name__ == "__main__":
    main()
