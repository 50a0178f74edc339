"""Integer context model for LiVeAction's quantised latents (no float network at decode).

The paper stores its int8 latents as a tiled lossless image. Here they are coded with
the shared entropy layer (``lvc.entropy``) under a model that uses integers only at
decode time, so encoder and decoder agree bit for bit on any machine. Numpy only.

**Decode order:** channel by channel; within a channel, ``PASSES`` passes over a
quincunx pyramid (the interlacing of hierarchical lossless image coders), so that all
but the first sixteenth of the positions have decoded neighbours of their own channel
on all four sides. Pass 0 is the lattice of every 4th row and column; then each pass
``s = 4, 3, 2, 1`` fills ``R_s``: for even ``s`` the centres ``(d, d) mod 2d`` of the
decoded lattice of spacing ``2d`` (``d = 2**(s/2 - 1)``), whose diagonal neighbours
``(+-d, +-d)`` are decoded; for odd ``s`` the rest of the lattice of spacing ``d``
(``d = 2**((s-1)/2)``), whose edge neighbours ``(+-d, 0), (0, +-d)`` are decoded. The
last pass is the classic checkerboard's second half. Notation: ``N4(X)`` is the mean of
the up to four edge neighbours, ``O(X)`` of the up to four pass neighbours (the offsets
above), each as the integer ``12 * sum // count`` (neighbours outside the latent are
left out; 0 when there are none), and ``G(X)`` the pass neighbours' gradient
``|X[a] - X[-a]| + |X[b] - X[-b]|`` over the opposite pairs inside the latent.

1. **Integer linear prediction** (a learned-but-integer mean). Symbol ``q[c, i, j]`` is
   predicted from data already decoded:
   ``pred = (w0 + w1 * O(q[c]) + sum_{j<c} (a_j q[j] + b_j N4(q[j])) + 2**9) >> 10``
   (``w1 = 0`` in pass 0). The integer weights per (channel, pass) are ridge least
   squares on training latents, rounded to multiples of 2**-10. The coded symbol is
   the residual ``r = q - pred`` (wrapped to int32, so every int32 latent round-trips).
2. **Integer scale context.** ``act = v . (1, |r[c-b]|, N4(|r[c-b]|) for b = 1, 2, 3,
   O(|r[c]|), G(q[c]))`` (the last two from pass 1 on; missing channels are 0), with
   integer weights ``v`` per (channel, pass) fitted to predict ``|r|`` on training
   latents; ``act`` is cut into ``BINS`` bins by integer thresholds per (channel, pass)
   fitted as equal-population quantiles (ties kept together; channel 0's pass 0
   therefore has one context).
3. **Tables:** one histogram per (channel, pass, bin) over the channel's training
   residual range, smoothed over value buckets (exact below 8 in magnitude, then four
   per octave) and towards the (channel, pass) pooled histogram, plus ``pseudocount``;
   anything outside is escape-coded by ``lvc.entropy`` (never clipped).

Feature values are clipped to +-2**15 (|r| to 2**15) so that no integer sum can
overflow; real latents are within +-127/delta. The prediction's matrix products run
on float64 BLAS for speed but are exact integer arithmetic (every partial sum is an
integer below 2**53 for up to ``MAX_CHANNELS`` channels), so their result does not
depend on the BLAS, FMA or thread count. The encoder codes all (channel, pass) parts
in one ``Encoder.indexed`` call, the decoder reads one part per call; all per-pixel
work is vectorised numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ...entropy import Decoder, Encoder, FrequencyTables
from ...errors import BadInputError

FORMAT_VERSION = 3
PYRAMID = 4
"""Quincunx steps: pass 0 is the lattice of spacing 2**(PYRAMID / 2)."""
PASSES = PYRAMID + 1
BINS = 8
"""Scale-context bins (tables) per (channel, pass)."""
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
_N_SCALE = 5 + 2 * SCALE_BACK  # bias, 2 per previous channel, E and N4(E), O(|r|), G(q)
MAX_CHANNELS = 256
"""Keeps the prediction sums below 2**53 (see ``_predict``)."""
_LAYOUT = (FORMAT_VERSION, PYRAMID, BINS, SHIFT, SCALE_BACK)
_EDGE = ((-1, 0), (1, 0), (0, -1), (0, 1))  # opposite pairs next to each other
_DIAGONAL = ((-1, -1), (1, 1), (-1, 1), (1, -1))


# ---------------------------------------------------------------- the pyramid
@dataclass(frozen=True)
class _Pass:
    """The positions of one pass and their decoded pass neighbours.

    ``mask`` (h, w) bool; ``offsets``: four (di, dj), opposite pairs adjacent, () for
    pass 0; ``neighbours`` (4, n) flat indices of each position's neighbour at each
    offset (clamped into the latent) and ``inside`` (4, n) whether it is inside."""

    mask: np.ndarray
    offsets: tuple
    neighbours: np.ndarray
    inside: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray, offsets: tuple) -> "_Pass":
        h, w = mask.shape
        rows, cols = np.nonzero(mask)
        di = np.array([o[0] for o in offsets], np.int64)[:, None]
        dj = np.array([o[1] for o in offsets], np.int64)[:, None]
        r, c = rows + di, cols + dj  # (4, n); (0, n) for pass 0
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        return cls(mask, offsets, np.clip(r, 0, h - 1) * w + np.clip(c, 0, w - 1), inside)


def _passes(h: int, w: int) -> list:
    """The ``PASSES`` passes in decode order (see the module docstring)."""
    i, j = np.arange(h)[:, None], np.arange(w)[None, :]
    top = PYRAMID // 2  # pass 0 = lattice 2**top (PYRAMID even)
    out = [_Pass.of((i % (1 << top) == 0) & (j % (1 << top) == 0), ())]
    for s in range(PYRAMID, 0, -1):
        if s % 2 == 0:
            d = 1 << (s // 2 - 1)
            mask = (i % (2 * d) == d) & (j % (2 * d) == d)
            offsets = tuple((d * a, d * b) for a, b in _DIAGONAL)
        else:
            d = 1 << ((s - 1) // 2)
            mask = (i % d == 0) & (j % d == 0) & ((i // d + j // d) % 2 == 1)
            offsets = tuple((d * a, d * b) for a, b in _EDGE)
        out.append(_Pass.of(mask, offsets))
    return out


def _neighbour_values(a: np.ndarray, s: _Pass) -> np.ndarray:
    """(..., 4, n): ``a``'s values (..., h, w) at the pass neighbours, 0 outside."""
    flat = a.reshape(a.shape[:-2] + (a.shape[-2] * a.shape[-1],))
    return flat[..., s.neighbours] * s.inside


def _mean_of(values: np.ndarray, s: _Pass) -> np.ndarray:
    """O(.) from the pass-neighbour values: ``12 * (sum of the in-latent pass
    neighbours) // their number`` (0 without any)."""
    return _NORM * values.sum(-2) // np.maximum(s.inside.sum(0), 1)


def _gradient_of(values: np.ndarray, s: _Pass) -> np.ndarray:
    """G(.) from the pass-neighbour values: ``|a[o0] - a[o1]| + |a[o2] - a[o3]|`` over
    the opposite pairs inside the latent."""
    inside = s.inside
    return (np.abs(values[..., 0, :] - values[..., 1, :]) * (inside[0] & inside[1])
            + np.abs(values[..., 2, :] - values[..., 3, :]) * (inside[2] & inside[3]))


def _mean_at(a: np.ndarray, s: _Pass) -> np.ndarray:
    """O(a) at the pass's positions (..., n)."""
    return _mean_of(_neighbour_values(a, s), s)


def _neighbour_sum(a: np.ndarray) -> np.ndarray:
    """Sum of the 4 edge neighbours over the last two axes, zero padded."""
    out = np.zeros_like(a)
    out[..., 1:, :] += a[..., :-1, :]
    out[..., :-1, :] += a[..., 1:, :]
    out[..., :, 1:] += a[..., :, :-1]
    out[..., :, :-1] += a[..., :, 1:]
    return out


def _n4(a: np.ndarray) -> np.ndarray:
    """N4 over whole planes: ``12 * (sum of the in-latent edge neighbours) // their
    number`` (0 without any)."""
    return _NORM * _neighbour_sum(a) // _n4_count(*a.shape[-2:])


@lru_cache(maxsize=16)
def _n4_count(h: int, w: int) -> np.ndarray:
    """How many edge neighbours each position has inside an h x w plane (at least 1)."""
    count = np.maximum(_neighbour_sum(np.ones((h, w), np.int64)), 1)
    count.flags.writeable = False
    return count


def _clip(q: np.ndarray) -> np.ndarray:
    return np.clip(q.astype(np.int64), -_LIMIT, _LIMIT)


def _wrap32(x: np.ndarray) -> np.ndarray:
    """Two's complement wrap of int64 values into int32."""
    return (((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)).astype(np.int32)


def _bin(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per-channel bins of ``values`` (n, m): how many of the channel's ascending
    ``thresholds`` (n, B - 1) lie below the value."""
    if values.shape[0] == 1:  # the decoder's case: one search instead of B - 1 passes
        return np.searchsorted(thresholds[0], values[0], side="left")[None]
    out = np.zeros(values.shape, np.int64)
    for t in range(thresholds.shape[1]):
        out += values > thresholds[:, t, None]
    return out


@dataclass
class _Features:
    """Integer features of a latent block (k, h, w), flattened per pass to (k, n_p)."""

    q: list  # per pass: clipped q, as (exactly representable) float64 for _predict
    full: list  # per pass: N4(q) over all neighbours, float64
    own: list  # per pass: O(q) of the same channel, int64 (None for pass 0)

    @classmethod
    def of(cls, q: np.ndarray, passes) -> "_Features":
        qc = _clip(q)
        full = _n4(qc)
        return cls([_f64(qc[:, s.mask]) for s in passes], [_f64(full[:, s.mask]) for s in passes],
                   [_mean_at(qc, s) if s.offsets else None for s in passes])


def _predict(w: np.ndarray, q: np.ndarray, full: np.ndarray, own: np.ndarray | None
             ) -> np.ndarray:
    """Integer predictions (n, m) from weights ``w`` (n, 2 + 2C) of n channels, the
    clipped values ``q`` and ``full`` = N4(q) (k, m; float64 holding integers) of channels
    0 .. k - 1 (a channel's weights for itself and later channels are zero) and ``own``
    = O(q) (n, m) of the channels themselves (None in pass 0)."""
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


def _scale_columns(rabs: np.ndarray, rabs_n4: np.ndarray, energy: np.ndarray, own, c0: int,
                   n: int):
    """The non-constant scale-context features of channels c0 .. c0 + n - 1 at the
    positions of one pass: ``(feature, first channel having it, values (n - first, positions))``.

    ``rabs`` / ``rabs_n4`` hold |r| (clipped) and its N4 at those positions for the
    channels before; ``energy`` (2, n, positions) is ``(E, N4(E))`` of the channels
    themselves, E being the mean |r| of all the channels before (``_energy``); ``own``
    is ``(O(|r|), G(q))`` of the channels themselves (None in pass 0)."""
    for b in range(1, SCALE_BACK + 1):
        lo = max(0, b - c0)  # the first channel that has a channel b back
        if lo < n:
            yield 2 * b - 1, lo, rabs[c0 + lo - b: c0 + n - b]
            yield 2 * b, lo, rabs_n4[c0 + lo - b: c0 + n - b]
    yield 2 * SCALE_BACK + 1, 0, energy[0]
    yield 2 * SCALE_BACK + 2, 0, energy[1]
    if own is not None:
        yield _N_SCALE - 2, 0, own[0]
        yield _N_SCALE - 1, 0, own[1]


def _energy(total: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``(E, N4(E))`` planes from ``total`` = the sum of |r| over the ``c`` channels
    before (``E = 16 * total // c``, 0 for channel 0)."""
    e = 16 * total // np.maximum(c, 1)
    return np.stack([e, _n4(e)])


def _own_scale(rabs: np.ndarray, qc: np.ndarray, s: _Pass, q_values=None):
    """``(O(|r|), G(q))`` at the pass's positions (None in pass 0); ``q_values``: the
    pass-neighbour values of ``qc`` when the caller has them already."""
    if not s.offsets:
        return None
    if q_values is None:
        q_values = _neighbour_values(qc, s)
    return _mean_at(rabs, s), _gradient_of(q_values, s)


def _scale_features(*args) -> np.ndarray:
    """All scale features (n, positions, _N_SCALE), bias first (for fitting)."""
    n, positions = args[-1], args[2].shape[-1]
    x = np.zeros((n, positions, _N_SCALE), np.int64)
    x[..., 0] = 1
    for f, lo, values in _scale_columns(*args):
        x[lo:, :, f] = values
    return x


def _activity(v: np.ndarray, *args) -> np.ndarray:
    """Scale activity ``v . features`` (n, positions) for weights ``v`` (n, _N_SCALE)."""
    act = np.repeat(v[:, :1], args[2].shape[-1], 1)
    for f, lo, values in _scale_columns(*args):
        act[lo:] += v[lo:, f, None] * values
    return act


# ---------------------------------------------------------------- the tables
@dataclass(frozen=True, eq=False)
class LatentTables:
    """Context-model tables for integer latents of one quantisation step.

    ``weights`` (C, PASSES, 2 + 2C) integer prediction weights per (channel, pass):
    ``[bias, own, a_0, b_0, a_1, b_1, ...]``; ``scale_weights`` (C, PASSES, _N_SCALE)
    the scale context weights; ``thresholds`` (C, PASSES, BINS - 1) the bin edges
    (unused slots hold int64 max); ``tables``: ``C * PASSES * BINS`` frequency tables,
    table ``(c * PASSES + pass) * BINS + bin``.
    """

    weights: np.ndarray
    scale_weights: np.ndarray
    thresholds: np.ndarray
    tables: FrequencyTables

    def __post_init__(self):
        c = self.weights.shape[0] if self.weights.ndim == 3 else -1
        expected = {"weights": (self.weights, (c, PASSES, 2 + 2 * c)),
                    "scale_weights": (self.scale_weights, (c, PASSES, _N_SCALE)),
                    "thresholds": (self.thresholds, (c, PASSES, BINS - 1))}
        for name, (a, shape) in expected.items():
            if c < 1 or a.shape != shape or a.dtype != np.int64:
                raise BadInputError(f"latent tables: {name} must be int64 of shape {shape}")
        if max(np.abs(self.weights).max(), np.abs(self.scale_weights).max()) > _MAX_WEIGHT:
            raise BadInputError("latent tables: weights out of range")
        if c > MAX_CHANNELS:
            raise BadInputError(f"latent tables: at most {MAX_CHANNELS} channels, got {c}")
        if len(self.tables) != c * PASSES * BINS:
            raise BadInputError(f"latent tables: expected {c * PASSES * BINS} tables, "
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
        passes = [_passes(*q.shape[1:]) for q in blocks]
        feats = [_Features.of(q, s) for q, s in zip(blocks, passes)]
        weights = np.stack([_fit_predictor(feats, p, channels) for p in range(PASSES)], 1)
        resid = [_residuals(q, s, f, weights) for q, s, f in zip(blocks, passes, feats)]
        scale_args = [_scale_args(r, q, s) for r, q, s in zip(resid, blocks, passes)]
        scale_w = np.zeros((channels, PASSES, _N_SCALE), np.int64)
        for p in range(PASSES):
            x = np.concatenate([_scale_features(*a[p]) for a in scale_args], 1)
            y = np.concatenate([np.abs(r[:, s[p].mask]) for r, s in zip(resid, passes)], 1)
            for c in range(channels):
                scale_w[c, p] = _ridge(x[c], y[c], RIDGE)
        thresholds = np.full((channels, PASSES, BINS - 1), _NO_THRESHOLD)
        acts = [[_activity(scale_w[:, p], *a[p]) for p in range(PASSES)] for a in scale_args]
        for p in range(PASSES):
            thresholds[:, p] = _fit_thresholds(
                [np.concatenate([a[p][c] for a in acts]) for c in range(channels)], BINS)
        values = [[] for _ in range(PASSES)]
        indexes = [[] for _ in range(PASSES)]
        for r, s, a in zip(resid, passes, acts):
            for p in range(PASSES):
                values[p].append(r[:, s[p].mask])
                indexes[p].append(_table_index(a[p], thresholds, p, 0))
        tables = _fit_tables([np.concatenate(v, 1) for v in values],
                             [np.concatenate(i, 1) for i in indexes], pseudocount)
        return cls(weights, scale_w, thresholds, tables)

    # --- freezing --------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat dict of integer arrays (safetensors/npz friendly, no pickle)."""
        t = self.tables.to_arrays()
        return {
            "layout": np.array(_LAYOUT, np.int64),
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
            if layout != list(_LAYOUT):
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
    matrix of ``[1, q_0, N4(q_0), q_1, ...]``, each channel using its prefix (plus its
    own O(q) after pass 0)."""
    z = np.concatenate([np.concatenate([np.ones((1, f.q[p].shape[1]), np.int64),
                                        np.stack([f.q[p], f.full[p]], 1).reshape(2 * channels, -1)])
                        for f in feats], 1).astype(np.float64)  # (1 + 2C, n)
    y = np.concatenate([f.q[p] for f in feats], 1).astype(np.float64)  # (C, n)
    gram, zy = z @ z.T, z @ y.T
    if p:
        own = np.concatenate([f.own[p] for f in feats], 1).astype(np.float64)
        own_z, own_own, own_y = own @ z.T, (own * own).sum(1), (own * y).sum(1)
    out = np.zeros((channels, 2 + 2 * channels), np.int64)
    for c in range(channels):
        cols = 1 + 2 * c
        a = gram[:cols, :cols].copy()
        rhs = zy[:cols, c].copy()
        if p:
            a = np.block([[a, own_z[c, :cols, None]], [own_z[c, None, :cols], own_own[c]]])
            rhs = np.append(rhs, own_y[c])
        a += RIDGE * np.eye(a.shape[0])
        a[0, 0] -= RIDGE
        w = _solve(a, rhs)
        w = np.clip(np.rint(w * (1 << SHIFT)), -_MAX_WEIGHT, _MAX_WEIGHT).astype(np.int64)
        out[c, 0] = w[0]
        out[c, 2: 2 + 2 * c] = w[1: cols]
        if p:
            out[c, 1] = w[cols]
    return out


def _residuals(q: np.ndarray, passes, f: _Features, weights: np.ndarray) -> np.ndarray:
    """Residuals of a whole block (encoder side: every channel known)."""
    k = q.shape[0]
    r = np.zeros(q.shape, np.int32)
    for p, s in enumerate(passes):
        pred = _predict(weights[:k, p], f.q[p], f.full[p], f.own[p])
        r[:, s.mask] = _wrap32(q[:, s.mask].astype(np.int64) - pred)
    return r


def _rabs(r: np.ndarray) -> np.ndarray:
    return np.minimum(np.abs(r.astype(np.int64)), _LIMIT)


def _scale_args(r: np.ndarray, q: np.ndarray, passes) -> list:
    """Per pass, the ``_scale_columns`` arguments of every channel (encoder side)."""
    k = r.shape[0]
    rabs, qc = _rabs(r), _clip(q)
    rabs_n4 = _n4(rabs)
    before = np.cumsum(rabs, 0) - rabs  # sum over the channels before each channel
    energy = _energy(before, np.arange(k)[:, None, None])
    return [(rabs[:, s.mask], rabs_n4[:, s.mask], energy[:, :, s.mask], _own_scale(rabs, qc, s),
             0, k) for s in passes]


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
    base = (np.arange(c0, c0 + n)[:, None] * PASSES + p) * BINS
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
        v = [values[p][c].astype(np.int64) for p in range(PASSES)]
        both = np.concatenate(v)
        lo, hi = (int(both.min()), int(both.max())) if both.size else (0, 0)
        buckets = _buckets(np.arange(lo, hi + 1))
        for p in range(PASSES):
            hist = np.zeros((BINS, hi - lo + 1))
            np.add.at(hist, (indexes[p][c] - (c * PASSES + p) * BINS, v[p] - lo), 1.0)
            hist = _smooth(hist, buckets)
            pooled = hist.sum(0)
            counts.extend(hist + POOL_WEIGHT * pooled / max(pooled.sum(), 1.0))
            offsets.extend([lo] * BINS)
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
    passes = _passes(*q.shape[1:])
    f = _Features.of(q, passes)
    r = _residuals(q, passes, f, tables.weights)
    args = _scale_args(r, q, passes)
    k = q.shape[0]
    idx = [_table_index(_activity(tables.scale_weights[:k, p], *args[p]), tables.thresholds, p, 0)
           for p in range(PASSES)]
    return [s.mask for s in passes], r, idx


def encode_latents(q: np.ndarray, tables: LatentTables) -> bytes:
    """Entropy-code integer latents ``q`` (k, h, w), ``k <= tables.channels``."""
    q = _check_latent(q, 0)
    _check_shape(q.shape, tables)
    masks, r, idx = _symbols(q, tables)
    # decode order: channel by channel, pass by pass; one part per (channel, pass)
    sym = np.concatenate([r[:, m] for m in masks], 1)  # (k, all positions), pass-major
    enc = Encoder()
    enc.indexed(sym, np.concatenate(idx, 1), tables.tables,
                parts=np.tile([int(m.sum()) for m in masks], q.shape[0]))
    return enc.finish()


def decode_latents(data: bytes, shape: tuple, tables: LatentTables) -> np.ndarray:
    """Inverse of ``encode_latents``: int32 latents of ``shape`` (k, h, w).

    Raises ``CorruptStreamError`` when the stream is damaged or was coded with other
    tables (the stream's symbol CRC does not match)."""
    k, h, w = _check_shape(shape, tables)
    passes = _passes(h, w)
    out = np.zeros((k, h, w), np.int32)
    qc = np.zeros((h, w), np.int64)  # clipped q and |r| of the channel being decoded
    rabs = np.zeros((h, w), np.int64)
    total = np.zeros((h, w), np.int64)  # sum of |r| over the decoded channels
    # per pass, at its positions, for the decoded channels: clipped q and N4(q) (float64
    # for _predict), |r| and N4(|r|)
    sizes = [int(s.mask.sum()) for s in passes]
    q_at, full_at = ([np.zeros((k, n)) for n in sizes] for _ in range(2))
    rabs_at, rabs_n4_at = ([np.zeros((k, n), np.int64) for n in sizes] for _ in range(2))
    dec = Decoder(data)
    for c in range(k):
        energy = _energy(total, c)
        for p, s in enumerate(passes):
            m = s.mask
            q_values = _neighbour_values(qc, s) if s.offsets else None
            own = _mean_of(q_values, s)[None] if s.offsets else None
            pred = _predict(tables.weights[c: c + 1, p], q_at[p][:c], full_at[p][:c], own)[0]
            own_scale = _own_scale(rabs, qc, s, q_values)
            if own_scale is not None:
                own_scale = tuple(a[None] for a in own_scale)
            act = _activity(tables.scale_weights[c: c + 1, p], rabs_at[p], rabs_n4_at[p],
                            energy[:, None, m], own_scale, c, 1)
            r = dec.indexed(_table_index(act, tables.thresholds, p, c)[0], tables.tables)
            out[c][m] = _wrap32(r.astype(np.int64) + pred)
            qc[m] = _clip(out[c][m])
            rabs[m] = _rabs(r)
        full, rabs_n4 = _n4(qc), _n4(rabs)
        for p, s in enumerate(passes):
            q_at[p][c], full_at[p][c] = qc[s.mask], full[s.mask]
            rabs_at[p][c], rabs_n4_at[p][c] = rabs[s.mask], rabs_n4[s.mask]
        total += rabs
    dec.finish()
    return out


def latent_bits(q: np.ndarray, tables: LatentTables) -> float:
    """Ideal information content of ``q`` in bits under ``tables`` (escapes included;
    the real stream adds a 4-byte CRC and up to about 64 bits of ANS flush)."""
    q = _check_latent(q, 0)
    _check_shape(q.shape, tables)
    masks, r, idx = _symbols(q, tables)
    return sum(tables.tables.information_bits(r[:, m], idx[p]) for p, m in enumerate(masks))


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
