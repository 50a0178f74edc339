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
is taken out: ``u = q - bias``. Then ``u`` is coded in passes over a lattice: over the
first two axes (layout 0; a clip's one axis): the even lattice, its centres from their
four diagonal neighbours, the rest from their four edge neighbours; or, for volumes
and cubes, over all three axes (layout 1): even points, then points with three, two,
one odd coordinates, each from its 8 or 6 neighbours decoded before it; or, for
images with 2-4 channels, the planar passes channel after channel, each sample also
predicted from the earlier channels at its pixel (layout 2). The encoder codes every
layout that fits and keeps the smallest. A pass's prediction is
a weighted sum of its neighbours' ``u`` (integer weights / 256, fitted per pass by
least absolute error, or their plain mean when that codes smaller: the residual of a
lossy base is spatially smooth, a cube's bands correlated), and its contexts take
the mean ``|u|`` of those decoded neighbours instead of the activity bin; per pass
and context a shift (median) and a Laplace scale (a ``ScaleTable`` index).
Value bins for integers are exact below 8 above the minimum (a dark background's
faint noise gets contexts of its own), then two per octave.
Background bits: when at least half of an integer array lies within N of its minimum
(the zero background of a masked MR or CT scan), each pass first sends one bit per
sample, "within N of the minimum", in contexts of how many decoded neighbours are
background and the reconstruction's value bin (probabilities sent as integers per
context); those samples decode to the minimum and only the others carry a residual.
On the held-out MR angiogram this took lossless from 0.130 to 0.078 bits/sample.
Stream: ``u8 layout (| 4 with background bits), u32 count of exact samples, their
u64 indexes and raw values, u32 size of the zlib-compressed context header ([i64
background value], CONTEXTS biases (i32), then per pass [FLAG_CONTEXTS bit
probabilities (u16)], CONTEXTS scale indexes (u8), shifts (i32) and one i16 weight per
neighbour), the entropy stream``.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from functools import lru_cache

import numpy as np

from ..entropy import Decoder, Encoder
from ..errors import BadInputError, CorruptStreamError

BINS = 8  # activity bins
VALUE_BINS = 32  # value bins: exact below 8, then two per octave (integers)
CONTEXTS = BINS * VALUE_BINS
LAYOUTS = (0, 1, 2)  # the lattice: 0 over the first two axes, 1 over all three, 2 per colour
BACKGROUND = 4  # layout flag: a background bit per sample comes before its residual
FLAG_NEIGHBOURS = 8
FLAG_CONTEXTS = (FLAG_NEIGHBOURS + 1) * VALUE_BINS
DECODE_MEMORY = 88.0
"""Peak bytes per sample of a near-lossless decode (float64 activity and values, int64
residuals, a padded copy for the weighted predictions, predictions and contexts;
tracemalloc measured 66.2 on a 256x256 RGB WebP base, 76.6 on a 64x64x32 uint16 cube
and 74.4 on a 128x128x64 masked volume with background bits), for ``lvc.decode``'s size check before anything is allocated."""


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


def encode_residual(x: np.ndarray, x_hat: np.ndarray, max_error, quick: bool = False) -> bytes:
    """The residual stream taking ``x_hat`` to within ``max_error`` of ``x``: a layout
    byte, then the stream of that layout. Every layout that fits the array is coded and
    the smallest kept: volumes and cubes try the 3-D lattice (it helps a cube's
    correlated bands; an MR volume with thick slices codes smaller planar), colour
    images the channel-after-channel passes. ``quick``: only the layout that usually
    wins (per colour for images, else planar), for searches."""
    layouts = [layout for layout in LAYOUTS if _fits(layout, x.shape)]
    if quick:
        layouts = [2 if 2 in layouts else 0]
    n = check_max_error(max_error, x.dtype)
    background = x.dtype.kind in "iu" and x.size > 0 and \
        np.count_nonzero(np.abs(x.astype(np.int64) - int(x.min())) <= n) >= x.size / 2
    return min((bytes([layout | BACKGROUND * background])
                + _encode_layout(x, x_hat, n, layout, background) for layout in layouts),
               key=len)


def _fits(layout: int, shape: tuple) -> bool:
    """Layout 1 is for volumes and cubes (3 axes, the last longer than 4), layout 2 for
    images with 2-4 channels; layout 0 for everything."""
    if layout == 1:
        return len(shape) == 3 and shape[2] > 4
    if layout == 2:
        return len(shape) == 3 and 2 <= shape[2] <= 4
    return layout == 0


def _background_q(x_hat: np.ndarray, low: int, n: int) -> np.ndarray:
    """The quantised residual that takes ``x_hat`` to the background value ``low``:
    what a flagged sample's neighbours see (both sides compute it)."""
    r = low - x_hat.astype(np.int64)
    return np.sign(r) * ((np.abs(r) + n) // (2 * n + 1))


def _flag_contexts(ctx: np.ndarray, flagged: np.ndarray, offsets: tuple) -> np.ndarray:
    """A pass's background-bit contexts: how many of its decoded neighbours are
    background (0..8), times the reconstruction's value bin."""
    count = _neighbour_sum(flagged.astype(np.int64), offsets) if offsets else 0
    return np.minimum(count, FLAG_NEIGHBOURS) * VALUE_BINS + ctx % VALUE_BINS


def _flag_odds(bits: np.ndarray, fctx: np.ndarray) -> np.ndarray:
    """Per context the probability of a background bit in 1/65536 (1..65534; 0 where
    the context does not occur), so the decoder builds its tables from integers."""
    total = np.bincount(fctx, minlength=FLAG_CONTEXTS)
    ones = np.bincount(fctx, weights=bits, minlength=FLAG_CONTEXTS).astype(np.int64)
    odds = ((2 * ones + 1) << 16) // np.maximum(2 * total + 2, 1)
    return np.where(total > 0, np.clip(odds, 1, (1 << 16) - 2), 0)


def _flag_tables(odds: np.ndarray):
    """Binary tables (no, yes, escape) from ``_flag_odds``."""
    from ..entropy import PRECISION, FrequencyTables

    one = 1 << PRECISION
    pmfs = tuple(np.array([one - int(p or one // 2) - 1, int(p or one // 2), 1], np.int64)
                 for p in odds.tolist())
    return FrequencyTables(pmfs, np.zeros(len(pmfs), np.int64), PRECISION)


def _encode_layout(x: np.ndarray, x_hat: np.ndarray, max_error, layout: int,
                   background: bool = False) -> bytes:
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
    flagged, header = np.zeros(x.shape, bool), b""
    if background:  # samples within N of the minimum decode to it, sent as one bit each
        low = int(x.min())
        flagged = np.abs(x.astype(np.int64) - low) <= n
        q = np.where(flagged, _background_q(x_hat, low, n), q)
        header = struct.pack("<q", low)
    bias = _fit(q[~flagged].astype(np.int64), ctx[~flagged])[0] if predict else \
        np.zeros(CONTEXTS, np.int64)
    u = q.astype(np.int64) - bias[ctx]  # what the reconstruction cannot explain
    enc, header = Encoder(), header + bias.astype("<i4").tobytes()
    for mask, offsets in _passes(x.shape, layout):
        if background:
            fctx = _flag_contexts(ctx, flagged, offsets)[mask]
            bits = flagged[mask].astype(np.int32)
            odds = _flag_odds(bits, fctx)
            enc.indexed(bits, fctx, _flag_tables(odds))
            header += odds.astype("<u2").tobytes()
            mask = mask & ~flagged
        weights = _fit_weights(u, mask, offsets) if offsets and predict else \
            np.zeros(len(offsets), np.int64)
        pred = _weighted(u, offsets, weights)[mask] if offsets and predict else 0
        c = _pass_contexts(ctx, u, offsets if predict else ())[mask]
        values = u[mask] - pred
        shift, scale_idx = _fit(values, c)
        if np.abs(values - shift[c]).max(initial=0) >= 2**31:
            raise BadInputError("near-lossless: residual too large for the coder")
        enc.residuals((values - shift[c]).astype(np.int32), scale_idx[c], _table())
        header += (scale_idx.astype(np.uint8).tobytes() + shift.astype("<i4").tobytes()
                   + weights.astype("<i2").tobytes())
    exact = x.ravel()[exact_idx.astype(np.int64)]
    header = zlib.compress(header, 9)  # contexts that do not occur are zeros
    return (struct.pack("<I", exact_idx.size) + exact_idx.astype("<u8").tobytes()
            + np.ascontiguousarray(exact).tobytes() + struct.pack("<I", len(header)) + header
            + enc.finish())


def _passes(shape: tuple, layout: int = 0) -> list:
    """``(mask, neighbour offsets)`` of each pass, over the first two axes (the only axis
    of a clip), the same for every channel, band or slice: the even lattice first (no
    prediction), then its centres from their 4 diagonal neighbours, then the rest from
    their 4 edge neighbours (a 1-D clip: even samples, then odd ones from both sides)."""
    if len(shape) == 1:
        even = np.arange(shape[0]) % 2 == 0
        return [(even, ()), (~even, ((-1,), (1,)))]
    if layout == 1:
        return _passes_3d(shape)
    if layout == 2:
        return _passes_colour(shape)
    i, j = np.arange(shape[0])[:, None] % 2, np.arange(shape[1])[None, :] % 2
    lift = lambda m: np.broadcast_to(m.reshape(m.shape + (1,) * (len(shape) - 2)), shape)  # noqa: E731
    return [(lift((i == 0) & (j == 0)), ()),
            (lift((i == 1) & (j == 1)), ((-1, -1), (-1, 1), (1, -1), (1, 1))),
            (lift((i + j) % 2 == 1), ((-1, 0), (1, 0), (0, -1), (0, 1)))]


def _passes_colour(shape: tuple) -> list:
    """Layout 2: the planar passes channel after channel, each sample also predicted
    from the channels before it at the same pixel (a lossy base's errors are shared
    across colours)."""
    channel = np.arange(shape[2])[None, None, :]
    out = []
    for c in range(shape[2]):
        earlier = tuple((0, 0, -k) for k in range(1, c + 1))
        for mask, offsets in _passes(shape[:2] + (1,)):
            planar = tuple(o + (0,) for o in offsets)
            out.append((np.broadcast_to(mask[:, :, :1], shape) & (channel == c),
                        planar + earlier))
    return out


def _passes_3d(shape: tuple) -> list:
    """The 3-D lattice: even points first, then by parity with fewer odd axes each time
    (3, 2, 1), every point predicted from 6 or 8 neighbours decoded before it: ±1
    jointly along its odd axes (even points), and ±1 along one even axis (points with
    one more odd axis)."""
    parity = [np.arange(n).reshape([-1 if a == b else 1 for b in range(3)]) % 2
              for a, n in enumerate(shape)]
    out = []
    for ones in (0, 3, 2, 1):
        for p in itertools.product((0, 1), repeat=3):
            if sum(p) != ones:
                continue
            mask = np.broadcast_to((parity[0] == p[0]) & (parity[1] == p[1])
                                   & (parity[2] == p[2]), shape)
            offsets = ()
            if ones:
                odd = [a for a in range(3) if p[a]]
                offsets = tuple(tuple(signs[odd.index(a)] if a in odd else 0 for a in range(3))
                                for signs in itertools.product((-1, 1), repeat=ones))
                offsets += tuple(tuple(s if b == a else 0 for b in range(3))
                                 for a in range(3) if not p[a] for s in (-1, 1))
            out.append((mask, offsets))
    return out


def _pass_contexts(ctx: np.ndarray, u: np.ndarray, offsets: tuple) -> np.ndarray:
    """A pass's contexts: with decoded neighbours, their mean |u| (0, 1, 2, 3-4, 5-8,
    ..., >= 33) replaces the reconstruction's activity bin; the value bin stays."""
    if not offsets:
        return ctx
    level = _prediction(np.abs(u), offsets)
    bins = np.minimum(np.ceil(np.log2(np.maximum(level, 1))) + (level > 0), BINS - 1)
    return (bins.astype(np.int64) * VALUE_BINS + ctx % VALUE_BINS).astype(np.uint8)


def _prediction(q: np.ndarray, offsets: tuple) -> np.ndarray:
    """The rounded mean of ``q`` at the neighbour ``offsets``, for every sample
    (integers, so both sides agree)."""
    k = len(offsets)
    return (2 * _neighbour_sum(q, offsets) + k) // (2 * k)


WEIGHT_BITS = 8  # prediction weights are integers / 2**WEIGHT_BITS, sent per pass


class _Neighbours:
    """``q`` padded once so that every sample can see its neighbour at each offset:
    outside the array the mirror image (index -1 reads 1), which has the missing
    neighbour's parity, so it is decoded already on both sides. (Layout 2's offsets to
    earlier channels never leave the array.)"""

    def __init__(self, q: np.ndarray, offsets: tuple):
        self.shape = q.shape
        self.pads = [max(abs(o[a]) for o in offsets) for a in range(len(offsets[0]))]
        pad = [(n, n) for n in self.pads] + [(0, 0)] * (q.ndim - len(self.pads))
        self.padded = np.pad(q, pad, mode="reflect" if min(q.shape[:len(self.pads)]) > 1
                             else "edge")

    def at(self, offset: tuple) -> np.ndarray:
        return self.padded[tuple(slice(p + o, p + o + n)
                                 for p, o, n in zip(self.pads, offset, self.shape))]


def _neighbour_sum(q: np.ndarray, offsets: tuple, weights=None) -> np.ndarray:
    """``sum_k weights[k] * q[sample + offsets[k]]`` (all 1 by default) as int64: the
    one neighbour gathering behind predictions, contexts and background counts."""
    near, total = _Neighbours(q, offsets), np.zeros(q.shape, np.int64)
    for offset, w in zip(offsets, weights if weights is not None else [1] * len(offsets)):
        if w:
            total += int(w) * near.at(offset)
    return total


def _weighted(q: np.ndarray, offsets: tuple, weights: np.ndarray) -> np.ndarray:
    return (_neighbour_sum(q, offsets, weights) + (1 << (WEIGHT_BITS - 1))) >> WEIGHT_BITS


def _fit_weights(u: np.ndarray, mask: np.ndarray, offsets: tuple) -> np.ndarray:
    """Weights predicting ``u`` on ``mask`` from its neighbours, as integers /
    2**WEIGHT_BITS: a least-absolute-error fit (the coder's Laplace model is an L1
    cost; squared error lets a few large residuals set the weights), kept only when it
    beats the plain mean of the neighbours."""
    near = _Neighbours(u, offsets)
    a = np.stack([near.at(o)[mask] for o in offsets], axis=1) \
        .astype(np.float64)
    b = u[mask].astype(np.float64)
    one = 1 << WEIGHT_BITS
    candidates = [np.full(len(offsets), one / len(offsets))]
    w = candidates[0] / one
    for _ in range(6):  # iteratively reweighted least squares towards the L1 fit
        r = np.abs(b - a @ w)
        sw = 1.0 / np.sqrt(np.maximum(r, 0.5))
        try:
            w = np.linalg.lstsq(a * sw[:, None], b * sw, rcond=None)[0]
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(w)):
            break
        candidates.append(w * one)

    def cost(weights):
        pred = np.floor((a @ np.rint(weights)) / one + 0.5)
        return np.abs(b - pred).sum()

    best = min(candidates, key=cost)
    return np.clip(np.rint(best), -32767, 32767).astype(np.int64)


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
    layout = data[0] if data else -1
    background = layout >= 0 and bool(layout & BACKGROUND)
    layout = layout & ~BACKGROUND if layout >= 0 else layout
    if layout not in LAYOUTS or not _fits(layout, x_hat.shape) or \
            (background and x_hat.dtype.kind not in "iu"):
        raise CorruptStreamError("near-lossless stream is corrupt (unknown layout)")
    data = data[1:]
    try:
        (count,) = struct.unpack_from("<I", data)
        pos = 4 + 8 * count
        exact_idx = np.frombuffer(data, "<u8", count, 4).astype(np.int64)
        exact = np.frombuffer(data, x_hat.dtype, count, pos)
        pos += count * x_hat.dtype.itemsize
        (size,) = struct.unpack_from("<I", data, pos)
        packed = zlib.decompressobj()
        passes = _passes(x_hat.shape, layout)
        flag_bytes = 2 * FLAG_CONTEXTS * background
        sizes = [flag_bytes + 5 * CONTEXTS + 2 * len(offsets) for _, offsets in passes]
        start = 8 * background
        expected = start + 4 * CONTEXTS + sum(sizes)
        header = packed.decompress(data[pos + 4:pos + 4 + size], expected)
        if len(header) != expected or packed.unconsumed_tail:
            raise ValueError("bad context header")
        pos += 4 + size
        low = struct.unpack_from("<q", header)[0] if background else 0
        bias = np.frombuffer(header, "<i4", CONTEXTS, start).astype(np.int64)
        params, at = [], start + 4 * CONTEXTS
        for (_, offsets), length in zip(passes, sizes):
            odds = np.frombuffer(header, "<u2", FLAG_CONTEXTS, at).astype(np.int64) \
                if background else None
            at += flag_bytes
            scale_idx = np.frombuffer(header, np.uint8, CONTEXTS, at)
            shift = np.frombuffer(header, "<i4", CONTEXTS, at + CONTEXTS).astype(np.int64)
            weights = np.frombuffer(header, "<i2", len(offsets),
                                    at + 5 * CONTEXTS).astype(np.int64)
            params.append((odds, scale_idx, shift, weights))
            at += length - flag_bytes
    except (struct.error, ValueError, zlib.error):
        raise CorruptStreamError("near-lossless stream is truncated") from None
    if count > x_hat.size or (count and exact_idx.max() >= x_hat.size) or \
            max(p[1].max() for p in params) >= len(_table()) or \
            (background and max(p[0].max() for p in params) > (1 << 16) - 2):
        raise CorruptStreamError("near-lossless stream is corrupt")
    ctx = _contexts(x_hat)
    predict = not (x_hat.dtype.kind == "f" and n == 0)
    dec = Decoder(data[pos:])
    u = np.zeros(x_hat.shape, np.int64)
    flagged = np.zeros(x_hat.shape, bool)
    if background:
        info = np.iinfo(x_hat.dtype)
        if not info.min <= low <= info.max:
            raise CorruptStreamError("near-lossless stream is corrupt (background value)")
        u_low = _background_q(x_hat, low, n) - bias[ctx]
    for (mask, offsets), (odds, scale_idx, shift, weights) in zip(passes, params):
        if background:
            bits = dec.indexed(_flag_contexts(ctx, flagged, offsets)[mask], _flag_tables(odds))
            if bits.size and (bits.min() < 0 or bits.max() > 1):
                raise CorruptStreamError("near-lossless stream is corrupt (background bits)")
            flagged[mask] = bits.astype(bool)
            u[mask & flagged] = u_low[mask & flagged]
            mask = mask & ~flagged
        pred = _weighted(u, offsets, weights)[mask] if offsets and predict else 0
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
    if background:
        out[flagged] = low
    out.ravel()[exact_idx] = exact  # out is contiguous: ravel() is a view
    return out
