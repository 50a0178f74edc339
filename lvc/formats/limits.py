"""Size limits on what lvc reads into memory, checked from headers before any pixel
or sample is decoded: media files on encode (images by pixel count, arrays and
volumes by bytes) and ``.lvc`` files on decode (the declared size times the codec's
estimated bytes per decoded element, ``Codec.decode_memory``). Legitimately huge
media pass once the limit is raised:

- ``LVC_MAX_PIXELS`` (default 100,000,000): pixels of an input image; Pillow's own
  decompression-bomb check follows it;
- ``LVC_MAX_BYTES`` (default 2 GiB): bytes of an input array or volume as decoded, and
  the memory a decode may take (units K, M, G accepted: ``LVC_MAX_BYTES=8G``).
"""

from __future__ import annotations

import math
import os

from ..errors import UnsupportedMediaError

PIXELS_ENV, BYTES_ENV = "LVC_MAX_PIXELS", "LVC_MAX_BYTES"
DEFAULT_PIXELS, DEFAULT_BYTES = 100_000_000, 2 << 30
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _limit(env: str, default: int) -> int:
    raw = os.environ.get(env, "").strip().lower().removesuffix("b").removesuffix("i")
    if not raw:
        return default
    try:
        unit = _UNITS[raw[-1]] if raw[-1] in _UNITS else 1
        value = int(float(raw[:-1] if raw[-1] in _UNITS else raw) * unit)
    except (ValueError, KeyError):
        raise UnsupportedMediaError(f"{env}={os.environ[env]!r} is not a size "
                                    "(e.g. 200000000, 4G)") from None
    return max(value, 1)


def max_pixels() -> int:
    return _limit(PIXELS_ENV, DEFAULT_PIXELS)


def max_bytes() -> int:
    return _limit(BYTES_ENV, DEFAULT_BYTES)


def check_pixels(width: int, height: int, what) -> None:
    limit = max_pixels()
    if width * height > limit:
        raise UnsupportedMediaError(f"{what}: {width}x{height} is {width * height:,} pixels, "
                                    f"over the limit of {limit:,} (set {PIXELS_ENV} to raise it)")


def check_bytes(shape, itemsize: int, what) -> None:
    size = math.prod(int(d) for d in shape) * int(itemsize)
    limit = max_bytes()
    if size > limit:
        raise UnsupportedMediaError(f"{what}: {'x'.join(map(str, shape))} decodes to "
                                    f"{size:,} bytes, over the limit of {limit:,} "
                                    f"(set {BYTES_ENV} to raise it)")


def check_decode(shape, dtype_size: int, per_element: float, codec: str) -> None:
    """Refuse a file whose declared size would take more than ``LVC_MAX_BYTES`` to
    decode (``LimitError``, before the codec allocates anything)."""
    from ..errors import LimitError

    need = math.prod(int(d) for d in shape) * (per_element or 2 * dtype_size)
    limit = max_bytes()
    if need > limit:
        raise LimitError(f"{codec} {'x'.join(map(str, shape))} would take about "
                         f"{need / 2**30:.1f} GiB to decode, over the limit of "
                         f"{limit / 2**30:.1f} GiB (set {BYTES_ENV} to raise it)")
