"""``Media``: the one in-memory signal type codecs exchange.

Array conventions (what ``lvc.decode`` returns and what codecs accept):
- image: ``(H, W)`` gray or ``(H, W, C)`` with C = 2 (gray + alpha), 3 (RGB) or
  4 (RGBA); uint8, or uint16 where a codec supports it.
- audio: ``(frames,)`` mono or ``(frames, channels)``; int16/int32 PCM or float32
  in [-1, 1]; ``sample_rate`` in Hz.
- volume / hyperspectral: N-d arrays (added by the multimodal codecs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UnsupportedMediaError

MAX_CHANNELS = 4  # image channels
MAX_AUDIO_CHANNELS = 255


@dataclass
class Media:
    data: np.ndarray
    modality: str
    sample_rate: int | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def num_pixels(self) -> int:
        """H * W for images (the bpp denominator), number of samples otherwise."""
        if self.modality == "image":
            return int(self.data.shape[0] * self.data.shape[1])
        return int(self.data.size)


_IMAGE_DTYPES = ("uint8", "uint16")
_AUDIO_DTYPES = ("int16", "int32", "float32")


def check_layout(modality: str, shape: tuple, dtype: str) -> str | None:
    """None if an array of this shape/dtype is a valid ``modality`` signal, else why not.

    Used on declared headers before decoding, so codecs can trust the basic layout.
    """
    if modality == "image":
        if len(shape) not in (2, 3) or (len(shape) == 3 and not 2 <= shape[2] <= MAX_CHANNELS):
            return f"an image must be HxW or HxWxC with C in 2..4, not {shape}"
        if shape[0] < 1 or shape[1] < 1:
            return f"empty image {shape}"
        if dtype not in _IMAGE_DTYPES:
            return f"image samples must be uint8 or uint16, not {dtype}"
    elif modality == "audio":
        if len(shape) not in (1, 2) or (len(shape) == 2 and not 1 <= shape[1] <= MAX_AUDIO_CHANNELS):
            return f"audio must be (frames,) or (frames, channels), not {shape}"
        if dtype not in _AUDIO_DTYPES:
            return f"audio samples must be int16, int32 or float32, not {dtype}"
    return None


def image_channels(data: np.ndarray) -> int:
    return 1 if data.ndim == 2 else int(data.shape[2])


def as_image(array, source: str = "array") -> Media:
    """Validate an image array (see module docstring) and wrap it."""
    data = np.asarray(array)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    if data.ndim not in (2, 3) or (data.ndim == 3 and not 2 <= data.shape[2] <= MAX_CHANNELS):
        raise UnsupportedMediaError(
            f"{source}: an image must be HxW or HxWxC with C in 1..4, got shape {data.shape}")
    if data.shape[0] < 1 or data.shape[1] < 1:
        raise UnsupportedMediaError(f"{source}: empty image {data.shape}")
    if data.dtype not in (np.uint8, np.uint16):
        raise UnsupportedMediaError(f"{source}: image samples must be uint8 or uint16, "
                                    f"got {data.dtype}")
    return Media(np.ascontiguousarray(data), "image")


def as_audio(array, sample_rate, source: str = "array") -> Media:
    """Validate an audio array (frames[, channels]) and wrap it with its sample rate."""
    data = np.asarray(array)
    if data.ndim not in (1, 2) or (data.ndim == 2 and not 1 <= data.shape[1] <= MAX_AUDIO_CHANNELS):
        raise UnsupportedMediaError(f"{source}: audio must be (frames,) or (frames, channels), "
                                    f"got shape {data.shape}")
    if data.dtype not in (np.int16, np.int32, np.float32, np.float64):
        raise UnsupportedMediaError(f"{source}: audio samples must be int16, int32 or float, "
                                    f"got {data.dtype}")
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    if sample_rate is None or int(sample_rate) <= 0:
        raise UnsupportedMediaError(f"{source}: audio needs a positive sample_rate")
    return Media(np.ascontiguousarray(data), "audio", sample_rate=int(sample_rate))


def to_rgb8(image) -> np.ndarray:
    """An image array as ``(H, W, 3)`` uint8 (for evaluation and training): gray is
    copied to RGB, alpha dropped, 16-bit samples keep their high byte."""
    data = as_image(image).data  # validates the layout; (H, W, 1) -> (H, W)
    if data.dtype == np.uint16:
        data = (data >> 8).astype(np.uint8)
    if data.ndim == 2:
        data = data[:, :, None]
    data = data[:, :, :3] if data.shape[2] >= 3 else data[:, :, :1]
    return np.ascontiguousarray(np.broadcast_to(data, data.shape[:2] + (3,)))
