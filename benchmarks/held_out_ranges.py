"""What each shipped learned model reaches on data it was not trained on, lowest and
highest quality, in one run: the ranges the README quotes so that a user knows where a
model stops (and when to reach for ``--max-error`` instead).

    python benchmarks/held_out_ranges.py [--images 4] [--clips 6] [--skip dualdiff]

Data (``../shared/datasets``, skipped with a message when absent): the first N Kodak
images (never trained on), the held-out speech and music clips and one held-out
4-channel recording (``signal_data``), the held-out Jasper Ridge rows and Urban columns
and the chris_MRA volume (``liveaction_arrays.items``), the first 200 of pc-hclt's MNIST
evaluation split. Rates count whole ``.lvc`` files. Images: PSNR on 8-bit RGB over the set (mean
MSE); audio: SNR over the set; arrays: PSNR with peak = max - min of each item.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lvc  # noqa: E402
from lvc.codecs.registry import codec_info  # noqa: E402
from lvc.eval.metrics import psnr  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
IMAGE_CODECS = ("liveaction-rgb", "mlicv2-tiny", "mbt2018-mean-tiny", "dualdiff")


def _row(codec, item, quality, rate, unit, quality_db, metric, seconds):
    return {"codec": codec, "data": item, "quality": quality, "rate": rate, "unit": unit,
            "db": quality_db, "metric": metric, "seconds": seconds}


def image_rows(count: int, skip: tuple) -> list:
    from lvc.formats.io import read_media

    paths = sorted((DATA / "kodak").glob("*.png"))[:count]
    if not paths:
        print("no Kodak images under ../shared/datasets/kodak: images skipped")
        return []
    images = [read_media(p).data for p in paths]
    rows = []
    for codec in IMAGE_CODECS:
        if codec in skip:
            continue
        lo, hi = codec_info(codec).quality_range
        for q in (lo, hi):
            t0, bits, mse = time.perf_counter(), 0, 0.0
            for x in images:
                data = lvc.encode(x, codec, q)
                y = lvc.decode(data)
                bits += 8 * len(data)
                mse += float(np.mean((x.astype(np.float64) - y) ** 2)) / len(images)
            pixels = sum(x.shape[0] * x.shape[1] for x in images)
            rows.append(_row(codec, f"Kodak {len(images)}", q, bits / pixels, "bpp",
                             10 * np.log10(255 ** 2 / mse), "PSNR", time.perf_counter() - t0))
            print(rows[-1], flush=True)
    return rows


def audio_rows(count: int) -> list:
    from audio_common import lvc_coder, measure, multichannel_clips, music_clips, speech_clips

    try:
        sets = [("speech", "liveaction-audio", speech_clips(count)),
                ("music", "liveaction-audio", music_clips(2)),
                ("4-channel", "liveaction-audio4", multichannel_clips(1))]
    except SystemExit as e:  # audio_common exits when ../shared is absent
        print(f"audio skipped: {e}")
        return []
    rows = []
    for name, codec, clips in sets:
        lo, hi = codec_info(codec).quality_range
        for q in (lo, hi):
            t0 = time.perf_counter()
            row, _ = measure(lvc_coder(codec, q), clips)
            clips_text = f"{len(clips)} clip{'s' if len(clips) > 1 else ''}"
            rows.append(_row(codec, f"{name} ({clips_text})", q, row["kbps"], "kbps",
                             row["snr"], "SNR", time.perf_counter() - t0))
            print(rows[-1], flush=True)
    return rows


def array_rows() -> list:
    from liveaction_arrays import items, psnr as range_psnr

    from lvc.formats.media import as_array_media

    rows = []
    for name, arr, modality, codec, metadata in items(None):
        lo, hi = codec_info(codec).quality_range
        for q in (lo, hi):
            t0 = time.perf_counter()
            data = lvc.encode(as_array_media(arr, modality, metadata=metadata), codec, q)
            rows.append(_row(codec, name, q, 8 * len(data) / arr.size, "bits/sample",
                             range_psnr(arr, lvc.decode(data)), "PSNR",
                             time.perf_counter() - t0))
            print(rows[-1], flush=True)
    return rows


def pc_rows(count: int) -> list:
    from lvc.codecs.pc.data import load

    try:
        images = load("mnist")[1][:count]  # the evaluation split, never trained on
    except Exception as e:  # no MNIST here
        print(f"pc-hclt skipped: {e}")
        return []
    t0 = time.perf_counter()
    data = lvc.encode_images(images)
    back, _ = lvc.decode_images(data)
    assert np.array_equal(back, images)
    return [_row("pc-hclt", f"MNIST {len(images)}", 0, 8 * len(data) / images.size, "bpp",
                 float("inf"), "lossless", time.perf_counter() - t0)]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=4, help="Kodak images (default 4)")
    ap.add_argument("--clips", type=int, default=6, help="held-out speech clips (default 6)")
    ap.add_argument("--skip", nargs="*", default=(), help="image codecs to leave out")
    args = ap.parse_args(argv)
    rows = image_rows(args.images, tuple(args.skip)) + audio_rows(args.clips) + array_rows() \
        + pc_rows(200)
    print("\n| model | held-out data | quality | rate | quality (dB) | seconds |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        db = "exact" if r["metric"] == "lossless" else f"{r['metric']} {r['db']:.1f}"
        print(f"| {r['codec']} | {r['data']} | q{r['quality']} | {r['rate']:.4g} {r['unit']} "
              f"| {db} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
