"""Coding compressai-style latents with ``lvc.entropy``, one loop for both sides.

Learned codecs here run the *same* function to encode and to decode: given an
``Encoder`` and the values it codes them, given a ``Decoder`` it reads them, and both
return the dequantized tensor, so every later entropy parameter is computed from
identical inputs on both sides.
"""

from __future__ import annotations

import numpy as np
import torch


def code_symbols(coder, values, means, indexes: np.ndarray, tables) -> torch.Tensor:
    """Code (an ``Encoder``, ``values`` given) or decode (a ``Decoder``, ``values`` None)
    the symbols ``round(values - means)`` (compressai's ``quantize(..., "symbols")``),
    symbol i with table ``indexes[i]``; returns the dequantized ``symbols + means``."""
    if values is None:
        symbols = torch.from_numpy(coder.indexed(indexes, tables))
    else:
        symbols = torch.round(values if means is None else values - means).to(torch.int32)
        coder.indexed(symbols.numpy(), indexes, tables)
    return symbols.float() if means is None else symbols.float() + means


def bottleneck_medians(entropy_bottleneck) -> torch.Tensor:
    """(1, C, 1, 1) medians an EntropyBottleneck quantizes around."""
    return entropy_bottleneck.quantiles[:, 0, 1].reshape(1, -1, 1, 1)


def gaussian_tables(gaussian_conditional):
    """lvc ``FrequencyTables`` of an updated compressai GaussianConditional's scale table."""
    from ..entropy import FrequencyTables

    gc = gaussian_conditional
    return FrequencyTables.from_quantized_cdfs(
        gc._quantized_cdf.numpy(), gc._cdf_length.numpy(), gc._offset.numpy())
