"""``Media``: the one in-memory signal type codecs exchange.

Array conventions (what ``lvc.decode`` returns and what codecs accept):
- image: ``(H, W)`` gray or ``(H, W, C)`` with C = 2 (gray + alpha), 3 (RGB) or
  4 (RGBA); uint8, or uint16 where a codec supports it.
- audio: ``(frames,)`` mono or ``(frames, channels)``; int16/int32 PCM or float32
  in [-1, 1]; ``sample_rate`` in Hz.
- images (an image set): ``(N, H, W)`` or ``(N, H, W, C)``, N images of one size
  and layout, coded as one file by codecs that pack archives; ``metadata["names"]``
  holds their file names when known.
- volume: ``(X, Y, Z)``, any of the container's numeric dtypes; ``metadata`` may hold
  ``affine`` (4x4, voxel -> world) and ``spacing`` (voxel size per axis) from NIfTI.
- hyperspectral: ``(H, W, bands)``, any of the container's numeric dtypes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import BadInputError, UnsupportedMediaError
from .names import check_names

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
        """The bpp denominator (see ``pixel_count``)."""
        return pixel_count(self.modality, self.shape)


def pixel_count(modality: str, shape) -> int:
    """H*W for an image, N*H*W for an image set (an archive's bpp counts every pixel
    of every image), the number of samples otherwise; 0 for a shape too short."""
    n = {"image": 2, "images": 3}.get(modality, len(shape))
    return math.prod(int(d) for d in shape[:n]) if len(shape) >= n else 0


_IMAGE_DTYPES = ("uint8", "uint16")
_AUDIO_DTYPES = ("int16", "int32", "float32")
ARRAY_DTYPES = ("uint8", "uint16", "int16", "int32", "float32", "float64", "int8", "uint32",
                "float16")
"""Sample types of volumes and cubes (the container's dtypes)."""
_ARRAY_LAYOUT = {"volume": "a volume must be X x Y x Z",
                 "hyperspectral": "a hyperspectral cube must be H x W x bands"}


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
    elif modality == "images":
        if len(shape) not in (3, 4) or (len(shape) == 4 and not 2 <= shape[3] <= MAX_CHANNELS):
            return f"an image set must be NxHxW or NxHxWxC with C in 2..4, not {shape}"
        if min(shape[:3]) < 1:
            return f"empty image set {shape}"
        if dtype not in _IMAGE_DTYPES:
            return f"image samples must be uint8 or uint16, not {dtype}"
    elif modality == "audio":
        if len(shape) not in (1, 2) or (len(shape) == 2 and not 1 <= shape[1] <= MAX_AUDIO_CHANNELS):
            return f"audio must be (frames,) or (frames, channels), not {shape}"
        if dtype not in _AUDIO_DTYPES:
            return f"audio samples must be int16, int32 or float32, not {dtype}"
    elif modality in _ARRAY_LAYOUT:
        if len(shape) != 3 or min(shape) < 1:
            return f"{_ARRAY_LAYOUT[modality]}, not {shape}"
        if dtype not in ARRAY_DTYPES:
            return f"{modality} samples must be one of {', '.join(ARRAY_DTYPES)}, not {dtype}"
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


def as_image_set(images, names=None, source: str = "image set") -> Media:
    """Validate same-size images (a list of image arrays, or an ``(N, H, W[, C])``
    array) and stack them into one image-set ``Media``; ``names`` (file names, one
    per image, distinct) go to ``metadata["names"]``."""
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4):
            raise UnsupportedMediaError(f"{source}: an image set array must be NxHxW or "
                                        f"NxHxWxC, got shape {images.shape}")
    images = list(images)
    if not images:
        raise BadInputError(f"{source}: an image set needs at least one image")
    if names is not None:
        names = check_names(names, len(images))
    label = names if names is not None else [f"image {i}" for i in range(len(images))]
    arrays = [as_image(im, f"{source}: {label[i]}").data for i, im in enumerate(images)]
    first = arrays[0]
    for i, a in enumerate(arrays):
        if a.shape[:2] != first.shape[:2]:
            raise UnsupportedMediaError(
                f"{source}: {label[i]} is {a.shape[1]}x{a.shape[0]} but {label[0]} is "
                f"{first.shape[1]}x{first.shape[0]}; the images of a set must have one size")
        if image_channels(a) != image_channels(first) or a.dtype != first.dtype:
            raise UnsupportedMediaError(
                f"{source}: {label[i]} has {image_channels(a)} channel(s) of {a.dtype}, "
                f"{label[0]} {image_channels(first)} of {first.dtype}; the images of a set "
                "must have one layout")
    return Media(np.stack(arrays), "images", metadata={} if names is None else {"names": names})


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


def as_array_media(array, modality: str, source: str = "array",
                   metadata: dict | None = None) -> Media:
    """Validate a volume ``(X, Y, Z)`` or hyperspectral cube ``(H, W, bands)`` and wrap
    it (``metadata``: e.g. a volume's ``affine`` and ``spacing``). int64 / uint64 / bool
    arrays are stored as int32 / uint32 / uint8 when their values fit."""
    data = np.asarray(array)
    if modality not in _ARRAY_LAYOUT:
        raise UnsupportedMediaError(f"{source}: unknown array modality {modality!r}")
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    narrow = {"i": np.int32, "u": np.uint32}.get(data.dtype.kind)
    if narrow is not None and data.dtype.itemsize > 4 and data.size:
        info = np.iinfo(narrow)
        if data.min() < info.min or data.max() > info.max:
            raise UnsupportedMediaError(f"{source}: {data.dtype} values outside the "
                                        f"{np.dtype(narrow)} range are not supported")
        data = data.astype(narrow)
    problem = check_layout(modality, data.shape, str(data.dtype))
    if problem:
        raise UnsupportedMediaError(f"{source}: {problem}")
    return Media(np.ascontiguousarray(data), modality, metadata=dict(metadata or {}))


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
