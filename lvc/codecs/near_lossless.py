"""Near-lossless residual layer: every decoded sample within ``max_error`` of the original.

After a lossy codec's reconstruction ``x_hat``, the residual ``x - x_hat`` is quantised
JPEG-LS style and entropy-coded as one more stream; the decoder adds it back.
- integers, ``N = max_error`` (0 = lossless): ``q = sign(r) * ((|r| + N) // (2N + 1))``,
  ``x' = clip(x_hat + q (2N + 1))``, so ``|x - x'| <= N`` by construction.
- floats, tolerance ``T > 0``: ``q = round(r / 2T)`` in float64, ``x' = x_hat + q 2T``
  cast to the dtype; samples the cast pushes past ``T`` travel exactly (index, value).
  ``T = 0`` on float32/float16: the difference of the bit patterns as integers.
The bound holds only if the decoder's ``x_hat`` is the encoder's, bit for bit: the
encoder decodes its own base streams with the decoder's code, and the codecs allowed
here decode deterministically across processes and thread counts (LiVeAction's
integer latents and thread-independent synthesis, ``torch_utils.stable_cpu``;
classical codecs' C decoders); ``tests/test_near_lossless.py`` decodes in another
process with another thread count.

Context model: ``BINS x VALUE_BINS`` contexts by the local activity of ``x_hat`` (the
sum of absolute differences to the neighbours along every axis, cut at its quantiles)
and by its value, so both sides compute them. First a bias per context (the median
of ``q``: a base that turns a black background into faint noise is corrected by it)
is taken out: ``u = q - bias``. Then ``u`` is coded in three passes over the first
two axes (two for a clip): the even lattice, its centres predicted by the rounded
mean of their four diagonal neighbours, the rest by their four edge neighbours (the
residual of a lossy base is spatially smooth), whose contexts take the mean ``|u|``
of those decoded neighbours instead of the activity bin; per pass and context a shift
(median) and a Laplace scale (a ``ScaleTable`` index).
Value bins for integers are exact below 8 above the minimum (a dark background's
faint noise gets contexts of its own), then two per octave. Stream: ``u32 count of
exact samples, their u64 indexes and raw values, u32 size of the zlib-compressed
context header (CONTEXTS biases (i32), then per pass CONTEXTS scale indexes (u8) and
shifts (i32)), the entropy stream``.
"""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

import numpy as np

from ..entropy import Decoder, Encoder
from ..errors import BadInputError, CorruptStreamError

BINS = 8  # activity bins
VALUE_BINS = 32  # value bins: exact below 8, then two per octave (integers)
CONTEXTS = BINS * VALUE_BINS
DECODE_MEMORY = 72.0
"""Peak bytes per sample of a near-lossless decode (float64 activity and values, int64
residuals, predictions and contexts; tracemalloc measured 64.8 on a 256x256 RGB WebP
base), for ``lvc.decode``'s size check before anything is allocated."""


@lru_cache(maxsize=1)
def _table():
    from ..entropy import ScaleTable, default_scales

    return ScaleTable("laplace", default_scales(48, 0.05, 512.0))


def check_max_error(max_error, dtype) -> float | int:
    """``max_error`` checked for ``dtype``: a non-negative integer for integer samples,
    a non-negative finite number for floats (0 only on float32/float16)."""
    dtype = np.dtype(dtype)
    try:
        value = float(max_error)
    except (TypeError, ValueError):
        raise BadInputError(f"max error must be a number, got {max_error!r}") from None
    if not np.isfinite(value) or not 0 <= value < 2**31:
        raise BadInputError(f"max error must be in 0..2**31, got {max_error!r}")
    if dtype.kind in "iu":
        if value != int(value):
            raise BadInputError(f"max error on {dtype} samples must be an integer, got {max_error}")
        return int(value)
    if dtype.kind == "f":
        if value == 0 and dtype.itemsize > 4:
            raise BadInputError("max error 0 (lossless) is not supported for float64 samples")
        return value
    raise BadInputError(f"no near-lossless mode for {dtype} samples")


def _contexts(x_hat: np.ndarray) -> np.ndarray:
    """Context (0..CONTEXTS-1) of every sample from the reconstruction alone: its
    activity bin and its value bin (quantiles of each over ``x_hat``)."""
    x = x_hat.astype(np.float64)
    activity = np.zeros(x.shape)
    for axis in range(x.ndim):
        if x.shape[axis] > 1:
            d = np.abs(np.diff(x, axis=axis))
            lead = [slice(None)] * x.ndim
            lead[axis] = slice(1, None)
            activity[tuple(lead)] += d
            lead[axis] = slice(None, -1)
            activity[tuple(lead)] += d
    cuts = np.linspace(0, 1, BINS + 1)[1:-1]
    act = np.searchsorted(np.quantile(activity, cuts), activity, side="right")
    if x_hat.dtype.kind in "iu":  # a dark background (values near the minimum) gets its own
        v = x - x.min(initial=0)
        octave = np.floor(np.log2(np.maximum(v, 8) / 8) * 2)
        val = np.minimum(np.where(v < 8, v, 8 + octave), VALUE_BINS - 1).astype(np.int64)
    else:
        val = np.searchsorted(np.quantile(x, cuts), x, side="right")
    return (act * VALUE_BINS + val).astype(np.uint8)


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.int32 if a.dtype.itemsize == 4 else np.int16).astype(np.int64)


def _wrap(v: np.ndarray, itemsize: int) -> np.ndarray:
    """Two's complement wrap of int64 into the signed integer of ``itemsize`` bytes."""
    bits = 8 * itemsize
    return ((v + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1))


def encode_residual(x: np.ndarray, x_hat: np.ndarray, max_error) -> bytes:
    """The residual stream taking ``x_hat`` to within ``max_error`` of ``x``."""
    if x.shape != x_hat.shape or x.dtype != x_hat.dtype:
        raise BadInputError("near-lossless: reconstruction and original differ in shape/dtype")
    n = check_max_error(max_error, x.dtype)
    exact_idx = np.zeros(0, np.uint64)
    if x.dtype.kind == "f" and n == 0:
        q = _wrap(_bits(x) - _bits(x_hat), x.dtype.itemsize)
    elif x.dtype.kind == "f":
        step = 2.0 * n
        q = np.rint((x.astype(np.float64) - x_hat) / step)
        recon = (x_hat.astype(np.float64) + q * step).astype(x.dtype)
        bad = ~(np.abs(recon.astype(np.float64) - x) <= n)  # NaN/inf sent exactly too
        exact_idx = np.flatnonzero(bad).astype(np.uint64)
        q = np.where(bad | ~np.isfinite(q), 0, q)
    else:
        r = x.astype(np.int64) - x_hat.astype(np.int64)
        q = np.sign(r) * ((np.abs(r) + n) // (2 * n + 1))
    if np.abs(q).max(initial=0) >= 2**31:
        raise BadInputError("near-lossless: residual too large for the coder")
    ctx = _contexts(x_hat)
    predict = not (x.dtype.kind == "f" and n == 0)  # bit-pattern differences: no prediction
    bias = _fit(q.ravel().astype(np.int64), ctx.ravel())[0] if predict else \
        np.zeros(CONTEXTS, np.int64)
    u = q.astype(np.int64) - bias[ctx]  # what the reconstruction cannot explain
    enc, header = Encoder(), bias.astype("<i4").tobytes()
    for mask, offsets in _passes(x.shape):
        pred = _prediction(u, offsets)[mask] if offsets and predict else 0
        c = _pass_contexts(ctx, u, offsets if predict else ())[mask]
        values = u[mask] - pred
        shift, scale_idx = _fit(values, c)
        if np.abs(values - shift[c]).max(initial=0) >= 2**31:
            raise BadInputError("near-lossless: residual too large for the coder")
        enc.residuals((values - shift[c]).astype(np.int32), scale_idx[c], _table())
        header += scale_idx.astype(np.uint8).tobytes() + shift.astype("<i4").tobytes()
    exact = x.ravel()[exact_idx.astype(np.int64)]
    header = zlib.compress(header, 9)  # contexts that do not occur are zeros
    return (struct.pack("<I", exact_idx.size) + exact_idx.astype("<u8").tobytes()
            + np.ascontiguousarray(exact).tobytes() + struct.pack("<I", len(header)) + header
            + enc.finish())


def _passes(shape: tuple) -> list:
    """``(mask, neighbour offsets)`` of each pass, over the first two axes (the only axis
    of a clip), the same for every channel, band or slice: the even lattice first (no
    prediction), then its centres from their 4 diagonal neighbours, then the rest from
    their 4 edge neighbours (a 1-D clip: even samples, then odd ones from both sides)."""
    if len(shape) == 1:
        even = np.arange(shape[0]) % 2 == 0
        return [(even, ()), (~even, ((-1,), (1,)))]
    i, j = np.arange(shape[0])[:, None] % 2, np.arange(shape[1])[None, :] % 2
    lift = lambda m: np.broadcast_to(m.reshape(m.shape + (1,) * (len(shape) - 2)), shape)  # noqa: E731
    return [(lift((i == 0) & (j == 0)), ()),
            (lift((i == 1) & (j == 1)), ((-1, -1), (-1, 1), (1, -1), (1, 1))),
            (lift((i + j) % 2 == 1), ((-1, 0), (1, 0), (0, -1), (0, 1)))]


def _pass_contexts(ctx: np.ndarray, u: np.ndarray, offsets: tuple) -> np.ndarray:
    """A pass's contexts: with decoded neighbours, their mean |u| (0, 1, 2, 3-4, 5-8,
    ..., >= 33) replaces the reconstruction's activity bin; the value bin stays."""
    if not offsets:
        return ctx
    level = _prediction(np.abs(u), offsets)
    bins = np.minimum(np.ceil(np.log2(np.maximum(level, 1))) + (level > 0), BINS - 1)
    return (bins.astype(np.int64) * VALUE_BINS + ctx % VALUE_BINS).astype(np.uint8)


def _prediction(q: np.ndarray, offsets: tuple) -> np.ndarray:
    """The rounded mean of ``q`` at the neighbour ``offsets`` (along the first axes)
    that lie inside the array, for every sample (integers, so both sides agree)."""
    total, count = np.zeros(q.shape, np.int64), np.zeros(q.shape, np.int64)
    for offset in offsets:
        dst, src = [], []
        for o, n in zip(offset, q.shape):
            dst.append(slice(max(0, -o), n - max(0, o)))
            src.append(slice(max(0, o), n - max(0, -o)))
        total[tuple(dst)] += q[tuple(src)]
        count[tuple(dst)] += 1
    count = np.maximum(count, 1)
    return (2 * total + count) // (2 * count)


def _fit(values: np.ndarray, ctx: np.ndarray) -> tuple:
    """Per context: the median shift and the Laplace scale index of ``values - shift``
    (no shift where it would leave the coder's int32 range)."""
    shift = np.zeros(CONTEXTS, np.int64)
    scales = np.zeros(CONTEXTS)
    for b in np.unique(ctx):
        here = values[ctx == b]
        shift[b] = int(np.median(here))
        if np.abs(here - shift[b]).max() >= 2**31:
            shift[b] = 0
        scales[b] = np.abs(here - shift[b]).mean()
    return shift, _table().indexes(np.maximum(scales, _table().scales[0]))


def decode_residual(data: bytes, x_hat: np.ndarray, max_error) -> np.ndarray:
    """``x_hat`` corrected by the residual stream (inverse of ``encode_residual``)."""
    n = check_max_error(max_error, x_hat.dtype)
    try:
        (count,) = struct.unpack_from("<I", data)
        pos = 4 + 8 * count
        exact_idx = np.frombuffer(data, "<u8", count, 4).astype(np.int64)
        exact = np.frombuffer(data, x_hat.dtype, count, pos)
        pos += count * x_hat.dtype.itemsize
        (size,) = struct.unpack_from("<I", data, pos)
        packed = zlib.decompressobj()
        passes = _passes(x_hat.shape)
        expected = 4 * CONTEXTS + 5 * CONTEXTS * len(passes)
        header = packed.decompress(data[pos + 4:pos + 4 + size], expected)
        if len(header) != expected or packed.unconsumed_tail:
            raise ValueError("bad context header")
        pos += 4 + size
        bias = np.frombuffer(header, "<i4", CONTEXTS).astype(np.int64)
        params = []
        for p in range(len(passes)):
            at = 4 * CONTEXTS + 5 * CONTEXTS * p
            scale_idx = np.frombuffer(header, np.uint8, CONTEXTS, at)
            shift = np.frombuffer(header, "<i4", CONTEXTS, at + CONTEXTS).astype(np.int64)
            params.append((scale_idx, shift))
    except (struct.error, ValueError, zlib.error):
        raise CorruptStreamError("near-lossless stream is truncated") from None
    if count > x_hat.size or (count and exact_idx.max() >= x_hat.size) or \
            max(p[0].max() for p in params) >= len(_table()):
        raise CorruptStreamError("near-lossless stream is corrupt")
    ctx = _contexts(x_hat)
    predict = not (x_hat.dtype.kind == "f" and n == 0)
    dec = Decoder(data[pos:])
    u = np.zeros(x_hat.shape, np.int64)
    for (mask, offsets), (scale_idx, shift) in zip(passes, params):
        pred = _prediction(u, offsets)[mask] if offsets and predict else 0
        c = _pass_contexts(ctx, u, offsets if predict else ())[mask]
        u[mask] = dec.residuals(scale_idx[c], _table()).astype(np.int64) + shift[c] + pred
    dec.finish()
    q = u + bias[ctx]
    if x_hat.dtype.kind == "f" and n == 0:
        bits = _wrap(_bits(x_hat) + q, x_hat.dtype.itemsize)
        out = bits.astype(np.int32 if x_hat.dtype.itemsize == 4 else np.int16).view(x_hat.dtype)
    elif x_hat.dtype.kind == "f":
        out = (x_hat.astype(np.float64) + q * (2.0 * n)).astype(x_hat.dtype)
    else:
        info = np.iinfo(x_hat.dtype)
        out = np.clip(x_hat.astype(np.int64) + q * (2 * n + 1), info.min, info.max) \
            .astype(x_hat.dtype)
    out = out.reshape(x_hat.shape)
    out.ravel()[exact_idx] = exact  # out is contiguous: ravel() is a view
    return out
