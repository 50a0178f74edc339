"""Size limits on what lvc reads into memory, checked from headers before any pixel
or sample is decoded: media files on encode (images by pixel count, arrays and
volumes by bytes). Legitimately huge media pass once the limit is raised:

- ``LVC_MAX_PIXELS`` (default 100,000,000): pixels of an input image; Pillow's own
  decompression-bomb check follows it;
- ``LVC_MAX_BYTES`` (default 1 GiB): bytes of an input array or volume as decoded.
"""

from __future__ import annotations

import math
import os

from ..errors import UnsupportedMediaError

PIXELS_ENV, BYTES_ENV = "LVC_MAX_PIXELS", "LVC_MAX_BYTES"
DEFAULT_PIXELS, DEFAULT_BYTES = 100_000_000, 1 << 30
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
