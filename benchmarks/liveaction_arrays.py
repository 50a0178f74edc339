"""Hyperspectral cubes and volumes: LiVeAction against per-band/per-slice JPEG XL, JPEG 2000 and zstd.

Held-out data of ``lvc.codecs.liveaction.signal_data``: the Jasper Ridge rows 70-99
(uint16) and Urban columns 54-77 (float64) cube parts, coded by ``liveaction-hsi``,
and the chris_MRA volume (uint8), coded by ``liveaction-volume``, all in this run:

    OMP_NUM_THREADS=1 python benchmarks/liveaction_arrays.py [--items jasper urban chris] \\
        [--qualities 1 2 3 4 5] [--threads 1] [--json OUT]

- liveaction: every quality; bytes of the whole ``.lvc`` file (header and metadata too).
- JPEG XL (effort 7) / JPEG 2000 (OpenJPEG, irreversible, target ratios): the array is
  mapped linearly from its own [min, max] to the image bit depth (8-bit for uint8 data,
  16-bit gray otherwise), every band (cubes) or slice along the last axis (volumes)
  is its own image; bytes = sum of the images + 16 (the two float64 range values);
  decoded images are mapped back to the original range and dtype.
- zstd (levels 19 and 3) of the raw array bytes: lossless.

Definitions: CR = arr.nbytes (raw bytes in the array's own dtype) / compressed bytes;
bits/sample = 8 * bytes / arr.size (a float64 cube's CR is large by dtype alone);
PSNR = 10 log10(peak^2 / MSE), peak = max - min of the original, MSE in the original
units, in float64. "vs JPEG XL": JPEG XL's PSNR interpolated at liveaction's
bits/sample (linear in log rate; n/a outside JPEG XL's measured range) and the
difference liveaction - JPEG XL.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
JXL_QUALITIES = (1, 5, 15, 30, 50, 70, 90)
J2K_RATIOS = (5, 10, 20, 40, 80, 200, 500)
DEFINITIONS = ("CR = arr.nbytes / bytes; bits/sample = 8*bytes/arr.size; "
               "PSNR = 10 log10(peak^2/MSE), peak = max-min of the original, MSE in original "
               "units (float64)")


def items(names: list | None) -> list:
    """(name, array, modality, codec, metadata) of the held-out cube parts and volumes."""
    from lvc.codecs.liveaction.signal_data import cube_parts, volume_files
    from lvc.formats.io import read_media

    out = [(n, c, "hyperspectral", "liveaction-hsi", {}) for n, c in cube_parts(DATASETS, True)]
    for path in volume_files(DATASETS, True):
        m = read_media(path)
        out.append((path.name.split(".")[0], m.data, "volume", "liveaction-volume", m.metadata))
    if names:
        unknown = [n for n in names if not any(i[0].startswith(n) for i in out)]
        if unknown:
            sys.exit(f"unknown item(s) {unknown}; items: {[i[0] for i in out]}")
        out = [i for i in out if any(i[0].startswith(n) for n in names)]
    return out


def psnr(ref: np.ndarray, dec: np.ndarray) -> float:
    from lvc.eval.metrics import psnr as psnr_peak

    peak = float(ref.max()) - float(ref.min())
    return psnr_peak(ref, dec, peak=peak if peak > 0 else 1.0)


def point(codec, setting, arr, nbytes, dec, t_enc, t_dec, pnsr=None) -> dict:
    if dec.shape != arr.shape or dec.dtype != arr.dtype:
        raise SystemExit(f"{codec} {setting}: decoded {dec.dtype} {dec.shape}, "
                         f"expected {arr.dtype} {arr.shape}")
    return {"codec": codec, "setting": setting, "bytes": nbytes,
            "bps": 8 * nbytes / arr.size, "cr": arr.nbytes / nbytes,
            "psnr": psnr(arr, dec) if pnsr is None else pnsr, "enc_s": t_enc, "dec_s": t_dec}


def run_liveaction(arr, modality, codec, metadata, qualities) -> list:
    import lvc
    from lvc.formats.media import as_array_media

    media = as_array_media(arr, modality, metadata=metadata)
    rows = []
    for q in qualities:
        t0 = time.perf_counter()
        data = lvc.encode(media, codec, q)
        t1 = time.perf_counter()
        dec = lvc.decode(data)
        rows.append(point(codec, f"q{q}", arr, len(data), dec, t1 - t0, time.perf_counter() - t1))
    return rows


def run_images(arr, fmt: str, settings, threads: int) -> list:
    """Every plane ``arr[..., k]`` as its own 8- or 16-bit gray image, per setting."""
    from PIL import Image

    lo, hi = float(arr.min()), float(arr.max())
    depth = np.uint8 if arr.dtype == np.uint8 else np.uint16
    top = float(np.iinfo(depth).max)
    scale = (hi - lo) or 1.0
    img = np.round((arr.astype(np.float64) - lo) / scale * top).astype(depth)
    rows = []
    for s in settings:
        if fmt == "JXL":
            opts, label = {"quality": s, "effort": 7, "num_threads": threads}, f"q{s}"
        else:
            opts, label = {"quality_mode": "rates", "quality_layers": [s],
                           "irreversible": True}, f"1:{s}"
        total, planes, t_enc, t_dec = 16, [], 0.0, 0.0
        for k in range(img.shape[-1]):
            buf = io.BytesIO()
            t0 = time.perf_counter()
            Image.fromarray(np.ascontiguousarray(img[..., k])).save(buf, fmt, **opts)
            t1 = time.perf_counter()
            planes.append(np.asarray(Image.open(io.BytesIO(buf.getvalue()))))
            t_dec += time.perf_counter() - t1
            t_enc += t1 - t0
            total += buf.tell()
        t1 = time.perf_counter()
        back = np.stack(planes, -1).astype(np.float64) / top * scale + lo
        if arr.dtype.kind in "iu":
            info = np.iinfo(arr.dtype)
            back = np.clip(np.round(back), info.min, info.max)
        dec = back.astype(arr.dtype)
        t_dec += time.perf_counter() - t1
        rows.append(point(f"{fmt.lower()}-{8 * np.dtype(depth).itemsize}bit", label, arr,
                          total, dec, t_enc, t_dec))
    return rows


def run_zstd(arr, levels=(19, 3)) -> list:
    import zstandard

    raw = arr.tobytes()
    rows = []
    for level in levels:
        t0 = time.perf_counter()
        data = zstandard.ZstdCompressor(level=level).compress(raw)
        t1 = time.perf_counter()
        dec = np.frombuffer(zstandard.ZstdDecompressor().decompress(data), arr.dtype)
        dec = dec.reshape(arr.shape)
        t2 = time.perf_counter()
        exact = np.array_equal(dec, arr)
        rows.append(point("zstd", f"level {level}", arr, len(data), dec, t1 - t0, t2 - t1,
                          math.inf if exact else None))
    return rows


def interp_log_rate(curve: list, bps: float) -> float | None:
    """PSNR of ``curve`` at ``bps``, linear in log(bits/sample); None outside its range."""
    pts = sorted((math.log(r["bps"]), r["psnr"]) for r in curve)
    x = [p[0] for p in pts]
    if not pts or not x[0] <= math.log(bps) <= x[-1]:
        return None
    return float(np.interp(math.log(bps), x, [p[1] for p in pts]))


def fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def print_table(name, arr, rows) -> None:
    print(f"\n## {name}: {arr.dtype} {arr.shape}, {arr.nbytes} raw bytes, "
          f"range [{arr.min():g}, {arr.max():g}]")
    print("| codec | setting | bytes | bits/sample | CR | PSNR dB | encode s | decode s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['codec']} | {r['setting']} | {r['bytes']} | {r['bps']:.4f} | "
              f"{r['cr']:.2f} | {r['psnr']:.2f} | {r['enc_s']:.3f} | {r['dec_s']:.3f} |")


def compare(name, rows) -> list:
    ours = [r for r in rows if r["codec"].startswith("liveaction")]
    jxl = [r for r in rows if r["codec"].startswith("jxl")]
    print(f"\n{name}: liveaction vs {jxl[0]['codec'] if jxl else 'JPEG XL'} at equal bits/sample")
    print("| quality | bits/sample | liveaction PSNR | JPEG XL PSNR | difference dB |")
    print("|---|---:|---:|---:|---:|")
    out = []
    for r in ours:
        ref = interp_log_rate(jxl, r["bps"])
        diff = None if ref is None else r["psnr"] - ref
        print(f"| {r['setting']} | {r['bps']:.4f} | {r['psnr']:.2f} | {fmt(ref, '.2f')} | "
              f"{fmt(diff, '+.2f')} |")
        out.append({"setting": r["setting"], "bps": r["bps"], "psnr": r["psnr"],
                    "jxl_psnr": ref, "diff_db": diff})
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", nargs="+", metavar="NAME", help="item names (or prefixes)")
    ap.add_argument("--qualities", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    ap.add_argument("--threads", type=int, default=1, help="torch (and JPEG XL) threads")
    ap.add_argument("--json", metavar="OUT", help="write all points here")
    args = ap.parse_args(argv)
    if not DATASETS.is_dir():
        sys.exit(f"{DATASETS} not found: this benchmark needs the shared datasets")

    import PIL.features
    import torch

    from lvc.codecs.registry import get_codec
    from lvc.errors import CodecUnavailableError

    data = items(args.items)
    try:
        for codec in sorted({i[3] for i in data}):
            get_codec(codec)
    except CodecUnavailableError as e:  # e.g. weights not installed (LVC_WEIGHTS_DIR)
        sys.exit(str(e).split(": run ")[0])

    torch.set_num_threads(args.threads)
    try:
        import pillow_jxl.JpegXLImagePlugin as jxl_plugin
        jxl_plugin.DECODE_THREADS = args.threads
    except ImportError:
        jxl_plugin = None
    j2k = PIL.features.check("jpg_2000")
    print(f"Definitions: {DEFINITIONS}")
    print(f"JPEG XL: {'pillow-jxl-plugin, 8-bit L for uint8 data, 16-bit I;16 otherwise' if jxl_plugin else 'NOT available'}; "
          f"JPEG 2000: {'OpenJPEG, 8-bit L for uint8 data, 16-bit I;16 otherwise' if j2k else 'NOT available'}; "
          f"torch threads {args.threads}")

    report = {"definitions": DEFINITIONS, "threads": args.threads, "items": {}}
    for name, arr, modality, codec, metadata in data:
        rows = run_liveaction(arr, modality, codec, metadata, args.qualities)
        if jxl_plugin:
            rows += run_images(arr, "JXL", JXL_QUALITIES, args.threads)
        if j2k:
            rows += run_images(arr, "JPEG2000", J2K_RATIOS, args.threads)
        rows += run_zstd(arr)
        print_table(name, arr, rows)
        vs = compare(name, rows) if jxl_plugin else []
        report["items"][name] = {"dtype": str(arr.dtype), "shape": list(arr.shape),
                                 "raw_bytes": arr.nbytes, "points": rows, "vs_jxl": vs}
    if args.json:
        for item in report["items"].values():  # JSON has no inf: lossless PSNR -> null
            for r in item["points"]:
                r["psnr"] = None if math.isinf(r["psnr"]) else r["psnr"]
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
