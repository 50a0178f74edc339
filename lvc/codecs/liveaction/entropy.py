"""Integer context model for LiVeAction's quantised latents (no float network at decode).

The paper stores its int8 latents as a tiled lossless image. Here they are coded with
the shared entropy layer (``lvc.entropy``) under a model that uses integers only at
decode time, so encoder and decoder agree bit for bit on any machine. Numpy only.

Decode order: channel by channel, each channel in two checkerboard passes, anchors
(i + j even) then non-anchors. Notation: ``N4(X)`` is the mean of the up to four edge
neighbours of each position, as the integer ``12 * sum // count`` (zero padding outside
the latent, renormalised by the number of neighbours inside; 0 for none, e.g. 1x1).

1. **Integer linear prediction** (a learned-but-integer mean). Symbol ``q[c, i, j]`` is
   predicted from data already decoded:
   ``pred = (w0 + w1 * N4(q[c] on anchors) + sum_{j<c} (a_j q[j] + b_j N4(q[j])) + 2**9) >> 10``
   (``w1`` only for non-anchors, whose four edge neighbours are all anchors). The
   integer weights per (channel, pass) are ridge least squares on training latents,
   rounded to multiples of 2**-10. The coded symbol is the residual
   ``r = q - pred`` (wrapped to int32, so every int32 latent round-trips).
2. **Integer scale context.** ``act = v . (1, |r[c-b]|, N4(|r[c-b]|) for b = 1, 2, 3,
   N4(|r[c]| on anchors))`` (the last term for non-anchors; missing channels are 0),
   with integer weights ``v`` per (channel, pass) fitted to predict ``|r|`` on training
   latents; ``act`` is cut into ``ANCHOR_BINS`` / ``NONANCHOR_BINS`` bins by integer
   thresholds per (channel, pass) fitted as equal-population quantiles (ties kept
   together; channel 0's anchors therefore have one context).
3. **Tables:** one histogram per (channel, pass, bin) over the channel's training
   residual range, smoothed over value buckets (exact below 8 in magnitude, then four
   per octave) and towards the (channel, pass) pooled histogram, plus ``pseudocount``;
   anything outside is escape-coded by ``lvc.entropy`` (never clipped).

Feature values are clipped to +-2**15 (|r| to 2**15) so that no integer sum can
overflow; real latents are within +-127/delta. The prediction's matrix products run
on float64 BLAS for speed but are exact integer arithmetic (every partial sum is an
integer below 2**53 for up to ``MAX_CHANNELS`` channels), so their result does not
depend on the BLAS, FMA or thread count. One ``Encoder.indexed`` call per
(channel, pass); all per-pixel work is vectorised numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...entropy import Decoder, Encoder, FrequencyTables
from ...errors import BadInputError

FORMAT_VERSION = 2
ANCHOR_BINS = 8
NONANCHOR_BINS = 10
BINS = ANCHOR_BINS + NONANCHOR_BINS
"""Tables per channel: anchor bins first, then non-anchor bins."""
SHIFT = 10
"""Prediction weights are integers in units of 2**-SHIFT."""
RIDGE = 10.0
SCALE_BACK = 3
"""Previous channels whose residual magnitudes enter the scale context."""
POOL_WEIGHT = 16.0
"""Pseudo-observations of the (channel, pass) pooled histogram added to each table."""
EXACT_LOG = 3
MANTISSA_BITS = 2

_NORM = 12  # lcm(1, 2, 3, 4): neighbour sums renormalised to four neighbours, times 3
_LIMIT = 1 << 15  # feature clip: sums of products stay far inside int64
_MAX_WEIGHT = 1 << 24
_NO_THRESHOLD = np.iinfo(np.int64).max
_N_SCALE = 2 + 2 * SCALE_BACK  # bias, 2 per previous channel, own anchors
MAX_CHANNELS = 256
"""Keeps the prediction sums below 2**53 (see ``_predict``)."""


# ---------------------------------------------------------------- integer helpers
def _anchor_mask(h: int, w: int) -> np.ndarray:
    return (np.add.outer(np.arange(h), np.arange(w)) % 2) == 0


def _neighbour_sum(a: np.ndarray) -> np.ndarray:
    """Sum of the 4 edge neighbours over the last two axes, zero padded."""
    out = np.zeros_like(a)
    out[..., 1:, :] += a[..., :-1, :]
    out[..., :-1, :] += a[..., 1:, :]
    out[..., :, 1:] += a[..., :, :-1]
    out[..., :, :-1] += a[..., :, 1:]
    return out


def _n4(a: np.ndarray) -> np.ndarray:
    """``12 * (sum of the in-image edge neighbours) // their number`` (0 without any)."""
    count = _neighbour_sum(np.ones(a.shape[-2:], np.int64))
    return _NORM * _neighbour_sum(a) // np.maximum(count, 1)


def _clip(q: np.ndarray) -> np.ndarray:
    return np.clip(q.astype(np.int64), -_LIMIT, _LIMIT)


def _wrap32(x: np.ndarray) -> np.ndarray:
    """Two's complement wrap of int64 values into int32."""
    return (((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)).astype(np.int32)


def _bin(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per-channel bins of ``values`` (n, m): how many of the channel's ascending
    ``thresholds`` (n, B - 1) lie below the value."""
    out = np.zeros(values.shape, np.int64)
    for t in range(thresholds.shape[1]):
        out += values > thresholds[:, t, None]
    return out


@dataclass
class _Features:
    """Integer features of a latent block (k, h, w), flattened per pass to (k, n_p)."""

    q: list  # per pass: clipped q, as (exactly representable) float64 for _predict
    full: list  # per pass: N4(q) over all neighbours, float64
    own: np.ndarray  # non-anchor positions: N4(q on anchors) of the same channel, int64

    @classmethod
    def of(cls, q: np.ndarray, masks) -> "_Features":
        qc = _clip(q)
        full = _n4(qc)
        own = _n4(qc * masks[0])
        return cls([_f64(qc[:, m]) for m in masks], [_f64(full[:, m]) for m in masks],
                   own[:, masks[1]])


def _masks(h: int, w: int):
    anchors = _anchor_mask(h, w)
    return anchors, ~anchors


def _predict(w: np.ndarray, q: np.ndarray, full: np.ndarray, own: np.ndarray | None
             ) -> np.ndarray:
    """Integer predictions (n, m) from weights ``w`` (n, 2 + 2C) of n channels, the
    clipped values ``q`` and ``full`` = N4(q) (k, m; float64 holding integers) of channels
    0 .. k - 1 (a channel's weights for itself and later channels are zero) and ``own``
    (n, m), for non-anchors."""
    k = q.shape[0]
    # Exact integer arithmetic carried out by float64 BLAS: every product is below
    # 2**24 * 12 * 2**15 < 2**43 and with at most 2 * MAX_CHANNELS terms every partial
    # sum is an integer below 2**53, so the result does not depend on the summation
    # order, FMA or threads.
    acc = np.rint(_f64(w[:, 2: 2 + 2 * k: 2]) @ q + _f64(w[:, 3: 3 + 2 * k: 2]) @ full)
    acc = acc.astype(np.int64) + w[:, :1]
    if own is not None:
        acc = acc + w[:, 1:2] * own
    return (acc + (1 << (SHIFT - 1))) >> SHIFT


def _f64(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64)


def _scale_columns(rabs: np.ndarray, rabs_n4: np.ndarray, own: np.ndarray | None,
                   c0: int, n: int, mask: np.ndarray):
    """The non-constant scale-context features of channels c0 .. c0 + n - 1 at ``mask``:
    ``(feature, first channel having it, values (n - first, positions))``.

    ``rabs`` / ``rabs_n4`` hold |r| (clipped) and its N4 for the channels before; ``own``
    is N4(|r| on anchors) of the channels themselves (non-anchors only)."""
    for b in range(1, SCALE_BACK + 1):
        lo = max(0, b - c0)  # the first channel that has a channel b back
        if lo < n:
            yield 2 * b - 1, lo, rabs[c0 + lo - b: c0 + n - b][:, mask]
            yield 2 * b, lo, rabs_n4[c0 + lo - b: c0 + n - b][:, mask]
    if own is not None:
        yield _N_SCALE - 1, 0, own


def _scale_features(*args) -> np.ndarray:
    """All scale features (n, positions, _N_SCALE), bias first (for fitting)."""
    n, mask = args[-2:]
    x = np.zeros((n, int(mask.sum()), _N_SCALE), np.int64)
    x[..., 0] = 1
    for f, lo, values in _scale_columns(*args):
        x[lo:, :, f] = values
    return x


def _activity(v: np.ndarray, *args) -> np.ndarray:
    """Scale activity ``v . features`` (n, positions) for weights ``v`` (n, _N_SCALE)."""
    n, mask = args[-2:]
    act = np.repeat(v[:, :1], int(mask.sum()), 1)
    for f, lo, values in _scale_columns(*args):
        act[lo:] += v[lo:, f, None] * values
    return act


# ---------------------------------------------------------------- the tables
@dataclass(frozen=True, eq=False)
class LatentTables:
    """Context-model tables for integer latents of one quantisation step.

    ``weights`` (C, 2, 2 + 2C) integer prediction weights per (channel, pass):
    ``[bias, own, a_0, b_0, a_1, b_1, ...]``; ``scale_weights`` (C, 2, 8) the scale
    context weights; ``thresholds`` (C, 2, max bins - 1) the bin edges (unused slots
    hold int64 max); ``tables``: ``C * BINS`` frequency tables, table
    ``c * BINS + bin`` (anchor bins, then ``ANCHOR_BINS + bin`` for non-anchors).
    """

    weights: np.ndarray
    scale_weights: np.ndarray
    thresholds: np.ndarray
    tables: FrequencyTables

    def __post_init__(self):
        c = self.weights.shape[0] if self.weights.ndim == 3 else -1
        expected = {"weights": (self.weights, (c, 2, 2 + 2 * c)),
                    "scale_weights": (self.scale_weights, (c, 2, _N_SCALE)),
                    "thresholds": (self.thresholds, (c, 2, max(ANCHOR_BINS, NONANCHOR_BINS) - 1))}
        for name, (a, shape) in expected.items():
            if c < 1 or a.shape != shape or a.dtype != np.int64:
                raise BadInputError(f"latent tables: {name} must be int64 of shape {shape}")
        if max(np.abs(self.weights).max(), np.abs(self.scale_weights).max()) > _MAX_WEIGHT:
            raise BadInputError("latent tables: weights out of range")
        if c > MAX_CHANNELS:
            raise BadInputError(f"latent tables: at most {MAX_CHANNELS} channels, got {c}")
        if len(self.tables) != c * BINS:
            raise BadInputError(f"latent tables: expected {c * BINS} tables, "
                                f"got {len(self.tables)}")

    @property
    def channels(self) -> int:
        return self.weights.shape[0]

    # --- fitting -------------------------------------------------------------
    @classmethod
    def fit(cls, latents, channels: int, pseudocount: float = 0.05) -> "LatentTables":
        """Fit predictors, contexts and tables on training latents: an iterable of
        integer arrays ``(C >= channels, h, w)``, one per image, all of one step."""
        if not 1 <= channels <= MAX_CHANNELS:
            raise BadInputError(f"channels must be in 1..{MAX_CHANNELS}, got {channels}")
        blocks = [_check_latent(q, channels, "training latent")[:channels] for q in latents]
        if not blocks:
            raise BadInputError("no training latents to fit the tables on")
        masks = [_masks(*q.shape[1:]) for q in blocks]
        feats = [_Features.of(q, m) for q, m in zip(blocks, masks)]
        weights = np.stack([_fit_predictor(feats, p, channels) for p in (0, 1)], 1)
        resid = [_residuals(q, m, f, weights) for q, m, f in zip(blocks, masks, feats)]
        scale_args = [_scale_args(r, m) for r, m in zip(resid, masks)]
        scale_w = np.zeros((channels, 2, _N_SCALE), np.int64)
        for p in (0, 1):
            x = np.concatenate([_scale_features(*a[p]) for a in scale_args], 1)
            y = np.concatenate([np.abs(r[:, m[p]]) for r, m in zip(resid, masks)], 1)
            for c in range(channels):
                scale_w[c, p] = _ridge(x[c], y[c], RIDGE)
        thresholds = np.full((channels, 2, max(ANCHOR_BINS, NONANCHOR_BINS) - 1), _NO_THRESHOLD)
        acts = [[_activity(scale_w[:, p], *a[p]) for p in (0, 1)] for a in scale_args]
        for p, bins in ((0, ANCHOR_BINS), (1, NONANCHOR_BINS)):
            thresholds[:, p, : bins - 1] = _fit_thresholds(
                [np.concatenate([a[p][c] for a in acts]) for c in range(channels)], bins)
        values = [[], []]
        indexes = [[], []]
        for r, m, a in zip(resid, masks, acts):
            for p in (0, 1):
                values[p].append(r[:, m[p]])
                indexes[p].append(_table_index(a[p], thresholds, p, 0))
        tables = _fit_tables([np.concatenate(v, 1) for v in values],
                             [np.concatenate(i, 1) for i in indexes], pseudocount)
        return cls(weights, scale_w, thresholds, tables)

    # --- freezing --------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat dict of integer arrays (safetensors/npz friendly, no pickle)."""
        t = self.tables.to_arrays()
        return {
            "layout": np.array([FORMAT_VERSION, ANCHOR_BINS, NONANCHOR_BINS, SHIFT, SCALE_BACK],
                               np.int64),
            "weights": self.weights.astype(np.int32),  # |w| <= 2**24
            "scale_weights": self.scale_weights.astype(np.int32),
            "thresholds": self.thresholds.copy(),
            "table_lengths": t["lengths"].astype(np.int32),
            "table_offsets": t["offsets"].astype(np.int32),
            "table_freqs": t["flat"].astype(np.int32),  # entries < 2**16
            "table_precision": t["precision"].astype(np.int32),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "LatentTables":
        try:
            layout = [int(v) for v in np.asarray(arrays["layout"]).ravel()]
            if layout != [FORMAT_VERSION, ANCHOR_BINS, NONANCHOR_BINS, SHIFT, SCALE_BACK]:
                raise BadInputError(f"latent tables of an unknown layout {layout}")
            tables = FrequencyTables.from_arrays({
                "lengths": np.asarray(arrays["table_lengths"], np.int64),
                "flat": np.asarray(arrays["table_freqs"], np.int64),
                "offsets": np.asarray(arrays["table_offsets"], np.int64),
                "precision": np.asarray(arrays["table_precision"], np.int64)})
            return cls(*(np.asarray(arrays[n], np.int64)
                         for n in ("weights", "scale_weights", "thresholds")), tables)
        except KeyError as e:
            raise BadInputError(f"latent tables lack the array {e}") from None


# ---------------------------------------------------------------- fitting helpers
def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normal equations: a direct solve (a is a ridged Gram matrix, so normally
    non-singular; ~50x faster than SVD least squares at 385 unknowns), least squares
    only when it is singular."""
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(a, b, rcond=None)[0]


def _ridge(x: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    """Integer weights (units of 2**-SHIFT) of a ridge fit; the bias is not penalised."""
    x = x.astype(np.float64)
    a = x.T @ x + ridge * np.eye(x.shape[1])
    a[0, 0] -= ridge
    w = _solve(a, x.T @ y.astype(np.float64))
    return np.clip(np.rint(w * (1 << SHIFT)), -_MAX_WEIGHT, _MAX_WEIGHT).astype(np.int64)


def _fit_predictor(feats: list, p: int, channels: int) -> np.ndarray:
    """Prediction weights (C, 2 + 2C) of pass ``p`` for every channel: one shared Gram
    matrix of ``[1, q_0, N4(q_0), q_1, ...]``, each channel using its prefix."""
    z = np.concatenate([np.concatenate([np.ones((1, f.q[p].shape[1]), np.int64),
                                        np.stack([f.q[p], f.full[p]], 1).reshape(2 * channels, -1)])
                        for f in feats], 1).astype(np.float64)  # (1 + 2C, n)
    y = np.concatenate([f.q[p] for f in feats], 1).astype(np.float64)  # (C, n)
    gram, zy = z @ z.T, z @ y.T
    if p == 1:
        own = np.concatenate([f.own for f in feats], 1).astype(np.float64)
        own_z, own_own, own_y = own @ z.T, (own * own).sum(1), (own * y).sum(1)
    out = np.zeros((channels, 2 + 2 * channels), np.int64)
    for c in range(channels):
        cols = 1 + 2 * c
        a = gram[:cols, :cols].copy()
        rhs = zy[:cols, c].copy()
        if p == 1:
            a = np.block([[a, own_z[c, :cols, None]], [own_z[c, None, :cols], own_own[c]]])
            rhs = np.append(rhs, own_y[c])
        a += RIDGE * np.eye(a.shape[0])
        a[0, 0] -= RIDGE
        w = _solve(a, rhs)
        w = np.clip(np.rint(w * (1 << SHIFT)), -_MAX_WEIGHT, _MAX_WEIGHT).astype(np.int64)
        out[c, 0] = w[0]
        out[c, 2: 2 + 2 * c] = w[1: cols]
        if p == 1:
            out[c, 1] = w[cols]
    return out


def _residuals(q: np.ndarray, masks, f: _Features, weights: np.ndarray) -> np.ndarray:
    """Residuals of a whole block (encoder side: every channel known)."""
    k = q.shape[0]
    r = np.zeros(q.shape, np.int32)
    for p in (0, 1):
        pred = _predict(weights[:k, p], f.q[p], f.full[p], f.own if p else None)
        r[:, masks[p]] = _wrap32(q[:, masks[p]].astype(np.int64) - pred)
    return r


def _rabs(r: np.ndarray) -> np.ndarray:
    return np.minimum(np.abs(r.astype(np.int64)), _LIMIT)


def _scale_args(r: np.ndarray, masks) -> list:
    """Per pass, the ``_scale_columns`` arguments of every channel (encoder side)."""
    k = r.shape[0]
    rabs = _rabs(r)
    rabs_n4 = _n4(rabs)
    own = _n4(rabs * masks[0])[:, masks[1]]
    return [(rabs, rabs_n4, None, 0, k, masks[0]), (rabs, rabs_n4, own, 0, k, masks[1])]


def _fit_thresholds(per_channel: list, bins: int) -> np.ndarray:
    """Greedy equal-population integer thresholds per channel; a tie (e.g. all the
    zeros) stays in one bin and the remaining bins share what is left."""
    out = np.full((len(per_channel), bins - 1), _NO_THRESHOLD, np.int64)
    for c, v in enumerate(per_channel):
        values, counts = np.unique(v, return_counts=True)
        left, start = int(counts.sum()), 0
        for t in range(bins - 1):
            if start >= values.size - 1:
                break
            cum = np.cumsum(counts[start:])
            j = start + int(np.searchsorted(cum, left / (bins - t)))  # first value reaching it
            j = min(j, values.size - 2)  # leave something above the threshold
            out[c, t] = values[j]
            left -= int(cum[j - start])
            start = j + 1
    return out


def _table_index(act: np.ndarray, thresholds: np.ndarray, p: int, c0: int) -> np.ndarray:
    n = act.shape[0]
    base = np.arange(c0, c0 + n)[:, None] * BINS + (ANCHOR_BINS if p else 0)
    return base + _bin(act, thresholds[c0: c0 + n, p])


def _buckets(values: np.ndarray) -> np.ndarray:
    """Smoothing bucket of each value: exact below 2**EXACT_LOG in magnitude, then
    2**MANTISSA_BITS buckets per octave (sparse tails are mostly noise)."""
    a = np.abs(values)
    e = np.floor(np.log2(np.maximum(a, 1))).astype(np.int64)
    shift = np.maximum(e - MANTISSA_BITS, 0)
    b = np.where(a < (1 << EXACT_LOG), a, (1 << EXACT_LOG) + ((e - EXACT_LOG) << MANTISSA_BITS)
                 + ((a >> shift) & ((1 << MANTISSA_BITS) - 1)))
    return np.sign(values) * b


def _smooth(hist: np.ndarray, buckets: np.ndarray) -> np.ndarray:
    """Spread every bucket's count evenly over its values (rows of ``hist``)."""
    _, inverse, sizes = np.unique(buckets, return_inverse=True, return_counts=True)
    sums = np.zeros((hist.shape[0], sizes.size))
    np.add.at(sums.T, inverse, hist.T)
    return sums[:, inverse] / sizes[inverse]


def _fit_tables(values: list, indexes: list, pseudocount: float) -> FrequencyTables:
    """Histogram per (channel, pass, bin) over the channel's residual range, smoothed
    over value buckets and towards the (channel, pass) pooled histogram."""
    channels = values[0].shape[0]
    counts, offsets = [], []
    for c in range(channels):
        v = [values[p][c].astype(np.int64) for p in (0, 1)]
        both = np.concatenate(v)
        lo, hi = (int(both.min()), int(both.max())) if both.size else (0, 0)
        buckets = _buckets(np.arange(lo, hi + 1))
        for p, bins in ((0, ANCHOR_BINS), (1, NONANCHOR_BINS)):
            hist = np.zeros((bins, hi - lo + 1))
            np.add.at(hist, (indexes[p][c] - c * BINS - (ANCHOR_BINS if p else 0), v[p] - lo), 1.0)
            hist = _smooth(hist, buckets)
            pooled = hist.sum(0)
            counts.extend(hist + POOL_WEIGHT * pooled / max(pooled.sum(), 1.0))
            offsets.extend([lo] * bins)
    return FrequencyTables.from_histograms(counts, offsets, pseudocount=pseudocount)


# ---------------------------------------------------------------- coding
def _check_latent(q, channels: int, what: str = "latent") -> np.ndarray:
    q = np.asarray(q)
    if q.ndim != 3:
        raise BadInputError(f"{what} must have shape (k, h, w), got {q.shape}")
    if q.size and not np.issubdtype(q.dtype, np.integer):
        raise BadInputError(f"{what} must be integers, got {q.dtype}")
    if q.size and (q.min() < -(2**31) or q.max() > 2**31 - 1):
        raise BadInputError(f"{what} values must fit in int32")
    if q.shape[0] < channels:
        raise BadInputError(f"{what} has {q.shape[0]} channels, {channels} needed")
    return q.astype(np.int32, copy=False)


def _check_shape(shape, tables: LatentTables) -> tuple:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 0:
        raise BadInputError(f"latent shape must be (k, h, w), got {shape}")
    if shape[0] > tables.channels:
        raise BadInputError(f"{shape[0]} latent channels, but the tables cover {tables.channels}")
    return shape


def _symbols(q: np.ndarray, tables: LatentTables):
    """(masks, residuals, table indexes per pass) of a whole block (encoder side)."""
    masks = _masks(*q.shape[1:])
    f = _Features.of(q, masks)
    r = _residuals(q, masks, f, tables.weights)
    args = _scale_args(r, masks)
    k = q.shape[0]
    idx = [_table_index(_activity(tables.scale_weights[:k, p], *args[p]), tables.thresholds, p, 0)
           for p in (0, 1)]
    return masks, r, idx


def encode_latents(q: np.ndarray, tables: LatentTables) -> bytes:
    """Entropy-code integer latents ``q`` (k, h, w), ``k <= tables.channels``."""
    q = _check_latent(q, 0)
    _check_shape(q.shape, tables)
    masks, r, idx = _symbols(q, tables)
    enc = Encoder()
    for c in range(q.shape[0]):
        for p in (0, 1):
            enc.indexed(r[c][masks[p]], idx[p][c], tables.tables)
    return enc.finish()


def decode_latents(data: bytes, shape: tuple, tables: LatentTables) -> np.ndarray:
    """Inverse of ``encode_latents``: int32 latents of ``shape`` (k, h, w).

    Raises ``CorruptStreamError`` when the stream is damaged or was coded with other
    tables (the stream's symbol CRC does not match)."""
    k, h, w = _check_shape(shape, tables)
    masks = _masks(h, w)
    out = np.zeros((k, h, w), np.int32)
    qc = np.zeros((k, h, w), np.int64)  # clipped q, |r|, N4(|r|) of decoded channels
    rabs = np.zeros((k, h, w), np.int64)
    rabs_n4 = np.zeros((k, h, w), np.int64)
    q_at = [np.zeros((k, int(m.sum()))) for m in masks]  # clipped q per pass (float64)
    full_at = [np.zeros_like(a) for a in q_at]  # N4(q) per pass
    dec = Decoder(data)
    for c in range(k):
        r = np.zeros((h, w), np.int32)
        for p, m in enumerate(masks):
            own = own_r = None
            if p == 1:  # the channel's anchors are decoded
                own, own_r = (_n4(a[c] * masks[0])[m][None] for a in (qc, rabs))
            pred = _predict(tables.weights[c: c + 1, p], q_at[p][:c], full_at[p][:c], own)[0]
            act = _activity(tables.scale_weights[c: c + 1, p], rabs, rabs_n4, own_r, c, 1, m)
            idx = _table_index(act, tables.thresholds, p, c)[0]
            r[m] = dec.indexed(idx, tables.tables)
            out[c][m] = _wrap32(r[m].astype(np.int64) + pred)
            qc[c] = _clip(out[c])
            rabs[c] = _rabs(r)
        full = _n4(qc[c])
        for p, m in enumerate(masks):
            q_at[p][c], full_at[p][c] = qc[c][m], full[m]
        rabs_n4[c] = _n4(rabs[c])
    dec.finish()
    return out


def latent_bits(q: np.ndarray, tables: LatentTables) -> float:
    """Ideal information content of ``q`` in bits under ``tables`` (escapes included;
    the real stream adds a 4-byte CRC and up to about 64 bits of ANS flush)."""
    q = _check_latent(q, 0)
    _check_shape(q.shape, tables)
    masks, r, idx = _symbols(q, tables)
    return sum(tables.tables.information_bits(r[:, masks[p]], idx[p]) for p in (0, 1))


def synthetic_latents(count: int, channels: int, h: int, w: int, seed: int = 0) -> list:
    """Integer latents with the structure of real ones, for tests and benchmarks: a
    smooth random signal shared (with random gains) by all channels plus Laplace noise
    whose width follows a smooth activity field and falls with the channel number."""
    rng = np.random.default_rng(seed)
    gains = rng.normal(size=channels) * 4.0 * 0.97 ** np.arange(channels)
    width = 2.0 * 0.98 ** np.arange(channels)
    out = []
    for _ in range(count):
        signal, field = (_smooth_field(rng, h, w) for _ in range(2))
        scale = width[:, None, None] * np.exp(0.8 * field)
        q = gains[:, None, None] * signal + rng.laplace(size=(channels, h, w)) * scale
        out.append(np.clip(np.rint(q), -127, 127).astype(np.int32))
    return out


def _smooth_field(rng, h: int, w: int) -> np.ndarray:
    """About unit-variance Gaussian field correlated over a few positions."""
    field = rng.normal(size=(h + 4, w + 4))
    for _ in range(3):
        field = (field + np.roll(field, 1, 0) + np.roll(field, -1, 0)
                 + np.roll(field, 1, 1) + np.roll(field, -1, 1)) / 5
    return field[2: h + 2, 2: w + 2] / np.sqrt(0.0736)


__all__ = ["LatentTables", "encode_latents", "decode_latents", "latent_bits",
           "synthetic_latents"]
