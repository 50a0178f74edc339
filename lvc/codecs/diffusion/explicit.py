"""The explicit branch: a downsampled image coded by a base codec (LiVeAction by
default), asked for through the registry by id, and its reconstruction resized back
to full size as the diffusion model's condition.

A level is (downsampling factor, base codec quality). Resizing is Pillow's bicubic
(antialiased when shrinking), deterministic on both sides.
"""

from __future__ import annotations

import numpy as np

BASE_CODEC = "liveaction-rgb"
LEVELS = ((4, 2), (4, 4), (3, 3), (2, 2))
"""Explicit levels, low to high rate: (factor, base quality), chosen on the first 8
BSDS500 validation images from every factor 4 / 3 / 2 and quality 1-6 as points on
the rate-PSNR frontier: 0.023 / 0.039 / 0.047 / 0.072 bpp (of the full-size image),
20.8 / 21.6 / 22.0 / 22.5 dB (factor 2 at quality 1, 0.049 bpp and 21.6 dB, is
below that frontier). Measured with ``python benchmarks/dualdiff_levels.py``."""


def resize(x: np.ndarray, size: tuple) -> np.ndarray:
    """uint8 RGB image to (height, width) with Pillow's bicubic filter."""
    from PIL import Image

    h, w = size
    return np.asarray(Image.fromarray(x).resize((w, h), Image.BICUBIC))


def small_size(shape: tuple, factor: int) -> tuple:
    return max(1, -(-shape[0] // factor)), max(1, -(-shape[1] // factor))


def encode_base(x: np.ndarray, factor: int, quality: int) -> bytes:
    """The base codec's whole .lvc file of ``x`` shrunk by ``factor``."""
    import lvc

    return lvc.encode(resize(x, small_size(x.shape, factor)), BASE_CODEC, quality)


def encode_explicit(x: np.ndarray, level: int) -> bytes:
    """The explicit stream at ``level`` (an index into ``LEVELS``)."""
    return encode_base(x, *LEVELS[level])


def decode_explicit(data: bytes, shape: tuple, level: int | None = None) -> np.ndarray:
    """The condition: the base reconstruction, resized to ``shape[:2]`` (uint8 RGB).

    The stream must be what ``encode_explicit`` writes, checked from its header before
    anything is decoded: a ``BASE_CODEC`` RGB image of the shrunk size (at ``level``'s
    factor when given), never another codec's file or a nested dualdiff one."""
    import lvc
    from ...errors import CorruptStreamError, LVCError
    from ...formats.container import read_header

    try:
        header = read_header(data)
    except LVCError as e:
        raise CorruptStreamError(f"dualdiff: the explicit stream is damaged ({e})") from None
    factors = [LEVELS[level][0]] if level is not None else sorted({f for f, _ in LEVELS})
    sizes = [small_size(shape, f) + (3,) for f in factors]
    if header.codec != BASE_CODEC or header.modality != "image" or \
            tuple(header.shape) not in sizes:
        raise CorruptStreamError(f"dualdiff: the explicit stream must be a {BASE_CODEC} image "
                                 f"of {' or '.join('x'.join(map(str, s)) for s in sizes)}, not "
                                 f"{header.codec} {'x'.join(map(str, header.shape))}")
    small = lvc.decode(data)
    return resize(small, shape[:2])


def to_unit(x: np.ndarray) -> np.ndarray:
    """uint8 HWC -> float64 CHW in [-1, 1]."""
    return x.transpose(2, 0, 1).astype(np.float64) / 127.5 - 1.0


def from_unit(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round((x.transpose(1, 2, 0) + 1.0) * 127.5), 0, 255).astype(np.uint8)
