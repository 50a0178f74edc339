"""dualdiff on Kodak: rate (whole file), PSNR, MS-SSIM and a texture-energy realism
proxy, against the base codec alone at the same total rates and the implicit-only
variant, in one run; implicit KL bits with and without the explicit branch at equal t*.

    OMP_NUM_THREADS=1 python benchmarks/dualdiff_kodak.py [--limit N] [--crop 256] \
        [--qualities 1 2 3 4 5 6] [--implicit 1 2 3 4] [--workers 2] [--json OUT]

- dualdiff q: explicit level + t* (``lvc.codecs.diffusion.codec.QUALITIES``), realism 1.
- base alone: the explicit branch by itself (the base codec on the 2x, 3x or 4x shrunk
  image, resized back: ``explicit.LEVELS``), plus liveaction-rgb at full size q1, its
  lowest rate.
- dualdiff-implicit q: DiffC with the same network conditioned on zeros.
- realism proxy (no reference network exists offline): texture energy ratio
  ``TE = mean |Laplacian(decoded)| / mean |Laplacian(original)|`` on the luma; 1 means
  as much fine texture as the original, blurry reconstructions fall below 1. It says
  nothing about whether the texture is the right one (PSNR / MS-SSIM do).
- ``--crop S``: the centre S x S of each image (the encoder's reverse-channel search
  costs about pixels x 2^(6 + 1) normal draws per step on one CPU core).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "datasets" / "kodak"
BASE_EXTRA = ((3, 4), (2, 3))
"""Base-codec points beyond the explicit levels (factor, quality), so that the base
alone spans dualdiff's rates (to about 0.1 bpp)."""


def base_at(rate: float, base: list) -> float:
    """PSNR of the base codec alone at ``rate`` bpp: linear in log-rate between the
    neighbouring points of its rate-PSNR frontier (NaN outside its range)."""
    from lvc.eval.mpq.runner import value_at

    front, best = [], -np.inf
    for bpp, psnr in sorted(base):
        if psnr > best:
            front.append((bpp, psnr))
            best = psnr
    curve = {"results": {"bpp": [b for b, _ in front], "psnr": [q for _, q in front]}}
    at = value_at(curve, "bpp", "psnr", rate)
    return float("nan") if at is None else at


def luma(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]


def texture_energy(x: np.ndarray) -> float:
    y = luma(x)
    lap = 4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]
    return float(np.abs(lap).mean())


def measure(name, x, encode, decode) -> dict:
    from lvc.eval.metrics import image_metrics

    t0 = time.perf_counter()
    data = encode(x)
    t1 = time.perf_counter()
    y = decode(data)
    t2 = time.perf_counter()
    m = image_metrics(x, y)
    return {"codec": name, "bpp": 8 * len(data) / (x.shape[0] * x.shape[1]),
            "psnr": m["psnr-rgb"], "ms-ssim": m["ms-ssim-rgb"],
            "te": texture_energy(y) / max(texture_energy(x), 1e-9),
            "enc_s": t1 - t0, "dec_s": t2 - t1, "data": data}


def image_rows(path, args) -> list:
    """Every codec of the run on one Kodak image (the unit of work of ``--workers``)."""
    import torch

    import lvc
    from lvc.codecs.diffusion.codec import QUALITIES, IMPLICIT_QUALITIES
    from lvc.codecs.diffusion.explicit import LEVELS, decode_explicit, encode_base, encode_explicit
    from lvc.formats.container import read_header
    from PIL import Image

    torch.set_num_threads(args.threads)
    x = np.asarray(Image.open(path).convert("RGB"))
    if args.crop:
        h, w = x.shape[:2]
        s = min(args.crop, h, w)
        x = np.ascontiguousarray(x[(h - s) // 2:(h + s) // 2, (w - s) // 2:(w + s) // 2])
    runs = [(f"base L{i} (f{f}, q{q})", lambda x, i=i: encode_explicit(x, i),
             lambda d, x=x: decode_explicit(d, x.shape)) for i, (f, q) in enumerate(LEVELS)]
    runs += [(f"base f{f}, q{q}", lambda x, f=f, q=q: encode_base(x, f, q),
              lambda d, x=x: decode_explicit(d, x.shape)) for f, q in BASE_EXTRA]
    runs.append(("liveaction-rgb q1", lambda x: lvc.encode(x, "liveaction-rgb", 1), lvc.decode))
    runs += [(f"dualdiff q{q}", lambda x, q=q: lvc.encode(x, "dualdiff", q), lvc.decode)
             for q in args.qualities]
    runs += [(f"dualdiff-implicit q{q}", lambda x, q=q: lvc.encode(x, "dualdiff-implicit", q),
              lvc.decode) for q in args.implicit]
    rows = []
    for name, enc, dec in runs:
        r = measure(name, x, enc, dec)
        data = r.pop("data")
        if name.startswith("dualdiff"):
            h = read_header(data)
            stop = (QUALITIES[h.quality - 1][1] if h.codec == "dualdiff"
                    else IMPLICIT_QUALITIES[h.quality - 1])
            r.update(kl_bits=h.metadata.get("kl_bits"), stop=stop,
                     implicit_bpp=8 * h.stream_lengths[1] / (x.shape[0] * x.shape[1]))
        r["image"] = path.name
        rows.append(r)
        print(f"{path.name} {name:28s} {r['bpp']:.4f} bpp {r['psnr']:.2f} dB "
              f"ms-ssim {r['ms-ssim']:.4f} TE {r['te']:.2f} enc {r['enc_s']:.1f}s "
              f"dec {r['dec_s']:.1f}s" + (f" KL {r['kl_bits']:.0f} bits (t* index {r['stop']})"
                                          if 'kl_bits' in r else ""), flush=True)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int)
    ap.add_argument("--crop", type=int)
    ap.add_argument("--qualities", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    ap.add_argument("--implicit", type=int, nargs="*", default=[1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    ap.add_argument("--workers", type=int, default=1,
                    help="images coded in parallel processes (timings then share the cores)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if not KODAK.is_dir():
        sys.exit(f"error: {KODAK} not found")
    files = sorted(KODAK.glob("*.png"))[:args.limit]
    if args.workers > 1:
        from concurrent.futures import ProcessPoolExecutor
        from functools import partial

        with ProcessPoolExecutor(args.workers) as pool:
            rows = [r for rs in pool.map(partial(image_rows, args=args), files) for r in rs]
    else:
        rows = [r for path in files for r in image_rows(path, args)]
    print("\nmeans over", len(files), "images" + (f" ({args.crop}x{args.crop} centre crops)"
                                                  if args.crop else ""))
    print(f"{'codec':28s} {'bpp':>7s} {'PSNR':>6s} {'MS-SSIM':>8s} {'TE':>5s} {'KL bits':>8s} "
          f"{'enc s':>6s} {'dec s':>6s} {'base PSNR at bpp':>16s}")
    means = {}
    for name in dict.fromkeys(r["codec"] for r in rows):
        sel = [r for r in rows if r["codec"] == name]
        means[name] = {k: float(np.mean([r[k] for r in sel])) if k in sel[0] else float("nan")
                       for k in ("bpp", "psnr", "ms-ssim", "te", "kl_bits", "enc_s", "dec_s")}
    base = [(m["bpp"], m["psnr"]) for n, m in means.items()
            if n.startswith(("base", "liveaction-rgb"))]
    for name, m in means.items():
        at = base_at(m["bpp"], base) if name.startswith("dualdiff") else float("nan")
        print(f"{name:28s} {m['bpp']:7.4f} {m['psnr']:6.2f} {m['ms-ssim']:8.4f} {m['te']:5.2f} "
              f"{m['kl_bits']:8.0f} {m['enc_s']:6.1f} {m['dec_s']:6.1f} {at:16.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
