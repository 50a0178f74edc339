"""Speed and memory of every available lossy image codec, at default qualities, in one run.

JPEG is the baseline column when available (then WebP, AVIF, JPEG XL, the rest by id); the other
codecs are every available non-lossless image codec in the registry (WebP, AVIF,
JPEG XL and any learned codec whose weights are installed). Images: synthetic
768x512 (Kodak's size) photo-like images. Each codec runs in its own process, so
"peak RSS" is that codec's own high-water mark (see lvc.eval.bench).

    python benchmarks/codec_speed.py [--images 4] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import json

from lvc.codecs.registry import all_codecs
from lvc.eval.bench import bench, print_table, synthetic_images


CLASSICAL = ("jpeg", "webp", "avif", "jpegxl")  # jpeg first: the baseline column


def lossy_image_codecs() -> list:
    ids = [cid for cid, info in all_codecs().items()
           if info.modality == "image" and not info.lossless and info.available]
    return sorted(ids, key=lambda cid: (CLASSICAL.index(cid) if cid in CLASSICAL else 99, cid))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    images = synthetic_images(768, 512, args.images)
    rows = bench([(cid, None) for cid in lossy_image_codecs()], images, args.repeat)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows, images, args.repeat)


if __name__ == "__main__":
    main()
