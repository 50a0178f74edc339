"""PNG, JPEG, WebP, AVIF and JPEG XL through Pillow; the stream is the native file.

One base class (``PillowCodec``) holds the logic; each codec names its Pillow format,
its save options and how it stores the channel layouts its format lacks:

==========  ==========  ===========  ===================================================
codec       gray        gray+alpha   alpha (LA / RGBA)
==========  ==========  ===========  ===================================================
png         L, I;16     LA           native, lossless
jpeg        L           L + PNG      second stream: the alpha plane as a lossless PNG
webp        as RGB      as RGBA      native; lossless (WebP's default alpha_quality=100)
avif        as RGB      as RGBA      native but lossy: alpha is coded at the same quality
jpegxl      L           LA           native; libjxl codes alpha losslessly by default
==========  ==========  ===========  ===================================================

"as RGB": the gray plane is copied into R, G and B on encode and channel 0 is taken
on decode; the header's shape tells the decoder which layout to return.

Decoding never trusts the stream: it must open as the expected format with exactly
the header's width and height *before* any pixel is decoded (the header's size was
already checked against the container's limits), and any decoder failure becomes
a one-line ``CorruptStreamError``.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ...errors import CorruptStreamError, LimitError, LVCError, UnsupportedMediaError
from ...formats.container import Header
from ...formats.media import Media, as_image, image_channels
from ..base import Codec, Encoded

_ALPHA = (2, 4)  # channel counts that carry alpha
_RGB_MODES = {1: "RGB", 2: "RGBA"}  # how formats without gray store gray / gray+alpha
_DECODED_MODES = {1: ("L", "RGB"), 2: ("LA", "RGBA"), 3: ("RGB",), 4: ("RGBA",)}
_UINT16_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _save(array: np.ndarray, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, fmt, **options)
    return buf.getvalue()


def _to_layout(arr: np.ndarray, mode: str, channels: int, dtype: str) -> np.ndarray:
    """Pick the header's layout out of what Pillow decoded (``mode``), or refuse."""
    allowed = _UINT16_MODES if dtype == "uint16" else _DECODED_MODES[channels]
    if mode not in allowed:
        raise CorruptStreamError(f"stream decoded to a {mode} image, expected "
                                 f"{' or '.join(allowed)}: the stream is corrupt")
    if arr.ndim == 3 and channels == 1:
        arr = arr[:, :, 0]
    elif arr.ndim == 3 and channels == 2 and arr.shape[2] == 4:
        arr = arr[:, :, [0, 3]]
    if dtype == "uint16" and arr.dtype != np.uint16:
        arr = np.clip(arr, 0, 65535)
    return np.ascontiguousarray(arr, dtype=dtype)


class PillowCodec(Codec):
    """A codec whose stream is one file Pillow writes (plus a PNG alpha plane for JPEG)."""

    modality = "image"
    device_decode = "ignore"
    lossless = False
    format = ""  # Pillow format name, as in ``Image.open(...).format``
    gray_as_rgb = False  # the format has no gray layout: store gray as RGB(A)
    alpha_as_png = False  # the format has no alpha: send alpha as a second (PNG) stream
    gray16 = False  # uint16 gray is stored natively (mode I;16)
    quality_option = "quality"  # the Pillow ``save`` argument that lvc's quality sets
    options: dict = {}  # fixed Pillow ``save`` arguments

    # ------------------------------------------------------------ hooks
    def save_options(self, quality: int) -> dict:
        """Pillow ``save`` keyword arguments for this quality."""
        return {self.quality_option: quality, **self.options}

    def load_plugin(self) -> None:
        """Import the Pillow plugin the format needs, if it is not built in."""

    def precheck(self, blob: bytes, width: int, height: int) -> None:
        """Refuse a stream before Pillow opens it (for plugins that decode on open)."""

    # ------------------------------------------------------------ encode
    def encode(self, media: Media, quality: int) -> Encoded:
        self.check_media(media)
        data = as_image(media.data, self.id).data
        channels = image_channels(data)
        if data.dtype == np.uint16 and not (self.gray16 and channels == 1):
            raise UnsupportedMediaError(
                f"{self.id} stores 8-bit images; uint16 is supported for grayscale (HxW) "
                "images by png")
        self.load_plugin()
        alpha = None
        if self.alpha_as_png:
            data, alpha = split_alpha(data)
        elif self.gray_as_rgb and channels in (1, 2):
            gray = data if channels == 1 else data[:, :, 0]
            data = np.dstack([gray, gray, gray] + ([data[:, :, 1]] if channels == 2 else []))
        try:
            streams = [_save(data, self.format, **self.save_options(quality))]
            if alpha is not None:
                streams.append(alpha_to_png(alpha))
        except (OSError, ValueError, RuntimeError) as e:
            raise UnsupportedMediaError(f"{self.id} cannot encode this {data.shape} image: "
                                        f"{e}".splitlines()[0]) from None
        return Encoded(streams)

    # ------------------------------------------------------------ decode
    def decode(self, header: Header, streams: list) -> Media:
        shape, dtype = tuple(header.shape), header.dtype
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (2, 3, 4)) \
                or dtype not in ("uint8", "uint16") or (dtype == "uint16" and not self.gray16):
            raise CorruptStreamError(f"corrupt header: {self.id} cannot hold a {dtype} image "
                                     f"of shape {shape}")
        height, width = shape[:2]
        channels = shape[2] if len(shape) == 3 else 1
        with_alpha = self.alpha_as_png and channels in _ALPHA
        if len(streams) != 1 + with_alpha:
            raise CorruptStreamError(f"{self.id}: expected {1 + with_alpha} stream(s), "
                                     f"found {len(streams)}: the file is corrupt")
        self.load_plugin()
        color_channels = channels - with_alpha
        data = open_stream(streams[0], self.format, width, height, color_channels, dtype,
                           f"{self.id} stream", self.precheck)
        if with_alpha:
            data = np.dstack([data, alpha_from_png(streams[1], width, height, self.id)])
        return Media(np.ascontiguousarray(data), "image")


class PngCodec(PillowCodec):
    """PNG, lossless. Quality 0..9 is the zlib compression level (effort, not fidelity).

    Keeps every layout natively (L, LA, RGB, RGBA) and uint16 grayscale (mode I;16);
    alpha is exact like every other sample.
    """

    id = "png"
    lossless = True
    quality_range = (0, 9)
    default_quality = 6
    description = "PNG (lossless); quality = zlib effort"
    format = "PNG"
    gray16 = True
    quality_option = "compress_level"


class JpegCodec(PillowCodec):
    """Baseline JPEG through libjpeg (Pillow defaults, 4:2:0 chroma subsampling).

    JPEG has no alpha channel: an alpha plane (LA / RGBA input) travels as a second
    stream, a lossless PNG, so alpha decodes exactly while the colour is lossy.
    """

    id = "jpeg"
    quality_range = (1, 100)
    default_quality = 75
    description = "JPEG (libjpeg via Pillow, 4:2:0)"
    format = "JPEG"
    alpha_as_png = True
    options = {"subsampling": "4:2:0"}


class WebpCodec(PillowCodec):
    """Lossy WebP (libwebp, method 4). Gray is coded as RGB (WebP has no gray layout).

    Alpha is kept natively and is lossless: libwebp codes the alpha plane losslessly
    at Pillow's default ``alpha_quality=100`` even when the colour is lossy.
    """

    id = "webp"
    quality_range = (0, 100)
    default_quality = 75
    description = "WebP lossy (method 4)"
    format = "WEBP"
    gray_as_rgb = True
    options = {"method": 4}


class AvifCodec(PillowCodec):
    """AVIF (AV1 intra via libavif, speed 6, 4:2:0). Gray is coded as RGB.

    Alpha is kept natively but is **lossy**: libavif codes the alpha plane at the same
    quality as the colour, so decoded alpha can differ from the input by a few levels.
    Uses Pillow's built-in AVIF support, or pillow-avif-plugin on older Pillow.
    """

    id = "avif"
    quality_range = (0, 100)
    default_quality = 60
    description = "AVIF (libavif via Pillow, speed 6)"
    format = "AVIF"
    gray_as_rgb = True
    options = {"speed": 6}

    def load_plugin(self) -> None:
        from PIL import features

        if not features.check("avif"):
            import pillow_avif  # noqa: F401  (registers AVIF with Pillow)


class JpegXLCodec(PillowCodec):
    """JPEG XL (libjxl via pillow-jxl-plugin, effort 7, bare codestream).

    Keeps gray, gray+alpha, RGB and RGBA natively; libjxl codes the alpha plane
    losslessly by default, so alpha round-trips exactly while the colour is lossy.
    The plugin decodes the whole image when the stream is opened, so the size in the
    codestream is parsed first and checked against the header.
    """

    id = "jpegxl"
    quality_range = (0, 100)
    default_quality = 75
    description = "JPEG XL (pillow-jxl-plugin, effort 7)"
    format = "JXL"
    options = {"effort": 7, "use_container": False}

    def save_options(self, quality: int) -> dict:
        # libjxl has no lossy mode at distance 0: quality 100 means lossless (as in cjxl -q 100)
        return {**super().save_options(quality), "lossless": quality == 100}

    def load_plugin(self) -> None:
        import pillow_jxl  # noqa: F401  (registers JXL with Pillow)

    def precheck(self, blob: bytes, width: int, height: int) -> None:
        size = jxl_size(blob)
        # orientations 5..8 swap the displayed width and height; the pixel count is the bound
        if size is None or size[0] * size[1] != width * height:
            found = "no readable size" if size is None else f"{size[0]}x{size[1]}"
            raise CorruptStreamError(f"jpegxl stream has {found}, the header declares "
                                     f"{width}x{height}: the file is corrupt")


# ---------------------------------------------------------------- shared helpers
def split_alpha(data: np.ndarray) -> tuple:
    """``(colour, alpha)`` of an LA / RGBA array (colour HxW or HxWx3, alpha HxW);
    ``(data, None)`` for layouts without alpha. Codecs whose format has no alpha send
    the alpha plane as a second stream with ``alpha_to_png``."""
    if image_channels(data) not in _ALPHA:
        return data, None
    return (data[:, :, 0] if data.shape[2] == 2 else data[:, :, :3]), data[:, :, -1]


def alpha_to_png(alpha: np.ndarray) -> bytes:
    """An alpha plane as a lossless PNG stream."""
    return _save(alpha, "PNG", compress_level=9)


def alpha_from_png(blob: bytes, width: int, height: int, codec_id: str) -> np.ndarray:
    """Inverse of ``alpha_to_png`` (uint8), checked against the header's size (else
    ``CorruptStreamError``)."""
    return open_stream(blob, "PNG", width, height, 1, "uint8", f"{codec_id} alpha stream")


def open_stream(blob: bytes, fmt: str, width: int, height: int, channels: int, dtype: str,
                what: str, precheck=None) -> np.ndarray:
    """Decode one Pillow stream that must be a ``fmt`` image of exactly ``width`` x
    ``height``; every failure is a one-line ``CorruptStreamError`` (or ``LimitError``)."""
    try:
        if precheck is not None:
            precheck(blob, width, height)
        with Image.open(io.BytesIO(blob), formats=[fmt]) as im:
            if im.format != fmt or im.size != (width, height):
                raise CorruptStreamError(
                    f"{what} holds a {im.size[0]}x{im.size[1]} {im.format} image, the "
                    f"header declares {width}x{height} {fmt}: the file is corrupt")
            im.load()
            return _to_layout(np.asarray(im), im.mode, channels, dtype)
    except LVCError:
        raise
    except Image.DecompressionBombError as e:
        raise LimitError(f"{what}: {e}") from None
    except Image.UnidentifiedImageError:
        raise CorruptStreamError(f"{what} is not a valid {fmt} stream: the file is "
                                 "corrupt") from None
    except Exception as e:  # Pillow raises OSError, ValueError, SyntaxError, struct.error...
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CorruptStreamError(f"{what} failed to decode ({msg})") from None


# ---------------------------------------------------------------- JPEG XL size
_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


def _jxl_codestream(blob: bytes) -> bytes | None:
    """The codestream of a bare or ISOBMFF-boxed JPEG XL file (its first part)."""
    if blob[:2] == b"\xff\x0a":
        return blob
    if not blob.startswith(_JXL_CONTAINER):
        return None
    pos = len(_JXL_CONTAINER)
    while pos + 8 <= len(blob):
        size, kind, head = int.from_bytes(blob[pos:pos + 4], "big"), blob[pos + 4:pos + 8], 8
        if size == 1:
            size, head = int.from_bytes(blob[pos + 8:pos + 16], "big"), 16
        body = blob[pos + head: len(blob) if size == 0 else pos + size]
        if kind == b"jxlc":
            return body
        if kind == b"jxlp":
            return body[4:]
        if size < head:
            return None
        pos += size
    return None


def jxl_size(blob: bytes) -> tuple | None:
    """(width, height) from a JPEG XL SizeHeader, without decoding; None if unreadable."""
    code = _jxl_codestream(blob)
    if code is None or code[:2] != b"\xff\x0a":
        return None
    bits = int.from_bytes(code[2:16], "little")  # SizeHeader needs at most 75 bits
    avail, pos = 8 * len(code[2:16]), 0

    def read(n: int) -> int:
        nonlocal pos
        if pos + n > avail:
            raise CorruptStreamError("jpegxl stream is truncated inside its size header")
        value = (bits >> pos) & ((1 << n) - 1)
        pos += n
        return value

    def dim(small: bool) -> int:
        return (read(5) + 1) * 8 if small else read((9, 13, 18, 30)[read(2)]) + 1

    small = bool(read(1))
    height = dim(small)
    ratio = read(3)
    if ratio == 0:
        return dim(small), height
    num, den = _JXL_RATIOS[ratio]
    return height * num // den, height
