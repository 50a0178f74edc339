"""Near-lossless and lossless bits per sample: lvc's residual layer against JPEG-LS,
JPEG XL / JPEG 2000 lossless and zstd, in one run.

Issue 24's table. Items: the held-out volume and the held-out integer cube of
``lvc/codecs/liveaction/signal_data.py`` (the float64 urban cube has no JPEG-LS
counterpart and is left out) and the first ``--kodak`` Kodak images. For each item and
N in 0, 1, 2, 4: lvc (the item's LiVeAction codec with ``max_error=N``; the base
quality chosen for the smallest file unless ``--quality``) and JPEG-LS with NEAR=N
(CharLS through ``imagecodecs``); at N = 0 also JPEG XL and JPEG 2000 lossless and
zstd -19 on the raw array. 2-D coders code volumes slice by slice (along the last
axis) and cubes band by band; Kodak images are coded as RGB. Bits per sample count
whole files (lvc: the ``.lvc`` file; others: their streams).

    python benchmarks/near_lossless.py [--kodak 2] [--quality Q] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
NS = (0, 1, 2, 4)


def items(kodak: int) -> list:
    """``(name, array, lvc codec, 2-D planes)``."""
    from PIL import Image

    from lvc.codecs.liveaction import signal_data
    from lvc.formats.io import read_media

    out = []
    for path in signal_data.volume_files(SHARED, held_out=True):
        vol = read_media(path).data
        out.append((path.name, vol, "liveaction-volume",
                    [vol[:, :, k] for k in range(vol.shape[2])]))
    for name, cube in signal_data.cube_parts(SHARED, held_out=True):
        if cube.dtype.kind in "iu":
            out.append((name + " (held-out part)", cube, "liveaction-hsi",
                        [np.ascontiguousarray(cube[:, :, b]) for b in range(cube.shape[2])]))
    for path in sorted((SHARED / "kodak").glob("*.png"))[:kodak]:
        image = np.array(Image.open(path).convert("RGB"))
        out.append((path.name, image, "liveaction-rgb", [image]))
    return out


def baselines(planes: list, array: np.ndarray) -> dict:
    """Bytes per method: JPEG-LS at each N, lossless JPEG XL, JPEG 2000 and zstd."""
    import imagecodecs as ic

    out = {f"jpeg-ls near={n}": sum(len(ic.jpegls_encode(p, level=n)) for p in planes)
           for n in NS}
    for n, p in zip(NS, planes[:1]):  # the bound, checked once per item
        back = ic.jpegls_decode(ic.jpegls_encode(p, level=2))
        assert np.abs(back.astype(int) - p).max() <= 2
    out["jpeg xl lossless"] = sum(len(ic.jpegxl_encode(p, lossless=True, effort=7))
                                  for p in planes)
    out["jpeg 2000 lossless"] = sum(len(ic.jpeg2k_encode(p, reversible=True)) for p in planes)
    out["zstd -19"] = len(ic.zstd_encode(np.ascontiguousarray(array).tobytes(), level=19))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kodak", type=int, default=2)
    parser.add_argument("--quality", type=int)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import lvc

    rows = []
    for name, array, codec, planes in items(args.kodak):
        samples = array.size
        sizes = baselines(planes, array)
        for n in NS:
            start = time.perf_counter()
            data = lvc.encode(array, codec, args.quality, max_error=n)
            seconds = time.perf_counter() - start
            err = np.abs(lvc.decode(data).astype(np.int64) - array.astype(np.int64)).max()
            assert err <= n, (name, n, err)
            sizes[f"lvc max_error={n}"] = len(data)
            print(f"{name} N={n}: {8 * len(data) / samples:.3f} bits/sample, base q"
                  f"{lvc.formats.container.read_header(data).quality}, {seconds:.1f} s",
                  file=sys.stderr)
        rows.append({"item": name, "shape": list(array.shape), "dtype": str(array.dtype),
                     "bits_per_sample": {k: 8 * v / samples for k, v in sizes.items()}})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        b = r["bits_per_sample"]
        print(f"\n{r['item']} {'x'.join(map(str, r['shape']))} {r['dtype']} (bits/sample)")
        print(f"{'N':>3} {'lvc':>8} {'JPEG-LS':>8} {'lvc/JPEG-LS':>12}")
        for n in NS:
            lv, ls = b[f"lvc max_error={n}"], b[f"jpeg-ls near={n}"]
            print(f"{n:>3} {lv:>8.3f} {ls:>8.3f} {lv / ls - 1:>+11.1%}")
        lossless = {k: v for k, v in b.items() if k in ("jpeg xl lossless", "jpeg 2000 lossless",
                                                         "zstd -19", "jpeg-ls near=0")}
        best = min(lossless, key=lossless.get)
        print("lossless: " + ", ".join(f"{k} {v:.3f}" for k, v in lossless.items())
              + f"; lvc {b['lvc max_error=0']:.3f} = {b['lvc max_error=0'] / lossless[best] - 1:+.1%}"
              f" vs the best ({best})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
