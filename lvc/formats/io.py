"""Read and write any media file lvc handles; the contents decide, as in Pillow.

``read_media`` looks at the bytes, not the suffix: ``.lvc`` files are refused (use
``lvc.decode``), ``.npy`` arrays are read as images, then Pillow is asked whether it
is an image, then libsndfile whether it is audio. ``write_media`` dispatches on the
media's modality and the suffix (``.npy`` takes any modality).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BadInputError, MissingFileError, UnsupportedMediaError
from .container import is_lvc
from .files import atomic_output
from .media import Media, as_image

NPY_MAGIC = b"\x93NUMPY"
_DEFAULT_SUFFIX = {"image": ".png", "audio": ".wav"}


def default_suffix(modality: str) -> str:
    """The file suffix a decoded signal of this modality is written as by default."""
    return _DEFAULT_SUFFIX.get(modality, ".npy")


def _read_npy(path: Path) -> Media:
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:  # ValueError for object arrays / bad headers, OSError...
        raise UnsupportedMediaError(f"{path}: not a readable .npy array ({e})".splitlines()[0]) \
            from None
    return as_image(data, f"{path} (.npy arrays are read as images)")


def read_media(path) -> Media:
    """Read an image, audio or ``.npy`` file into ``Media``."""
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{path}: no such file")
    if not path.is_file():
        raise UnsupportedMediaError(f"{path}: not a file")
    with open(path, "rb") as f:
        head = f.read(len(NPY_MAGIC))
    if is_lvc(head):
        raise BadInputError(f"{path} is already an .lvc file; use decode")
    if head == NPY_MAGIC:
        return _read_npy(path)
    from . import image_io

    if image_io.is_image(path):
        return image_io.read_image(path)
    from . import audio_io

    if audio_io.is_audio(path):
        return audio_io.read_audio(path)
    raise UnsupportedMediaError(f"{path}: not a supported image or audio file")


def write_media(path, media: Media, overwrite: bool = False) -> Path:
    """Write ``media`` to ``path`` as the suffix says (image formats, audio formats, .npy).

    Atomic (temp file + rename); refuses to replace a file unless ``overwrite``."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        with atomic_output(path, overwrite) as tmp:
            np.save(tmp, np.asarray(media.data), allow_pickle=False)
        return path
    if media.modality == "image":
        from .image_io import write_image

        return write_image(path, media, overwrite)
    if media.modality == "audio":
        from .audio_io import write_audio

        return write_audio(path, media, overwrite)
    raise UnsupportedMediaError(f"{path}: {media.modality} data can only be written as .npy")
