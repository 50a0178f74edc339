"""The MNIST digit classifier of the example mpq plugin (``examples/mnist_task.py``).

A tiny CNN (two 3x3 convolutions with max-pooling, two linear layers; about 55k
parameters) that this project trains itself on the *first 8,000* digits of MNIST's
t10k file (``lvc.codecs.pc.data``: the same split as the pc codec) and measures on the
last 2,000, which it never sees. Inputs: uint8 images, grayscale or RGB (averaged to
gray), any size (area-resampled to 28x28, so digits upscaled with ``--scale`` come
back to MNIST's size exactly); the network sees 28x28 values in [0, 1].

    python -m lvc.eval.mpq.mnist train --out runs/mnist-classifier --steps 3000 --threads 1
    python -m lvc.eval.mpq.mnist export runs/mnist-classifier/checkpoint.safetensors
    python -m lvc.eval.mpq.mnist accuracy            # the shipped weights on held-out digits
    python -m lvc.eval.mpq.mnist digits runs/mpq-data/mnist --count 200 [--scale 4]

``train`` is resumable: ``checkpoint.safetensors`` (model, optimizer, step) is
rewritten every ``--ckpt-minutes`` and at the end, ``log.jsonl`` gets a row every 50
steps and the held-out accuracy at the end; the same command continues a killed run.
``export`` writes ``mnist-classifier.safetensors`` (float32, no pickle) to the weights
folder with a manifest entry keyed by ``"task"`` (no ``"codec"`` field, so codec weight
look-ups never see it). ``digits`` writes held-out digits as 8-bit grayscale PNGs
named ``<index>-label<digit>.png`` (index into the t10k file, 8000..9999), the
dataset format of the plugin.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import BadInputError, CodecUnavailableError, ModelMismatchError, OutputExistsError
from ...codecs.manifest import file_sha256, read_manifest, update_manifest, verified_sha256, \
    weights_dir

if TYPE_CHECKING:
    import torch

TASK = "mnist-classification"
FILE = "mnist-classifier.safetensors"
FILE_FORMAT = 1
SIZE = 28
CONFIG = {"channels": [16, 32], "hidden": 32, "classes": 10}
TRAIN_DATA = ("MNIST t10k digits 0..7999 (../shared/datasets/mnist/t10k-images-idx3-ubyte.gz, "
              "lvc.codecs.pc.data.SPLITS['mnist']); digits 8000..9999 held out")
LABEL_RE = re.compile(r"-label(\d)$")
TRAIN_COMMAND = ("python -m lvc.eval.mpq.mnist train --out runs/mnist-classifier --steps 3000 "
                 "--threads 1")


# ---------------------------------------------------------------- data
def mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) uint8) of ``train`` (t10k digits
    0..7999) or ``heldout`` (8000..9999)."""
    from ...codecs.pc.data import MNIST_FILE, MNIST_LABELS_FILE, SPLITS, read_idx_images, \
        read_idx_labels

    images, labels = read_idx_images(MNIST_FILE), read_idx_labels(MNIST_LABELS_FILE)
    if len(images) != len(labels):
        raise BadInputError(f"{MNIST_FILE} has {len(images)} images but {MNIST_LABELS_FILE} "
                            f"{len(labels)} labels")
    cut = SPLITS["mnist"]
    if split == "train":
        return images[:cut], labels[:cut]
    if split == "heldout":
        return images[cut:], labels[cut:]
    raise BadInputError(f"unknown MNIST split {split!r} (train or heldout)")


def label_of(path) -> int | None:
    """The digit in a file name ``...-label<d>.<ext>``, else None."""
    m = LABEL_RE.search(Path(path).stem)
    return int(m.group(1)) if m else None


def write_digits(out_dir, count: int = 200, scale: int = 1, overwrite: bool = False) -> list:
    """Write the first ``count`` held-out digits as 8-bit grayscale PNGs
    ``<t10k index>-label<d>.png``, each pixel repeated ``scale`` x ``scale`` times
    (nearest neighbour: 28 * scale pixels a side); returns the paths. Refuses (before
    writing anything) to replace existing files unless ``overwrite``."""
    from PIL import Image

    from ...codecs.pc.data import SPLITS
    from ...formats.files import write_bytes_atomic

    if not 1 <= count <= 2000:
        raise BadInputError(f"digit count must be 1..2000 (the held-out digits), got {count}")
    if not 1 <= scale <= 16:
        raise BadInputError(f"scale must be 1..16, got {scale}")
    images, labels = mnist("heldout")
    out = Path(out_dir)
    names = [f"{SPLITS['mnist'] + i:05d}-label{int(labels[i])}.png" for i in range(count)]
    existing = [n for n in names if (out / n).exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{out / existing[0]} exists ({len(existing)} of the {count} "
                                "digits do; use --force to replace them)")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, name in enumerate(names):
        digit = images[i].repeat(scale, 0).repeat(scale, 1)
        buf = io.BytesIO()
        Image.fromarray(digit).save(buf, format="PNG")  # 2-D uint8: mode "L"
        written.append(write_bytes_atomic(out / name, buf.getvalue(), overwrite=overwrite))
    return written


def to_input(images) -> "torch.Tensor":
    """A float (N, 1, 28, 28) tensor in [0, 1] from a stack of uint8/uint16 images: an
    (N, H, W) or (N, H, W, C) array, or a list of same-size (H, W[, C]) arrays. Colour
    is averaged to gray (alpha dropped); other sizes are area-resampled to 28x28."""
    import torch
    import torch.nn.functional as F

    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    elif x.dtype == np.uint16:
        x = x.astype(np.float32) / 65535.0
    else:
        raise BadInputError(f"the classifier takes uint8 or uint16 images, got {x.dtype}")
    if x.ndim == 4:  # (N, H, W, C)
        x = x[..., :3].mean(axis=-1) if x.shape[-1] >= 3 else x[..., 0]
    if x.ndim != 3 or min(x.shape[1:]) < 1:
        raise BadInputError(f"cannot read images of shape {np.asarray(images).shape} as digits")
    t = torch.from_numpy(np.ascontiguousarray(x))[:, None]
    if t.shape[-2:] != (SIZE, SIZE):
        t = F.interpolate(t, size=(SIZE, SIZE), mode="area")
    return t


# ---------------------------------------------------------------- model
def build_model(config: dict | None = None):
    """The CNN: conv3x3(c0)-ReLU-maxpool2, conv3x3(c1)-ReLU-maxpool2, linear(hidden)-ReLU,
    linear(classes); 28x28 -> 14x14 -> 7x7."""
    import torch.nn as nn

    c = {**CONFIG, **(config or {})}
    c0, c1 = c["channels"]
    return nn.Sequential(
        nn.Conv2d(1, c0, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c0, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c1 * (SIZE // 4) ** 2, c["hidden"]), nn.ReLU(),
        nn.Linear(c["hidden"], c["classes"]))


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def predict_batch(model, images, batch: int = 500) -> np.ndarray:
    """Predicted classes (int64) of a stack of images (see ``to_input``)."""
    import torch

    x = to_input(images)
    model.eval()
    with torch.no_grad():
        return np.concatenate([model(x[i:i + batch]).argmax(1).numpy()
                               for i in range(0, len(x), batch)]) if len(x) else \
            np.zeros(0, np.int64)


def heldout_accuracy(model, count: int | None = None) -> float:
    """Accuracy on the first ``count`` (default all 2,000) held-out digits."""
    images, labels = mnist("heldout")
    images, labels = images[:count], labels[:count]
    return float(np.mean(predict_batch(model, images) == labels))


# ---------------------------------------------------------------- training
def _lr(step: int, total: int, peak: float, warmup: int = 50) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * peak * (1 + math.cos(math.pi * t))


def _batch(images: np.ndarray, labels: np.ndarray, step: int, seed: int, size: int,
           shift: int) -> tuple:
    """The batch of ``step`` (a function of (seed, step) only, so a resumed run draws the
    same batches): random digits, each shifted by up to ``shift`` pixels."""
    rng = np.random.default_rng([seed, step])
    idx = rng.integers(0, len(images), size)
    x = images[idx]
    if shift:
        padded = np.pad(x, ((0, 0), (shift, shift), (shift, shift)))
        dy, dx = rng.integers(0, 2 * shift + 1, (2, size))
        x = np.stack([padded[i, dy[i]:dy[i] + SIZE, dx[i]:dx[i] + SIZE] for i in range(size)])
    return x, labels[idx].astype(np.int64)


def train(out, steps: int = 3000, minutes: float | None = None, seed: int = 0,
          batch_size: int = 64, lr: float = 3e-3, shift: int = 2, threads: int | None = None,
          ckpt_minutes: float = 2.0) -> Path:
    """Train (or resume) the classifier in the run folder ``out``; returns the checkpoint.
    Stops after ``steps`` steps or ``minutes`` minutes (checkpointing either way); at
    ``steps`` it logs and stores the held-out accuracy."""
    import torch

    from ...train.checkpoint import JsonlLog, load_checkpoint, save_checkpoint

    if steps < 1 or batch_size < 1 or not lr > 0 or not 0 <= shift <= 8:
        raise BadInputError("need steps >= 1, batch size >= 1, lr > 0, shift 0..8")
    if threads:
        torch.set_num_threads(threads)
        os.environ["LVC_THREADS"] = str(threads)  # codecs used in the run keep it
    images, labels = mnist("train")  # fails before the run folder is made
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt, log = out / "checkpoint.safetensors", JsonlLog(out / "log.jsonl")
    torch.manual_seed(seed)
    model = build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    start, wall, info = 0, 0.0, {}
    if ckpt.exists():
        info = load_checkpoint(ckpt, model, opt)
        if info.get("task") != TASK:
            raise ModelMismatchError(f"{ckpt} is not a {TASK} checkpoint")
        start, wall = info["step"], info.get("wall_seconds", 0.0)
        print(f"resumed at step {start} ({wall / 60:.1f} min trained)")
        seed = info.get("seed", seed)
    t0, last = time.time(), time.time()

    def save(step: int, accuracy: float | None = None) -> None:
        meta = {"task": TASK, "config": CONFIG, "seed": seed, "steps_target": steps,
                "batch_size": batch_size, "lr": lr, "shift": shift, "data": TRAIN_DATA,
                "train_images": len(images), "wall_seconds": wall + time.time() - t0,
                "hardware": f"{platform.machine()}, {torch.get_num_threads()} threads"}
        if accuracy is not None:
            meta["heldout_accuracy"] = accuracy
        save_checkpoint(ckpt, model, opt, step, meta)

    step = start
    model.train()
    while step < steps:
        x, y = _batch(images, labels, step, seed, batch_size, shift)
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps, lr)
        logits = model(to_input(x))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            acc = float((logits.argmax(1).numpy() == y).mean())
            value = float(loss.detach())
            log.write(step=step, loss=value, batch_accuracy=acc,
                      lr=opt.param_groups[0]["lr"], minutes=(wall + time.time() - t0) / 60)
            print(f"step {step} loss {value:.4f} batch accuracy {acc:.3f}", flush=True)
        step += 1
        if time.time() - last > ckpt_minutes * 60:
            save(step)
            last = time.time()
        if minutes and time.time() - t0 > minutes * 60:
            break
    accuracy = None
    if step >= steps:
        accuracy = heldout_accuracy(model)
        log.write(step=step, heldout_accuracy=accuracy, heldout_images=2000,
                  minutes=(wall + time.time() - t0) / 60)
        print(f"held-out accuracy {accuracy:.4f} (2000 digits, t10k 8000..9999)")
    else:
        print(f"stopped at step {step} of {steps} (--minutes); run again to continue")
    save(step, accuracy)
    return ckpt


# ---------------------------------------------------------------- shipped weights
def export(checkpoint, directory=None) -> dict:
    """Write the checkpoint's model as float32 ``mnist-classifier.safetensors`` and its
    manifest entry (held-out accuracy measured on the written weights); returns it."""
    import torch
    from safetensors.torch import save_file

    from ...formats.files import atomic_output
    from ...train.checkpoint import load_checkpoint

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise BadInputError(f"{checkpoint}: no such checkpoint")
    model = build_model()
    info = load_checkpoint(checkpoint, model)
    if info.get("task") != TASK:
        raise ModelMismatchError(f"{checkpoint} is not a {TASK} checkpoint")
    directory = Path(directory or weights_dir())
    out = directory / FILE
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FILE_FORMAT, "task": TASK, "config": info.get("config", CONFIG)}
    with atomic_output(out, overwrite=True) as tmp:
        save_file(tensors, str(tmp), metadata={"lvc": json.dumps(meta)})
    out.chmod(0o644)
    _CACHE.clear()
    shipped = _read(out)
    entry = {
        "task": TASK, "file": FILE, "sha256": file_sha256(out), "bytes": out.stat().st_size,
        "storage": "float32", "params": count_params(shipped), "config": meta["config"],
        "steps": info["step"], "steps_target": info.get("steps_target"),
        "training": {"data": info.get("data", TRAIN_DATA), "images": info.get("train_images"),
                     "batch_size": info.get("batch_size"), "lr": info.get("lr"),
                     "augmentation": f"random shifts of up to {info.get('shift')} pixels",
                     "seed": info.get("seed"), "command": TRAIN_COMMAND},
        "heldout_accuracy": round(heldout_accuracy(shipped), 4),
        "heldout": "MNIST t10k digits 8000..9999 (2000, never trained on)",
        "wall_time_s": round(info.get("wall_seconds", 0.0), 1),
        "hardware": info.get("hardware"), "exported": time.strftime("%Y-%m-%d"),
    }
    update_manifest(entry, directory, key=("task",))
    return entry


def _entry(directory=None) -> dict | None:
    entries = [e for e in read_manifest(directory)["weights"] if e.get("task") == TASK]
    return entries[-1] if entries else None


def unavailable(directory=None) -> str | None:
    """Why the shipped classifier cannot be loaded (no manifest entry or no file), else
    None; does not hash the file (``load_classifier`` does)."""
    directory = Path(directory or weights_dir())
    try:
        entry = _entry(directory)
    except ModelMismatchError as e:
        return str(e)
    if entry is None:
        return (f"no {TASK} weights in {directory / 'manifest.json'}: run {TRAIN_COMMAND} "
                "and python -m lvc.eval.mpq.mnist export runs/mnist-classifier/"
                "checkpoint.safetensors")
    if not (directory / entry["file"]).is_file():
        return f"weights file {directory / entry['file']} is missing"
    return None


def _read(path: Path):
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["lvc"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        if meta.get("format") != FILE_FORMAT or meta.get("task") != TASK:
            raise ValueError(f"format {meta.get('format')}, task {meta.get('task')}")
        model = build_model(meta.get("config"))
        model.load_state_dict(tensors, strict=True)
    except (SafetensorError, KeyError, ValueError, RuntimeError) as e:
        raise ModelMismatchError(f"{path} is not a usable {TASK} weights file "
                                 f"({str(e).splitlines()[0]})") from None
    return model.eval()


_CACHE: dict = {}


@dataclass(frozen=True)
class Classifier:
    """The loaded classifier: ``predict(image) -> int``, ``predict_batch(images)``."""

    model: object
    entry: dict

    def predict(self, image) -> int:
        return int(predict_batch(self.model, [np.asarray(image)])[0])

    def predict_batch(self, images) -> np.ndarray:
        return predict_batch(self.model, images)


def load_classifier(directory=None) -> Classifier:
    """The shipped classifier (loaded once per file): ``CodecUnavailableError`` when it is
    not installed, ``ModelMismatchError`` when the file is not the manifest's."""
    directory = Path(directory or weights_dir())
    reason = unavailable(directory)
    if reason:
        raise CodecUnavailableError(f"{TASK}: {reason}")
    entry = _entry(directory)
    path = directory / entry["file"]
    key = (str(path), entry["sha256"])
    if key not in _CACHE:
        verified_sha256(path, entry)
        _CACHE[key] = Classifier(_read(path), entry)
    return _CACHE[key]


# ---------------------------------------------------------------- command line
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m lvc.eval.mpq.mnist", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train (or resume) the classifier")
    t.add_argument("--out", default="runs/mnist-classifier", help="run folder")
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--minutes", type=float, help="stop (with a checkpoint) after this long")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--shift", type=int, default=2, help="augmentation: max shift in pixels")
    t.add_argument("--threads", type=int)
    t.add_argument("--ckpt-minutes", type=float, default=2.0)
    e = sub.add_parser("export", help="write the shipped weights and manifest entry")
    e.add_argument("checkpoint")
    e.add_argument("--weights-dir", help="default: assets/weights (or $LVC_WEIGHTS_DIR)")
    a = sub.add_parser("accuracy", help="accuracy of the shipped weights on held-out digits")
    a.add_argument("--count", type=int, default=2000)
    a.add_argument("--weights-dir")
    d = sub.add_parser("digits", help="write held-out digits as PNGs for the mpq plugin")
    d.add_argument("out_dir")
    d.add_argument("--count", type=int, default=200)
    d.add_argument("--scale", type=int, default=1,
                   help="nearest-neighbour upscaling factor (4: 112x112) for codecs that "
                        "need bigger images")
    d.add_argument("-f", "--force", action="store_true", help="replace existing files")
    args = ap.parse_args(argv)
    if args.command == "train":
        train(args.out, args.steps, args.minutes, args.seed, args.batch_size, args.lr,
              args.shift, args.threads, args.ckpt_minutes)
    elif args.command == "export":
        entry = export(args.checkpoint, args.weights_dir)
        print(f"wrote {entry['file']} ({entry['params']:,} params, {entry['steps']} steps, "
              f"held-out accuracy {entry['heldout_accuracy']:.4f}, sha256 "
              f"{entry['sha256'][:12]}...)")
    elif args.command == "accuracy":
        if not 1 <= args.count <= 2000:
            raise BadInputError("--count must be 1..2000")
        c = load_classifier(args.weights_dir)
        acc = heldout_accuracy(c.model, args.count)
        print(f"held-out accuracy {acc:.4f} on {args.count} digits (t10k 8000..."
              f"{8000 + args.count - 1}), {count_params(c.model):,} params, "
              f"{c.entry.get('steps')} steps")
    else:
        paths = write_digits(args.out_dir, args.count, args.scale, args.force)
        print(f"wrote {len(paths)} digits ({SIZE * args.scale}x{SIZE * args.scale} gray PNG) "
              f"to {args.out_dir}")


if __name__ == "__main__":
    import sys

    from ...errors import run_main

    sys.exit(run_main(main))
