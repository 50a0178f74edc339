"""Datasets the PC codec trains and evaluates on (no downloads).

- ``mnist``: the MNIST idx file in ``../shared/datasets/mnist`` (10,000 digits 28x28);
  the first 8,000 train, the last 2,000 evaluate. The digit classes (``read_idx_labels``
  of ``MNIST_LABELS_FILE``) are used by the mpq example classifier, not by the codec.
- ``digits``: scikit-learn's bundled 8x8 digits (1,797 images, values 0..16, K = 17);
  the first 1,500 train, the last 297 evaluate.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ...errors import BadInputError, MissingFileError

MNIST_FILE = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "mnist" \
    / "t10k-images-idx3-ubyte.gz"
MNIST_LABELS_FILE = MNIST_FILE.with_name("t10k-labels-idx1-ubyte.gz")
SPLITS = {"mnist": 8000, "digits": 1500}
VALUES = {"mnist": 256, "digits": 17}


def _read_idx(path, magic: bytes, dims: int, what: str) -> np.ndarray:
    """The uint8 payload of an idx file (gzipped or not) with ``dims`` dimensions."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file (MNIST lives in ../shared/datasets/mnist)")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    head = 4 + 4 * dims
    if len(raw) < head or raw[:4] != magic:
        raise BadInputError(f"{path}: not an {what} file")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    if len(raw) != head + int(np.prod(shape)):
        raise BadInputError(f"{path}: truncated idx file")
    return np.frombuffer(raw, np.uint8, offset=head).reshape(shape).copy()


def read_idx_images(path) -> np.ndarray:
    """(N, H, W) uint8 images of an idx3 file (gzipped or not)."""
    return _read_idx(path, b"\x00\x00\x08\x03", 3, "idx3 ubyte image")


def read_idx_labels(path) -> np.ndarray:
    """(N,) uint8 labels of an idx1 file (gzipped or not), e.g. MNIST's digit classes."""
    return _read_idx(path, b"\x00\x00\x08\x01", 1, "idx1 ubyte label")


def load(name: str, mnist_file=None) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` uint8 images (N, H, W) of dataset ``name``."""
    if name == "mnist":
        images = read_idx_images(mnist_file or MNIST_FILE)
    elif name == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise BadInputError("the digits dataset needs scikit-learn "
                                "(pip install -e '.[dev]')") from None
        images = load_digits().images.astype(np.uint8)
    else:
        raise BadInputError(f"unknown dataset {name!r} (mnist or digits)")
    cut = SPLITS[name]
    return images[:cut], images[cut:]
