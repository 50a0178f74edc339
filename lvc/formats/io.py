"""Read and write any media file lvc handles; the contents decide, as in Pillow.

``read_media`` looks at the bytes, not the suffix: ``.lvc`` files are refused (use
``lvc.decode``); ``.npy`` arrays are images, except 3-D arrays with more than 4
entries on the last axis, which are hyperspectral cubes (H x W x bands); ``modality``
overrides that guess ("volume" for an X x Y x Z ``.npy`` volume). NIfTI files
(``.nii``, ``.nii.gz``) are volumes; then Pillow is asked whether it is an image, then
libsndfile whether it is audio. ``write_media`` dispatches on the media's modality
and the suffix (``.npy`` takes any modality, ``.nii``/``.nii.gz`` volumes). ``write_image_set``
writes an image set as one file per image into a directory, all or nothing.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import numpy as np

from ..errors import BadInputError, MissingFileError, UnsupportedMediaError
from .container import is_lvc
from .files import atomic_output, check_writable
from .limits import check_bytes
from .media import Media, as_array_media, as_image
from .volume_io import NIFTI_SUFFIXES

NPY_MAGIC = b"\x93NUMPY"
_DEFAULT_SUFFIX = {"image": ".png", "audio": ".wav"}
ARRAY_MODALITIES = ("volume", "hyperspectral")
MEDIA_SUFFIXES = frozenset(
    ".png .jpg .jpeg .webp .avif .jxl .bmp .tif .tiff .gif .ppm .pgm .pnm .npy "
    ".wav .flac .ogg .opus .mp3 .aif .aiff .nii .nii.gz".split())
"""Files a directory contributes to ``codec encode`` and ``codec pack`` (explicit
files and globs may be anything: the media reader decides)."""


def default_suffix(modality: str, metadata: dict | None = None) -> str:
    """The file suffix a decoded signal of this modality is written as by default: a
    volume read from NIfTI goes back to ``.nii.gz``, other arrays to ``.npy``."""
    if modality == "volume" and (metadata or {}).get("format") == "nifti":
        return ".nii.gz"
    return _DEFAULT_SUFFIX.get(modality, ".npy")


def media_suffix(path) -> str:
    """The media suffix, lower case: ``.nii.gz`` for ``brain.nii.gz``, else the last one."""
    path = Path(path)
    return ".nii.gz" if path.name.lower().endswith(".nii.gz") else path.suffix.lower()


def media_stem(path) -> str:
    """The file name without its media suffix (``brain.nii.gz`` -> ``brain``)."""
    path = Path(path)
    return path.name[:-len(media_suffix(path))] if media_suffix(path) else path.name


def _read_npy(path: Path, modality: str | None) -> Media:
    try:
        header = np.load(path, mmap_mode="r", allow_pickle=False)  # the header only
        check_bytes(header.shape, header.dtype.itemsize, path)
        del header
        data = np.load(path, allow_pickle=False)
    except UnsupportedMediaError:
        raise
    except Exception as e:  # ValueError for object arrays / bad headers, OSError...
        raise UnsupportedMediaError(f"{path}: not a readable .npy array ({e})".splitlines()[0]) \
            from None
    if modality is None and data.ndim == 3 and data.shape[2] > 4:
        modality = "hyperspectral"
    if modality in ARRAY_MODALITIES:
        return as_array_media(data, modality, f"{path} (read as {modality})",
                              {"format": "npy"})
    if modality not in (None, "image"):
        raise UnsupportedMediaError(f"{path}: a .npy array cannot be read as {modality}")
    return as_image(data, f"{path} (.npy arrays are read as images unless 3-D with more "
                          "than 4 bands, or a volume codec is named)")


def read_media(path, modality: str | None = None) -> Media:
    """Read an image, audio, NIfTI or ``.npy`` file into ``Media``; ``modality`` says how
    to read a ``.npy`` array (see the module docstring)."""
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
        return _read_npy(path, modality)
    from . import volume_io

    if volume_io.is_nifti(path):
        return volume_io.read_nifti(path)
    from . import image_io

    if image_io.is_image(path):
        return image_io.read_image(path)
    from . import audio_io

    if audio_io.is_audio(path):
        return audio_io.read_audio(path)
    raise UnsupportedMediaError(f"{path}: not a supported image, audio, NIfTI or .npy file")


def write_media(path, media: Media, overwrite: bool = False) -> Path:
    """Write ``media`` to ``path`` as the suffix says (image formats, audio formats, .npy).

    Atomic (temp file + rename); refuses to replace a file unless ``overwrite``."""
    path = Path(path)
    check_output_suffix(path, media.modality)
    if path.suffix.lower() == ".npy":
        with atomic_output(path, overwrite) as tmp:
            np.save(tmp, np.asarray(media.data), allow_pickle=False)
        return path
    if path.name.lower().endswith(NIFTI_SUFFIXES):
        from .volume_io import write_nifti

        return write_nifti(path, media, overwrite)
    if media.modality == "image":
        from .image_io import write_image

        return write_image(path, media, overwrite)
    from .audio_io import write_audio  # the only modality left after the suffix check

    return write_audio(path, media, overwrite)


def check_output_suffix(path, modality: str) -> None:
    """Refuse, before any decoding, a path ``write_media`` cannot write ``modality`` to
    (a decode to ``x.wav`` of an image would otherwise fail only after the whole decode)."""
    path = Path(path)
    suffix = media_suffix(path)
    if suffix == ".npy":
        return
    if suffix in NIFTI_SUFFIXES:
        if modality != "volume":
            raise UnsupportedMediaError(f"{path}: NIfTI files hold volumes, not "
                                        f"{_WHAT.get(modality, modality)}")
        return
    if modality == "image":
        from .image_io import image_format

        image_format(path)  # raises with the suffixes it can write
        return
    if modality == "audio":
        from .audio_io import check_audio_suffix

        check_audio_suffix(path)
        return
    allowed = ".npy or .nii/.nii.gz" if modality == "volume" else ".npy"
    raise UnsupportedMediaError(f"{path}: {_WHAT.get(modality, modality)} can only be written "
                                f"as {allowed}")


_WHAT = {"image": "an image", "audio": "audio", "volume": "a volume",
         "hyperspectral": "a hyperspectral cube", "images": "an image set"}


@functools.lru_cache(maxsize=None)
def _is_image_suffix(suffix: str) -> bool:
    """True when ``write_media`` can write an image under this (lower-case) suffix."""
    from .image_io import image_format

    try:
        return suffix == ".npy" or bool(image_format(Path("x" + suffix)))
    except UnsupportedMediaError:
        return False


def image_set_file_names(media: Media) -> list:
    """The file name each image of a set is written under: its stored name when the
    suffix is one lvc writes (``.png``, ``.pgm``, ``.bmp``, ``.npy`` ...), the stored name
    plus ``.png`` otherwise (no suffix, ``.txt``...), ``00000.png``, ``00001.png``... when
    the set has no names."""
    names = media.metadata.get("names")
    if names is None:
        return [f"{i:05d}.png" for i in range(len(media.data))]
    return [n if _is_image_suffix(Path(n).suffix.lower()) else n + ".png" for n in names]


def write_image_set(folder, media: Media, overwrite: bool = False) -> list:
    """Write every image of an image-set ``Media`` into ``folder`` (created if needed)
    under ``image_set_file_names``; returns the paths.

    All or nothing: every target is checked first (an existing file needs
    ``overwrite``), every image is written to a temporary file, and only when all
    succeeded are they renamed into place, so a failure leaves no partial set."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BadInputError(f"{folder}: an image set decodes into a directory; this is a file")
    targets, seen = [folder / name for name in image_set_file_names(media)], set()
    for path in targets:
        if path in seen:  # e.g. names "a" and "a.png"
            raise BadInputError(f"{path}: two images of the set would be written to this file")
        seen.add(path)
        check_writable(path, overwrite)
    created = not folder.exists()
    try:
        with contextlib.ExitStack() as stack:  # exits (renames) only after every write
            for path, image in zip(targets, media.data):
                tmp = stack.enter_context(atomic_output(path, overwrite))
                write_media(tmp, Media(image, "image"), overwrite=True)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: leave nothing behind
        raise
    return targets
