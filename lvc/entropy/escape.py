"""Exact coding of values that fall outside a table's support.

An escaped value x of a table whose direct range is [lo, hi] is sent as a sign
(above hi / below lo), the bit length n of its excess e (x - hi - 1 or
lo - 1 - x, so e >= 0) and the n - 1 bits below e's leading one, in 16-bit
chunks. Any int32 (indeed any value whose excess fits in 40 bits) round-trips;
the cost is about 6.4 + n bits, paid only for escapes.
"""

from __future__ import annotations

import math

import numpy as np

MAX_BITS = 40
_CHUNK = 16
N_SIZE = MAX_BITS + 1
_BITS_PER_HEADER = 1.0 + math.log2(N_SIZE)


def split(symbols: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """(signs, bit lengths, chunk values, chunk sizes) for escaped ``symbols``."""
    above = symbols > hi
    excess = np.where(above, symbols - hi - 1, lo - 1 - symbols).astype(np.int64)
    nbits = _bit_length(excess)
    owner, pos, width = _chunks(nbits)
    values = (excess[owner] >> (pos * _CHUNK)) & ((np.int64(1) << width) - 1)
    return (np.where(above, 0, 1).astype(np.int32), nbits.astype(np.int32),
            values.astype(np.int32), (np.int64(1) << width).astype(np.int32))


def chunk_sizes(nbits: np.ndarray) -> np.ndarray:
    """Uniform alphabet size of every mantissa chunk, given the escapes' bit lengths."""
    _, _, width = _chunks(nbits)
    return (np.int64(1) << width).astype(np.int32)


def join(signs, nbits, values, lo, hi) -> np.ndarray:
    """Inverse of ``split``: the escaped symbols from their decoded parts."""
    nbits = nbits.astype(np.int64)
    owner, pos, _ = _chunks(nbits)
    mant = np.zeros(nbits.size, np.int64)
    np.add.at(mant, owner, values.astype(np.int64) << (pos * _CHUNK))
    excess = np.where(nbits > 0, (np.int64(1) << np.maximum(nbits - 1, 0)) + mant, 0)
    return np.where(signs == 0, hi + 1 + excess, lo - 1 - excess)


def escape_bits(parts) -> float:
    """Ideal bits of the escape code for ``(symbols, lo, hi)``."""
    symbols, lo, hi = parts
    if symbols.size == 0:
        return 0.0
    excess = np.where(symbols > hi, symbols - hi - 1, lo - 1 - symbols)
    nbits = _bit_length(excess.astype(np.int64))
    return float(symbols.size * _BITS_PER_HEADER + np.maximum(nbits - 1, 0).sum())


def _chunks(nbits: np.ndarray):
    """For every 16-bit mantissa chunk: its escape (owner), position and width in bits."""
    mant_bits = np.maximum(nbits.astype(np.int64) - 1, 0)
    nchunks = (mant_bits + _CHUNK - 1) // _CHUNK
    owner = np.repeat(np.arange(nbits.size), nchunks)
    pos = np.arange(owner.size) - np.repeat(np.cumsum(nchunks) - nchunks, nchunks)
    return owner, pos, np.minimum(_CHUNK, mant_bits[owner] - pos * _CHUNK)


def _bit_length(x: np.ndarray) -> np.ndarray:
    out = np.zeros(x.shape, np.int64)
    y = x.copy()
    for b in (32, 16, 8, 4, 2, 1):
        big = y >= (np.int64(1) << b)
        out[big] += b
        y[big] >>= b
    return out + (y > 0)

