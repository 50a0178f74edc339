"""Image files <-> ``Media`` through Pillow.

Reading opens any format Pillow (or the installed AVIF / JPEG XL plugins) knows,
decided by the file's magic bytes, applies the EXIF orientation, and returns the
array layouts of ``lvc.formats.media``:

- ``L`` -> (H, W) uint8; ``1`` (bilevel) -> L; ``LA`` -> (H, W, 2); ``RGB``; ``RGBA``
- ``P`` / ``PA`` (palette) -> RGB, or RGBA when the palette has transparency
- 16-bit gray (``I;16``, ``I;16B``, ``I``) -> (H, W) uint16 (``I`` clipped to 0..65535)
- anything else (CMYK, YCbCr, LAB, HSV, F...) -> RGB
- Pillow reads 16-bit *colour* PNGs as 8-bit RGB(A): the low byte is lost.
- Multi-frame files (GIF, TIFF, APNG): the first frame.

Writing picks the format from the suffix. uint16 gray is written as a 16-bit
(I;16) PNG or TIFF; other formats hold 8-bit samples only. ``.webp`` and ``.jxl``
are written losslessly and ``.jpg`` at quality 95, since the output is usually a
decoded image that should not lose more.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import MissingFileError, UnsupportedMediaError
from .files import atomic_output
from .limits import PIXELS_ENV, check_pixels, max_pixels
from .media import Media, as_image

_DIRECT = ("L", "LA", "RGB", "RGBA")
_GRAY16 = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True},
                 "JXL": {"lossless": True}, "AVIF": {"quality": 95}}
_GRAY16_FORMATS = ("PNG", "TIFF")


def _load_plugins() -> None:
    """Register the optional AVIF / JPEG XL plugins (quietly, if installed)."""
    from PIL import features

    for module, needed in (("pillow_jxl", True), ("pillow_avif", not features.check("avif"))):
        if needed:
            try:
                __import__(module)
            except Exception:  # not installed, or its binary fails to load
                pass


def _open(path: Path) -> Image.Image:
    """Open (without decoding) by magic bytes, retrying once with the optional plugins.
    Pillow's decompression-bomb warning is silenced: ``read_image`` checks the size
    against lvc's own limit (``limits.py``) and says so in one line."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except Image.UnidentifiedImageError:
            _load_plugins()
            return Image.open(path)


def is_image(path) -> bool:
    """True when Pillow recognises the file's contents as an image."""
    try:
        with _open(Path(path)):
            return True
    except Image.DecompressionBombError:  # an image, a huge one: read_image says so
        return True
    except Exception:
        return False


def image_to_array(im: Image.Image) -> np.ndarray:
    """A PIL image as an lvc image array (see the module docstring for the mode rules).

    EXIF orientation is *not* applied here (the caller owns the PIL image);
    ``read_image`` applies it."""
    mode = im.mode
    if mode in _GRAY16:
        arr = np.asarray(im)
        if arr.dtype != np.uint16:
            arr = np.clip(arr, 0, 65535).astype(np.uint16)
        return np.ascontiguousarray(arr)
    if mode in ("P", "PA"):
        im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
    elif mode == "1":
        im = im.convert("L")
    elif mode == "La":
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    elif mode not in _DIRECT:
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im))


def read_image(path) -> Media:
    """Read an image file into ``Media`` (EXIF orientation applied; metadata: format)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")
    Image.MAX_IMAGE_PIXELS = max_pixels()  # Pillow's bomb check follows lvc's limit
    try:
        with _open(path) as im:
            fmt = im.format
            check_pixels(*im.size, path)  # from the header, before decoding
            im.load()
            im = ImageOps.exif_transpose(im)
            data = image_to_array(im)
    except Image.UnidentifiedImageError:
        raise UnsupportedMediaError(f"{path}: not a supported image file") from None
    except UnsupportedMediaError:
        raise
    except Image.DecompressionBombError as e:
        raise UnsupportedMediaError(f"{path}: a decompression bomb or a huge image ({e}; "
                                    f"set {PIXELS_ENV} to raise the limit)") from None
    except Exception as e:  # truncated or damaged file, unsupported mode
        raise UnsupportedMediaError(f"{path}: cannot read this image ({e})".splitlines()[0]) \
            from None
    media = as_image(data, str(path))
    media.metadata = {"format": fmt}
    return media


def image_format(path) -> str:
    """The Pillow format name that ``write_image`` would use for this path's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jxl", ".avif"):
        _load_plugins()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None or fmt not in Image.SAVE:
        raise UnsupportedMediaError(f"{path}: '{path.suffix}' is not an image format lvc can "
                                    "write (use .png, .jpg, .webp, .tif, .bmp ...)")
    return fmt


def write_image(path, media: Media, overwrite: bool = False) -> Path:
    """Write image ``Media`` to ``path`` (format from the suffix); atomic, no overwrite
    unless asked. Refuses layouts the format cannot hold instead of converting."""
    path = Path(path)
    if media.modality != "image":
        raise UnsupportedMediaError(f"{path}: cannot write {media.modality} data as an image")
    fmt = image_format(path)
    data = as_image(media.data, str(path)).data
    if data.dtype == np.uint16 and (data.ndim != 2 or fmt not in _GRAY16_FORMATS):
        raise UnsupportedMediaError(f"{path}: 16-bit images can be written as grayscale "
                                    ".png or .tif only")
    im = Image.fromarray(data)
    with atomic_output(path, overwrite) as tmp:
        try:
            im.save(tmp, fmt, **_SAVE_OPTIONS.get(fmt, {}))
        except (OSError, ValueError, KeyError, NotImplementedError) as e:
            raise UnsupportedMediaError(f"{path}: cannot write a {im.mode} image as {fmt} "
                                        f"({e})".splitlines()[0]) from None
    return path
