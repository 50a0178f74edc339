"""Registered one-byte codec tags, so a header spends 1 byte on the codec, not its name.

Like FourCC codes: a tag, once given, is never reused or changed (golden files pin
them). Codecs without a tag (plugins, experiments) are stored by their id string.
"""

from __future__ import annotations

from ..errors import UnknownCodecError

CODEC_TAGS = {
    # classical image baselines
    "png": 1, "jpeg": 2, "webp": 3, "avif": 4, "jpegxl": 5,
    # classical audio baselines
    "flac": 16, "opus": 17, "vorbis": 18, "mp3": 19,
    # learned image codecs
    "liveaction-rgb": 32, "mlicv2-tiny": 33, "mbt2018-mean-tiny": 34,
    "mbt2018-mean-tiny-iscs": 35, "mbt2018-mean-tiny-slices": 36,
    # CompressAI zoo models
    "bmshj2018-factorized": 40, "bmshj2018-hyperprior": 41, "mbt2018-mean": 42,
    "mbt2018": 43, "cheng2020-anchor": 44, "cheng2020-attn": 45,
    # learned lossless codecs
    "pc-hclt": 48,
    # learned audio, hyperspectral and volume codecs
    "liveaction-audio": 56, "liveaction-audio4": 57, "liveaction-hsi": 58,
    "liveaction-volume": 59,
    # generative image codecs
    "dualdiff": 37, "dualdiff-implicit": 38,
}
_BY_TAG = {v: k for k, v in CODEC_TAGS.items()}


def tag_for_codec(codec_id: str) -> int:
    """The registered tag, or 0 when the id is stored as a string."""
    return CODEC_TAGS.get(codec_id, 0)


def codec_for_tag(tag: int) -> str:
    try:
        return _BY_TAG[tag]
    except KeyError:
        raise UnknownCodecError(f"unknown codec tag {tag} (file written by a newer lvc?)") from None
