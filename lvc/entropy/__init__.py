"""Shared entropy layer: integer tables + constriction ANS, used by every lvc codec.

Needs numpy and constriction only (no torch) so that decoding never depends on
how a table was trained.
"""

from .coder import (
    Decoder,
    Encoder,
    channel_indexes,
    decode_categorical,
    decode_indexed,
    decode_residuals,
    encode_categorical,
    encode_indexed,
    encode_residuals,
)
from .tables import PRECISION, FrequencyTables, ScaleTable, default_scales, quantize_pmf

__all__ = [
    "Encoder", "Decoder", "FrequencyTables", "ScaleTable", "PRECISION",
    "encode_indexed", "decode_indexed", "encode_residuals", "decode_residuals",
    "encode_categorical", "decode_categorical", "channel_indexes", "default_scales",
    "quantize_pmf",
]
