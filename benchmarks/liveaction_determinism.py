"""LiVeAction decode determinism on real images with the shipped weights.

Encodes every image of a folder at every quality in this process, then decodes all of
the files in two fresh processes, one with ``torch.set_num_threads(1)`` and one with 2
threads, and compares the SHA-256 of every decoded image (and with this process's own
decode). Prints the number of files and of mismatches; exits 1 on any mismatch.

    python benchmarks/liveaction_determinism.py [--images ../shared/datasets/kodak] [--count 24]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import lvc
from lvc.eval.bench import load_images

CODEC = "liveaction-rgb"


def digests(files: list) -> list:
    return [hashlib.sha256(lvc.decode(Path(f).read_bytes()).tobytes()).hexdigest() for f in files]


def child(threads: int, listing: str) -> None:
    import torch

    torch.set_num_threads(threads)
    print(json.dumps(digests(json.loads(Path(listing).read_text()))))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default=str(Path(__file__).resolve().parents[2] / "shared"
                                            / "datasets" / "kodak"))
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(int(args.child[0]), args.child[1])
        return 0
    from lvc.codecs.registry import codec_info

    lo, hi = codec_info(CODEC).quality_range
    images = load_images(args.images, args.count)
    with tempfile.TemporaryDirectory(prefix="lvc-det-") as tmp:
        files = []
        for i, image in enumerate(images):
            for q in range(lo, hi + 1):
                path = Path(tmp) / f"{i}-q{q}.lvc"
                path.write_bytes(lvc.encode(image, CODEC, q))
                files.append(str(path))
        listing = Path(tmp) / "files.json"
        listing.write_text(json.dumps(files))
        here = digests(files)
        runs = {}
        for threads in (1, 2):
            out = subprocess.run([sys.executable, __file__, "--child", str(threads), str(listing)],
                                 capture_output=True, text=True, check=True).stdout
            runs[threads] = json.loads(out.strip().splitlines()[-1])
    bad = sum(a != b or a != c for a, b, c in zip(here, runs[1], runs[2]))
    print(f"{len(files)} files ({len(images)} images x qualities {lo}-{hi}): decoded in this "
          f"process and in fresh processes with 1 and 2 torch threads; {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
