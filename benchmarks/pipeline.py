"""Training-pipeline read speed: image folders against ``.lvc`` shards, in one run.

Issue 22's table. The same images (the first ``--limit`` of BSDS500 val, never
training data here) are stored as a PNG folder, a JPEG q90 folder (read with
Pillow), and ``codec pack`` shards at webp q75, jpeg q75 and liveaction-rgb q4; each is
read by a ``torch.utils.data.DataLoader`` (batch ``--batch``, ``--workers`` worker
processes, persistent) that decodes and takes a random ``--crop`` x ``--crop`` crop
as float CHW. ``liveaction-rgb latent`` reads the liveaction shards with
``output="latent"`` (``lvc.decode_latent``, no synthesis network) and crops the
latent to the same area (crop / 16). One warm-up epoch (workers start, caches fill),
then ``--epochs`` timed epochs; images/s is their mean. Bytes on disk count every
file (shards: the whole tars with their json and cls members, and index.json).

    python benchmarks/pipeline.py [--dataset ../shared/datasets/bsds500/val] [--limit 100]
        [--crop 256] [--batch 32] [--workers 2] [--epochs 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.utils.data as tud
from PIL import Image

from lvc.data import ShardDataset, pack
from lvc.data.samples import set_worker_threads

ROOT = Path(__file__).resolve().parents[1]
BSDS_VAL = ROOT.parent / "shared" / "datasets" / "bsds500" / "val"
SHARDS = (("webp", 75), ("jpeg", 75), ("liveaction-rgb", 4))


class RandomCrop:
    """A random ``size`` x ``size`` crop of a (C, H, W) tensor (a module-level class:
    DataLoader workers may pickle it)."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        top = int(torch.randint(0, h - self.size + 1, ()))
        left = int(torch.randint(0, w - self.size + 1, ()))
        return x[..., top:top + self.size, left:left + self.size]


class ImageFolderFiles(tud.Dataset):
    """Image files read with Pillow, as float CHW in [0, 1] (torchvision's way)."""

    def __init__(self, files, transform):
        self.files, self.transform = files, transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        set_worker_threads()
        x = torch.from_numpy(np.array(Image.open(self.files[i]).convert("RGB")))
        return self.transform(x.permute(2, 0, 1).float().div_(255))


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def read_speed(dataset, count: int, args) -> float:
    """Images/s over ``args.epochs`` epochs after a warm-up epoch."""
    loader = tud.DataLoader(dataset, batch_size=args.batch, num_workers=args.workers,
                            persistent_workers=args.workers > 0)
    seen = sum(len(batch) for batch in loader)  # warm-up: workers start
    if seen != count:
        raise SystemExit(f"read {seen} images, expected {count}")
    start = time.perf_counter()
    for _ in range(args.epochs):
        for batch in loader:
            assert batch.dtype == torch.float32
    return count * args.epochs / (time.perf_counter() - start)


def prepare(sources: list, work: Path, args) -> dict:
    """The stored copies: ``{name: (folder, dataset factory)}``."""
    crop, latent_crop = RandomCrop(args.crop), RandomCrop(args.crop // 16)
    stores = {}
    for suffix, save in (("png", {}), ("jpg", {"quality": 90})):
        folder = work / suffix
        folder.mkdir()
        files = []
        for src in sources:
            files.append(folder / f"{src.stem}.{suffix}")
            Image.open(src).convert("RGB").save(files[-1], **save)
        label = "PNG folder" if suffix == "png" else "JPEG q90 folder"
        stores[label] = (folder, lambda f=files: ImageFolderFiles(f, crop))
    for codec, quality in SHARDS:
        folder = work / f"{codec}-q{quality}"
        start = time.perf_counter()
        pack(work / "png", folder, codec, quality, shard_size="8MB", workers=args.workers)
        print(f"packed {codec} q{quality} in {time.perf_counter() - start:.1f} s",
              file=sys.stderr)
        stores[f"{codec} q{quality} shards"] = (
            folder, lambda f=folder: ShardDataset(f, output="float", transform=crop))
    folder = work / "liveaction-rgb-q4"
    stores["liveaction-rgb q4 latent"] = (
        folder, lambda f=folder: ShardDataset(f, output="latent", transform=latent_crop))
    return stores


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=BSDS_VAL)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sources = sorted(p for p in args.dataset.glob("*") if p.suffix.lower() in
                     (".jpg", ".jpeg", ".png"))[:args.limit]
    if not sources:
        raise SystemExit(f"no images in {args.dataset}")
    torch.set_num_threads(1)  # the main process only collates
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (folder, make) in prepare(sources, Path(tmp), args).items():
            speed = read_speed(make(), len(sources), args)
            rows.append({"store": name, "bytes": folder_bytes(folder), "images_per_s": speed})
            print(f"{name}: {speed:.1f} images/s", file=sys.stderr)
    png = rows[0]
    full = next(r for r in rows if r["store"] == "liveaction-rgb q4 shards")
    for r in rows:
        r["bytes_vs_png"] = r["bytes"] / png["bytes"]
        r["speed_vs_png"] = r["images_per_s"] / png["images_per_s"]
    webp = next(r for r in rows if r["store"].startswith("webp"))
    latent = rows[-1]
    checks = {
        "webp shards at least as fast as the PNG folder": webp["speed_vs_png"] >= 1.0,
        "webp shards under a third of the PNG bytes": webp["bytes_vs_png"] < 1 / 3,
        "liveaction latent reading >= 5x its full decode":
            latent["images_per_s"] >= 5 * full["images_per_s"],
    }
    if args.json:
        print(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                          "images": len(sources), "rows": rows, "checks": checks}, indent=2))
        return 0
    print(f"{len(sources)} images from {args.dataset}, {args.crop}x{args.crop} random crops, "
          f"batch {args.batch}, {args.workers} workers, {args.epochs} timed epochs")
    print(f"{'store':<28}{'bytes':>12}{'vs PNG':>8}{'images/s':>10}{'vs PNG':>8}")
    for r in rows:
        print(f"{r['store']:<28}{r['bytes']:>12,}{r['bytes_vs_png']:>8.3f}"
              f"{r['images_per_s']:>10.1f}{r['speed_vs_png']:>8.2f}")
    print(f"latent / full liveaction decode: {latent['images_per_s'] / full['images_per_s']:.1f}x")
    for text, ok in checks.items():
        print(f"{'met' if ok else 'NOT met'}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
