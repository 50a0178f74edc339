"""Integer frequency tables: the models the entropy coder is driven by.

A ``FrequencyTables`` holds K integer pmfs. Table k covers the symbols
``offset[k] .. offset[k] + len(pmf_k) - 2``; its last entry is the *escape*
symbol, whose mass covers every value outside that support (coded afterwards
with an exact integer code, so nothing is ever clipped). All frequencies are
positive and each pmf sums to ``2**precision``.

Tables are plain numpy integers, so encoder and decoder use bit-identical
models regardless of how the floats that produced them were computed; the float
math (Gaussian/Laplace CDFs) runs once when a table is built and the result can
be frozen to a file (``to_arrays`` / ``from_arrays``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import BadInputError

PRECISION = 16
"""Bits of every integer pmf (as in CompressAI). constriction's ANS works at 24 bits,
so a 16-bit table is represented exactly."""


def quantize_pmf(pmf: np.ndarray, precision: int = PRECISION) -> np.ndarray:
    """Turn a float pmf (escape mass included) into positive integers summing to 2**precision.

    Deterministic integer fix-up: rounding error is taken from (or given to) the
    largest entries, never pushing any entry below 1.
    """
    pmf = np.asarray(pmf, dtype=np.float64)
    n = pmf.size
    total = 1 << precision
    if n == 0 or n > total:
        raise BadInputError(f"a table needs 1..{total} entries, got {n}")
    if not np.all(np.isfinite(pmf)) or np.any(pmf < 0) or pmf.sum() <= 0:
        raise BadInputError("pmf must be finite, non-negative and not all zero")
    pmf = pmf / pmf.sum()
    freq = np.maximum(1, np.rint(pmf * total)).astype(np.int64)
    diff = total - int(freq.sum())
    order = np.argsort(-freq, kind="stable")
    i = 0
    while diff != 0:
        k = order[i % n]
        if diff > 0:
            step = diff
        else:
            step = -min(-diff, int(freq[k]) - 1)
        freq[k] += step
        diff -= step
        i += 1
    return freq


@dataclass(frozen=True, eq=False)
class FrequencyTables:
    """K integer pmfs with an escape entry each; symbol x under table k maps to x - offset[k]."""

    pmfs: tuple  # tuple of int64 arrays, escape entry last
    offsets: np.ndarray  # int64, (K,)
    precision: int = PRECISION

    def __post_init__(self):
        if len(self.pmfs) != len(self.offsets):
            raise BadInputError("one offset per table is required")
        lo = np.asarray(self.offsets, np.int64)
        if lo.size and (lo.min() < -(2**31) or (lo + self.supports).max() > 2**31 - 1):
            raise BadInputError("table supports must lie within int32")
        for p in self.pmfs:
            if p.ndim != 1 or p.size < 1 or p.min() < 1 or int(p.sum()) != 1 << self.precision:
                raise BadInputError("each table must be positive integers summing to 2**precision")

    def __len__(self) -> int:
        return len(self.pmfs)

    @cached_property
    def supports(self) -> np.ndarray:
        """Number of directly coded values per table (escape excluded)."""
        return np.array([p.size - 1 for p in self.pmfs], dtype=np.int64)

    @cached_property
    def offsets32(self) -> np.ndarray:
        """Lowest directly coded value per table, as int32 (hot-path gathers)."""
        return np.asarray(self.offsets, np.int32)

    @cached_property
    def supports32(self) -> np.ndarray:
        return self.supports.astype(np.int32)

    @cached_property
    def highs32(self) -> np.ndarray:
        """Highest directly coded value per table, as int32."""
        return (np.asarray(self.offsets, np.int64) + self.supports - 1).astype(np.int32)

    def fingerprint(self) -> str:
        """sha256 of the integer content: equal tables code equal bytes."""
        h = hashlib.sha256()
        h.update(np.int64(self.precision).tobytes())
        h.update(np.asarray(self.offsets, "<i8").tobytes())
        for p in self.pmfs:
            h.update(np.int64(p.size).tobytes())
            h.update(np.asarray(p, "<i8").tobytes())
        return h.hexdigest()

    def information_bits(self, symbols: np.ndarray, indexes: np.ndarray) -> float:
        """Ideal code length in bits of ``symbols`` under these tables (escapes counted as
        the escape symbol plus the exact bits of the escape code)."""
        from .escape import escape_bits

        symbols = np.asarray(symbols, np.int64).ravel()
        indexes = np.asarray(indexes, np.int64).ravel()
        rel = symbols - self.offsets[indexes]
        sup = self.supports[indexes]
        esc = (rel < 0) | (rel >= sup)
        rel = np.where(esc, sup, rel)
        bits = 0.0
        for k in np.unique(indexes):
            sel = indexes == k
            p = self.pmfs[k][rel[sel]] / float(1 << self.precision)
            bits -= float(np.log2(p).sum())
        lo = self.offsets[indexes[esc]]
        return bits + escape_bits((symbols[esc], lo, lo + self.supports[indexes[esc]] - 1))

    # --- freezing to arrays (safetensors/npz friendly, no pickle) ---------------
    def to_arrays(self) -> dict:
        lengths = np.array([p.size for p in self.pmfs], dtype=np.int64)
        flat = np.concatenate(self.pmfs) if self.pmfs else np.zeros(0, np.int64)
        return {
            "lengths": lengths,
            "flat": flat.astype(np.int64),
            "offsets": np.asarray(self.offsets, np.int64),
            "precision": np.array([self.precision], np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict) -> "FrequencyTables":
        lengths = np.asarray(arrays["lengths"], np.int64)
        flat = np.asarray(arrays["flat"], np.int64)
        if lengths.sum() != flat.size:
            raise BadInputError("table arrays are inconsistent")
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        pmfs = tuple(flat[a:b].copy() for a, b in zip(bounds[:-1], bounds[1:]))
        return cls(pmfs, np.asarray(arrays["offsets"], np.int64), int(arrays["precision"][0]))

    @classmethod
    def from_histograms(cls, counts, offsets, pseudocount: float = 0.5,
                        escape_mass: float = 1e-6, precision: int = PRECISION) -> "FrequencyTables":
        """Tables from observed symbol counts per table (``counts[k][j]`` for value
        ``offsets[k] + j``), smoothed by ``pseudocount``, with a small escape mass."""
        pmfs = []
        for c in counts:
            c = np.asarray(c, np.float64) + pseudocount
            pmf = np.append(c / c.sum() * (1 - escape_mass), escape_mass)
            pmfs.append(quantize_pmf(pmf, precision))
        return cls(tuple(pmfs), np.asarray(offsets, np.int64), precision)

    @classmethod
    def from_quantized_cdfs(cls, cdfs, cdf_lengths, offsets, precision: int = PRECISION
                            ) -> "FrequencyTables":
        """Import CompressAI's ``(quantized_cdf, cdf_length, offset)`` layout, whose last
        pmf entry is its overflow symbol: that becomes lvc's escape entry."""
        cdfs = np.asarray(cdfs, np.int64)
        pmfs = []
        for row, n in zip(cdfs, np.asarray(cdf_lengths, np.int64)):
            pmf = np.diff(row[: int(n)])
            if pmf.size == 0 or pmf.min() < 1:
                pmf = quantize_pmf(np.maximum(pmf, 0) + 1e-9, precision)
            pmfs.append(pmf.astype(np.int64))
        return cls(tuple(pmfs), np.asarray(offsets, np.int64), precision)

    @classmethod
    def from_entropy_bottleneck(cls, module) -> "FrequencyTables":
        """Per-channel tables from a trained compressai ``EntropyBottleneck`` (after
        ``update()``). Only this constructor touches torch."""
        if getattr(module, "_quantized_cdf", None) is None or module._quantized_cdf.numel() == 0:
            raise BadInputError("call update() on the EntropyBottleneck before exporting its tables")
        return cls.from_quantized_cdfs(
            module._quantized_cdf.cpu().numpy(),
            module._cdf_length.cpu().numpy(),
            module._offset.cpu().numpy(),
        )


def _gaussian_cdf(x: float, scale: float) -> float:
    return 0.5 * math.erfc(-x / (scale * math.sqrt(2.0)))


def _laplace_cdf(x: float, scale: float) -> float:
    return 0.5 * math.exp(x / scale) if x < 0 else 1.0 - 0.5 * math.exp(-x / scale)


_CDFS = {"gaussian": _gaussian_cdf, "laplace": _laplace_cdf}


def _tail_bound(kind: str, scale: float, tail_mass: float) -> int:
    """Half-width R so that P(|x| > R) is about ``tail_mass`` for a zero-mean residual."""
    if kind == "gaussian":
        from statistics import NormalDist

        return int(math.ceil(scale * NormalDist().inv_cdf(1 - tail_mass / 2)))
    return int(math.ceil(scale * math.log(1.0 / tail_mass)))


def default_scales(n: int = 64, lo: float = 0.11, hi: float = 256.0) -> np.ndarray:
    """CompressAI's scale table: ``n`` log-spaced scales between ``lo`` and ``hi``."""
    return np.exp(np.linspace(math.log(lo), math.log(hi), n))


class ScaleTable:
    """A frozen table of zero-mean Gaussian or Laplace residual models, one per scale.

    The codec sends ``round(y - mu)`` with ``indexes(sigma)``; the mean never enters
    the coder. ``scale`` is the standard deviation for ``gaussian`` and the Laplace
    parameter b for ``laplace``.
    """

    def __init__(self, kind: str = "gaussian", scales=None, tail_mass: float = 1e-9,
                 precision: int = PRECISION):
        if kind not in _CDFS:
            raise BadInputError(f"scale table kind must be one of {sorted(_CDFS)}, not {kind!r}")
        scales = default_scales() if scales is None else np.asarray(scales, np.float64)
        if scales.ndim != 1 or scales.size == 0 or np.any(~np.isfinite(scales)) \
                or np.any(scales <= 0) or np.any(np.diff(scales) <= 0):
            raise BadInputError("scales must be a non-empty, strictly increasing positive vector")
        self.kind, self.scales, self.tail_mass = kind, scales, tail_mass
        cdf = _CDFS[kind]
        pmfs, offsets = [], []
        for s in scales:
            r = max(1, _tail_bound(kind, float(s), tail_mass))
            edges = [cdf(v + 0.5, float(s)) for v in range(-r - 1, r + 1)]
            pmf = np.diff(np.asarray(edges))
            pmf = np.append(pmf, max(0.0, 1.0 - float(pmf.sum())))
            pmfs.append(quantize_pmf(pmf, precision))
            offsets.append(-r)
        self.tables = FrequencyTables(tuple(pmfs), np.asarray(offsets, np.int64), precision)

    def __len__(self) -> int:
        return len(self.scales)

    def indexes(self, scales) -> np.ndarray:
        """Index of the smallest table scale >= each given scale (clamped), as uint8/int32.

        Like CompressAI's ``build_indexes``: rounding scales *up* keeps the model
        conservative. NaN or non-positive scales map to index 0.
        """
        s = np.nan_to_num(np.asarray(scales, np.float64), nan=0.0)
        idx = np.searchsorted(self.scales, s, side="left")
        idx = np.minimum(idx, len(self.scales) - 1)
        return idx.astype(np.uint8 if len(self.scales) <= 256 else np.int32)
