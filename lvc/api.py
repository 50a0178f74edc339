"""The library API: ``encode``/``decode`` bytes, ``read``/``write`` paths.

``lvc.encode(array) -> bytes`` and ``lvc.decode(bytes) -> array`` are all a data
pipeline needs; ``decode_media`` also returns the sample rate and metadata.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .codecs.base import Codec, Latent
from .codecs.registry import CodecInfo, all_codecs, default_codec, get_codec
from .errors import BadInputError, CodecUnavailableError, CorruptStreamError, FormatError, \
    MissingFileError, ModelMismatchError
from .formats.container import DEFAULT_LIMITS, Header, Limits, is_lvc, pack, unpack
from .formats.files import same_file, write_bytes_atomic
from .formats.limits import check_decode
from .formats.media import Media, as_array_media, as_audio, as_image, as_image_set, \
    check_layout
from .formats.names import check_names

PathLike = (str, os.PathLike)


def to_media(x, sample_rate=None, codec: Codec | CodecInfo | None = None) -> Media:
    """Accept a Media, an array or a media file path. An array is an image unless
    ``sample_rate`` is given or ``codec`` codes audio, volumes or hyperspectral cubes
    (then it is one of those); a ``.npy`` path is read the way ``codec`` asks. Only
    ``codec.modality`` is used, so the registry's ``CodecInfo`` serves without loading it."""
    array_modality = codec.modality if codec is not None and codec.modality in (
        "volume", "hyperspectral") else None
    if isinstance(x, Media):
        if x.modality == "image":
            return as_image(x.data)
        if x.modality == "audio":
            return as_audio(x.data, x.sample_rate)
        if x.modality == "images":
            return as_image_set(x.data, x.metadata.get("names"))
        if x.modality in ("volume", "hyperspectral"):
            return as_array_media(x.data, x.modality, metadata=x.metadata)
        return x
    if isinstance(x, PathLike):
        from .formats.io import read_media

        return read_media(x, array_modality)
    if array_modality:
        return as_array_media(x, array_modality)
    if hasattr(x, "mode") and hasattr(x, "size"):  # a PIL image
        from .formats.image_io import image_to_array

        return as_image(image_to_array(x), "PIL image")
    if sample_rate is not None or (codec is not None and codec.modality == "audio"):
        return as_audio(x, sample_rate)
    return as_image(x)


def encode(x, codec: str | None = None, quality: int | None = None, *,
           sample_rate: int | None = None, refine: int = 0, options: dict | None = None,
           max_error=None) -> bytes:
    """Encode an array, PIL image, Media or media file path into ``.lvc`` bytes.

    ``codec`` defaults per modality (``registry.default_codec``); ``quality`` to the codec's
    default (higher is better). Arrays are images unless ``sample_rate`` is given or
    the codec is an audio codec.
    ``refine``: encode-time latent refinement iterations (MLICv2+ SGA) for codecs that
    have it (``Codec.refinable``); decoding is unchanged.
    ``options``: codec-specific encoder settings by name (``Codec.options``), such as
    dualdiff's ``realism`` (its distortion-perception knob).
    ``max_error``: near-lossless (``codecs/near_lossless.py``): every decoded sample
    within this of the original (0: lossless); without ``quality`` the lossy base
    level giving the smallest file is chosen.
    """
    c = get_codec(codec) if codec else None
    media = to_media(x, sample_rate, c)
    if c is None:
        default = default_codec(media.modality, media.shape)
        if default is None:
            raise BadInputError(f"no default codec for {media.modality}: name one (for image "
                                "sets, a codec that packs archives)")
        c = get_codec(default)
    c.check_media(media)
    if max_error is not None:
        return _encode_near_lossless(media, c, quality, max_error, refine, options)
    q = c.check_quality(quality)
    options = dict(options or {})
    unknown = sorted(set(options) - set(c.options))
    if unknown:
        known = ", ".join(c.options) or "none"
        raise BadInputError(f"{c.id} has no option {unknown[0]!r} (its options: {known})")
    if refine:
        if type(refine) is not int or refine < 0:
            raise BadInputError(f"refine must be a number of iterations >= 0, got {refine!r}")
        if not c.refinable:
            raise BadInputError(f"{c.id} has no encode-time refinement (--refine)")
        enc = c.encode(media, q, refine=refine, **options)
    else:
        enc = c.encode(media, q, **options)
    return pack(_header(media, c, q, enc.metadata), enc.streams)


def _header(media: Media, c: Codec, q: int, metadata: dict) -> Header:
    return Header(codec=c.id, modality=media.modality, shape=media.shape,
                  dtype=str(media.data.dtype), quality=q,
                  fingerprint=c.fingerprint_for(media.shape), sample_rate=media.sample_rate,
                  metadata=metadata)


def _encode_near_lossless(media: Media, c: Codec, quality, max_error, refine, options) -> bytes:
    """The base codec's streams plus the residual stream (one quality, or the one of up
    to 8 across the codec's range that gives the smallest file with the planar layout;
    then every layout the array allows is tried on that base and the smallest kept)."""
    from .codecs.near_lossless import check_max_error, encode_residual

    if c.lossless:
        raise BadInputError(f"{c.id} is lossless already: --max-error is for lossy codecs")
    if media.modality == "images":
        raise BadInputError("--max-error codes one image, volume, cube or clip, not an image set")
    n = check_max_error(max_error, media.data.dtype)
    lo, hi = c.quality_range
    candidates = [c.check_quality(quality)] if quality is not None else \
        sorted({round(lo + (hi - lo) * i / 7) for i in range(8)})
    best = None  # (file size, header, base streams, reconstruction)
    quick = len(candidates) > 1  # the base is chosen with one layout, the layout after
    for q in candidates:
        enc = c.encode(media, q, **({"refine": refine} if refine else {}), **(options or {}))
        header = _header(media, c, q, {**enc.metadata, "max_error": n})
        x_hat = c.decode(header, enc.streams)  # the decoder's reconstruction, exactly
        size = len(pack(header, enc.streams + [encode_residual(media.data, x_hat.data, n,
                                                               quick)]))
        if best is None or size < best[0]:
            best = (size, header, enc.streams, x_hat)
    _, header, streams, x_hat = best
    return pack(header, streams + [encode_residual(media.data, x_hat.data, n)])


def _load_bytes(data) -> bytes:
    if isinstance(data, PathLike):
        path = Path(data)
        if not path.is_file():
            raise MissingFileError(f"{path}: no such file")
        return path.read_bytes()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise BadInputError(f"expected .lvc bytes or a path, got {type(data).__name__}")


def _open(data, limits: Limits) -> tuple:
    """``(header, streams, codec)`` of ``.lvc`` bytes or a path, after every check made
    before a codec decodes: the codec handles the modality, the layout is valid, the
    declared size is within the limits, the weights are the installed ones."""
    header, streams = unpack(_load_bytes(data), limits)
    c = get_codec(header.codec)
    if not c.handles(header.modality):
        raise FormatError(f"corrupt header: {c.id} codes {c.modality}, header says {header.modality}")
    problem = check_layout(header.modality, tuple(header.shape), header.dtype)
    if problem:
        raise FormatError(f"corrupt header: {problem}")
    memory = c.decode_memory
    if header.metadata.get("max_error") is not None:  # the residual layer's int64/float64 work
        from .codecs.near_lossless import DECODE_MEMORY

        memory = max(memory, DECODE_MEMORY)
    check_decode(header.shape, np.dtype(header.dtype).itemsize, memory, c.id)
    expected = c.fingerprint_for(tuple(header.shape))  # after the layout check: a valid shape
    if header.fingerprint != expected:
        raise ModelMismatchError(
            f"file was encoded with {header.codec} weights {_hex(header.fingerprint)}, installed "
            f"weights are {_hex(expected)}")
    return header, streams, c


def parse_device(device):
    """The torch device ``device`` names (None: the CPU); cpu, cuda or cuda:N."""
    if device is None or str(device) == "cpu":
        return None
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cuda", "cpu"):
        raise BadInputError(f"device {str(device)!r}: cpu, cuda or cuda:N")
    return None if parsed.type == "cpu" else parsed


def check_device(device, codec: Codec):
    """``parse_device``, then: ``codec`` may decode there (one line if not), and the
    device exists here (torch is imported only for another device than the CPU)."""
    device = parse_device(device)
    if device is None or codec.device_decode == "ignore":
        return None
    import torch

    if codec.device_decode == "refuse":
        raise BadInputError(f"{codec.id} decodes on the CPU only: its entropy parameters come "
                            "from float networks, which must reproduce the encoder's exactly")
    if device.type == "cuda" and not (torch.cuda.is_available() and
                                      (device.index or 0) < torch.cuda.device_count()):
        raise CodecUnavailableError(f"no CUDA device {device} here (torch sees "
                                    f"{torch.cuda.device_count()})")
    return device


def decode_media(data, limits: Limits = DEFAULT_LIMITS, device=None) -> Media:
    """Decode ``.lvc`` bytes (or a path) into a Media with sample rate and metadata.

    Metadata is the header's, updated by what the codec decoded (an image set's
    names travel in the codec's streams). ``device`` (e.g. ``"cuda"``): run the
    synthesis network of a codec whose latents are integer-decoded (the LiVeAction
    family) there; codecs without networks ignore it, the others refuse it."""
    parse_device(device)  # a bad name fails before the file is read
    header, streams, c = _open(data, limits)
    device = check_device(device, c)
    max_error = header.metadata.get("max_error")
    if max_error is not None:
        if device is not None:
            raise BadInputError("a near-lossless file decodes on the CPU only (the bound "
                                "needs the encoder's exact reconstruction)")
        if len(streams) < 2:
            raise CorruptStreamError("near-lossless file without its residual stream")
        residual, streams = streams[-1], streams[:-1]
    media = c.decode(header, streams) if device is None else \
        c.decode(header, streams, device=device)
    if max_error is not None:
        from .codecs.near_lossless import decode_residual

        try:
            media.data = decode_residual(residual, media.data, max_error)
        except BadInputError as e:
            raise CorruptStreamError(f"corrupt header: {e}") from None
    if media.shape != tuple(header.shape) or str(media.data.dtype) != header.dtype:
        raise CorruptStreamError(
            f"decoded {media.data.dtype} {media.shape} but the header declares "
            f"{header.dtype} {tuple(header.shape)}: the file is corrupt")
    media.sample_rate = header.sample_rate
    media.metadata = {**header.metadata, **media.metadata}
    if header.modality == "images" and media.metadata.get("names") is not None:
        # whatever codec decoded them, names become file names: check them here once
        check_names(media.metadata["names"], header.shape[0], CorruptStreamError)
    return media


def decode(data, limits: Limits = DEFAULT_LIMITS, device=None) -> np.ndarray:
    """Decode ``.lvc`` bytes (or a path) into a numpy array (see ``lvc.formats.media``;
    ``device``: see ``decode_media``)."""
    return decode_media(data, limits, device).data


def decode_latent(data, limits: Limits = DEFAULT_LIMITS) -> Latent:
    """A learned codec's quantised latent from ``.lvc`` bytes (or a path), without
    running its synthesis network: ``Latent.symbols`` (liveaction-rgb: int8 (k, H/16,
    W/16); the hyperprior family: y_hat) and ``Latent.values`` (float32, what the
    synthesis would see). Other codecs raise ``UnsupportedMediaError``."""
    header, streams, c = _open(data, limits)
    return c.decode_latent(header, streams)


def encode_images(images, names=None, codec: str | None = None,
                  quality: int | None = None) -> bytes:
    """Encode same-size images (a list of arrays or an ``(N, H, W[, C])`` array) into
    ONE ``.lvc`` file, with their file names if given; ``codec`` must pack archives."""
    return encode(as_image_set(images, names), codec, quality)


def decode_images(data) -> tuple:
    """Decode an image-set ``.lvc`` (bytes or a path): ``(array (N, H, W[, C]), names or
    None)``."""
    media = decode_media(data)
    if media.modality != "images":
        raise BadInputError(f"not an image set: the file holds {media.modality} data "
                            "(use lvc.decode)")
    return media.data, media.metadata.get("names")


def _hex(fp) -> str:
    return "none" if fp is None else fp.hex()


def read(path) -> Media:
    """Read any supported file: ``.lvc`` files are decoded, media files loaded."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(4)
    if is_lvc(head):
        return decode_media(path)
    from .formats.io import read_media

    return read_media(path)


def write(path, x, codec: str | None = None, quality: int | None = None, *,
          sample_rate: int | None = None, overwrite: bool = False) -> Path:
    """Write ``x`` to ``path``: encoded if the suffix is ``.lvc``, else as a media file
    (PNG/WAV/... by suffix). Atomic; refuses to replace a file unless ``overwrite``."""
    path = Path(path)
    if isinstance(x, (str, Path)) and same_file(x, path):
        raise BadInputError(f"{path} is the input file itself: choose another output")
    if path.suffix.lower() == ".lvc":
        return write_bytes_atomic(path, encode(x, codec, quality, sample_rate=sample_rate),
                                  overwrite)
    from .formats.io import write_media

    media = to_media(x, sample_rate)
    write_media(path, media, overwrite=overwrite)
    return path


def list_codecs(available_only: bool = False) -> list:
    """Every registered codec as a dict (id, modality, lossless, quality range, availability)."""
    rows = []
    for cid, info in sorted(all_codecs().items()):
        reason = info.unavailable_reason()
        if available_only and reason:
            continue
        rows.append({"id": cid, "modality": info.modality, "lossless": info.lossless,
                     "quality_range": list(info.quality_range),
                     "default_quality": info.default_quality, "archives": info.archives,
                     "available": reason is None,
                     "reason": reason, "description": info.description})
    return rows
