"""Codecs: the interface (``base``), the registry, and the codec implementations.

Importing this package is cheap; codec modules are imported when first used.
"""

from .base import Codec, Encoded
from .registry import BUILTIN, DEFAULT_CODEC, CodecInfo, all_codecs, codec_info, get_codec, register

__all__ = ["Codec", "Encoded", "CodecInfo", "BUILTIN", "DEFAULT_CODEC", "all_codecs",
           "codec_info", "get_codec", "register"]
