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
work is vectorised numpy. The decoder's cost is mostly numpy's per-call overhead (360
small parts for 72 channels), hence the layout: planes in decode order so that every
pass is a slice and every neighbour lookup one gather (see ``_Layout``), means as
products (``12 // count``), and per-shape and per-table constants built once.
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
# Planes are kept in decode order (pass 0's positions, then pass 1's, ...; raster order
# within a pass) with one trailing zero, the sentinel that neighbours outside the latent
# point at: every pass is then a slice, every neighbour lookup one gather with no mask,
# which is what keeps the decoder's hundreds of small steps cheap.
@dataclass(frozen=True)
class _Pass:
    """One pass: positions ``start:end`` of the decode order. ``neighbours`` (4, n): the
    decode-order index of each position's pass neighbour at each offset (opposite pairs
    adjacent; the sentinel outside the latent), ``scale`` (n,) ``12 // count`` of those
    inside (see ``_mean_of``), ``pairs`` (2, n) int64 whether both of each opposite pair
    are; all None in pass 0."""

    start: int
    end: int
    neighbours: np.ndarray | None = None
    scale: np.ndarray | None = None
    pairs: np.ndarray | None = None

    @property
    def at(self) -> slice:
        return slice(self.start, self.end)


@dataclass(frozen=True)
class _Layout:
    """The decode order of an h x w latent: ``order`` (n,) the raster index of each
    decode-order position, ``inverse`` its inverse, the ``PASSES`` passes, and
    ``edges`` (4, n) / ``edge_scale`` (n,) the edge neighbours for N4 (as in ``_Pass``)."""

    order: np.ndarray
    inverse: np.ndarray
    passes: tuple
    edges: np.ndarray
    edge_scale: np.ndarray

    @property
    def size(self) -> int:
        return self.order.size


def _pass_masks(h: int, w: int) -> list:
    """``(mask, offsets)`` of the ``PASSES`` passes in decode order (see the module
    docstring); offsets are () in pass 0."""
    i, j = np.arange(h)[:, None], np.arange(w)[None, :]
    top = PYRAMID // 2  # pass 0 = lattice 2**top (PYRAMID even)
    out = [((i % (1 << top) == 0) & (j % (1 << top) == 0), ())]
    for s in range(PYRAMID, 0, -1):
        if s % 2 == 0:
            d = 1 << (s // 2 - 1)
            mask = (i % (2 * d) == d) & (j % (2 * d) == d)
            offsets = tuple((d * a, d * b) for a, b in _DIAGONAL)
        else:
            d = 1 << ((s - 1) // 2)
            mask = (i % d == 0) & (j % d == 0) & ((i // d + j // d) % 2 == 1)
            offsets = tuple((d * a, d * b) for a, b in _EDGE)
        out.append((mask, offsets))
    return out


def _lookup(rows: np.ndarray, cols: np.ndarray, offsets: tuple, h: int, w: int,
            inverse: np.ndarray) -> tuple:
    """Decode-order indices (len(offsets), n) of the neighbours of raster positions
    ``rows, cols`` at ``offsets`` (the sentinel ``h * w`` outside), and whether inside."""
    r = rows + np.array([o[0] for o in offsets], np.int64)[:, None]
    c = cols + np.array([o[1] for o in offsets], np.int64)[:, None]
    inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    at = inverse[np.clip(r, 0, h - 1) * w + np.clip(c, 0, w - 1)]
    return np.where(inside, at, h * w), inside


def _frozen(*arrays):
    """The arrays, read-only: they are cached and shared between calls."""
    for a in arrays:
        a.flags.writeable = False
    return arrays


@lru_cache(maxsize=32)
def _layout(h: int, w: int) -> _Layout:
    """The decode order of an h x w latent (built once per shape)."""
    masks = _pass_masks(h, w)
    order = np.concatenate([np.flatnonzero(m) for m, _ in masks])
    inverse = np.empty(h * w, np.int64)
    inverse[order] = np.arange(h * w)
    rows, cols = np.divmod(order, max(w, 1))
    passes, start = [], 0
    for mask, offsets in masks:
        end = start + int(mask.sum())
        if offsets:
            nb, inside = _lookup(rows[start:end], cols[start:end], offsets, h, w, inverse)
            pairs = (inside[0::2] & inside[1::2]).astype(np.int64)
            passes.append(_Pass(start, end, *_frozen(nb, _mean_scale(inside), pairs)))
        else:
            passes.append(_Pass(start, end))
        start = end
    edges, inside = _lookup(rows, cols, _EDGE, h, w, inverse)
    return _Layout(*_frozen(order, inverse), tuple(passes),
                   *_frozen(edges, _mean_scale(inside)))


def _planes(values: np.ndarray) -> np.ndarray:
    """Decode-order planes (..., n + 1) int64 with the zero sentinel, from (..., n)."""
    out = np.zeros(values.shape[:-1] + (values.shape[-1] + 1,), np.int64)
    out[..., :-1] = values
    return out


def _mean_scale(inside: np.ndarray) -> np.ndarray:
    """``12 // count`` of the neighbours ``inside`` (4, n) the latent (12 without any)."""
    return _NORM // np.maximum(inside.sum(0), 1)


def _mean_of(values: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """N4 or O(.), ``12 * sum // count``, over the neighbour axis of ``values`` (..., 4,
    n) (neighbours outside the latent hold the sentinel's 0): ``sum * scale``, exactly
    the same since every count (1 .. 4) divides 12, and no division."""
    return np.add.reduce(values, -2) * scale


def _gather(planes: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Values (..., 4, n) of decode-order planes (..., n + 1) at ``neighbours`` (4, n)."""
    return planes.take(neighbours, axis=-1)


def _n4(planes: np.ndarray, layout: _Layout) -> np.ndarray:
    """N4 (..., n) of decode-order planes (..., n + 1)."""
    return _mean_of(_gather(planes, layout.edges), layout.edge_scale)


def _gradient_of(values: np.ndarray, s: _Pass) -> np.ndarray:
    """G(.) from the pass-neighbour values (..., 4, n): ``|a[o0] - a[o1]| + |a[o2] -
    a[o3]|`` over the opposite pairs inside the latent."""
    return (np.abs(values[..., 0::2, :] - values[..., 1::2, :]) * s.pairs).sum(-2)


def _rabs(r: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """|r| clipped, computed in int64 (|int32 min| does not fit int32)."""
    return np.minimum(np.abs(r, dtype=np.int64), _LIMIT, out=out)


def _wrap32(x: np.ndarray) -> np.ndarray:
    """Two's complement wrap of int64 values into int32: the low 32 bits (C defines the
    conversion to an unsigned type as modulo 2**32, unlike the one to a signed type)."""
    return x.astype(np.uint32).view(np.int32)


def _table_index(act: np.ndarray, thresholds: np.ndarray, p: int, c0: int) -> np.ndarray:
    """Table indexes of activities ``act`` (n, m) of channels c0 .. c0 + n - 1, or (m,) of
    channel c0 alone (the decoder: one search instead of ``BINS - 1`` passes): the bin
    is how many of the (channel, pass)'s ascending thresholds lie below the value."""
    if act.ndim == 1:
        return thresholds[c0, p].searchsorted(act, side="left") + (c0 * PASSES + p) * BINS
    n = act.shape[0]
    out = np.repeat((np.arange(c0, c0 + n)[:, None] * PASSES + p) * BINS, act.shape[1], 1)
    for t in range(BINS - 1):
        out += act > thresholds[c0: c0 + n, p, t, None]
    return out


def _float_weights(w: np.ndarray) -> np.ndarray:
    """Prediction weights (..., 2 + 2C) as float64 for ``_predict``, the rounding
    ``2**(SHIFT - 1)`` added to the bias."""
    wf = _f64(w)
    wf[..., 0] += 1 << (SHIFT - 1)
    return wf


def _predict(wf: np.ndarray, x: np.ndarray, own: np.ndarray | None = None) -> np.ndarray:
    """Integer predictions (..., m) ``(w . features + 2**9) >> 10`` from ``wf`` =
    ``_float_weights(w[..., :2 + 2k])`` and ``x`` (2 + 2k, m), float64 holding integers:
    1, O(q) (or 0 with ``own`` = O(q) (..., m) of each channel given apart), then
    clipped q and N4(q) of channels 0 .. k - 1 (a channel's weights for itself and later
    channels are zero)."""
    # Exact integer arithmetic carried out by float64 BLAS: every product is below
    # 2**24 * 12 * 2**15 < 2**43 and with at most 2 + 2 * MAX_CHANNELS terms every
    # partial sum is an integer below 2**53, so the result does not depend on the
    # summation order, FMA or threads (and needs no rounding).
    acc = wf @ x
    if own is not None:
        acc += wf[..., 1:2] * own
    return acc.astype(np.int64) >> SHIFT


def _prediction_features(k: int, n: int) -> np.ndarray:
    """``_predict``'s x for k channels at n positions: the row of ones, O(q) and the
    channels' rows zero."""
    x = np.zeros((2 + 2 * k, n))
    x[0] = 1
    return x


def _f64(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64)


# The scale context's previous-channel features come from a window of 12 rows of a
# (12 + 4k, n) matrix: 12 zero rows, then per channel j ``(|r_j|, N4(|r_j|), E_{j+1},
# N4(E_{j+1}))``; channel c's window (rows 4c .. 4c + 12) holds channels c - 3 .. c - 1
# and its own E (the module docstring's step 2). While channel c is decoded, its own
# four rows (not yet needed by any channel) hold ``(O(|r|), G(q), 1, 0)``, so that its
# whole activity is one product with the 16 rows from 4c.
_WINDOW = 12
_WINDOW_ROWS = np.array([8, 9, 4, 5, 0, 1, 10, 11])
"""Window row of scale features 1 .. 8: |r| and N4(|r|) of c - 1, c - 2, c - 3, E, N4(E)."""
_OWN_ROWS = np.array([_N_SCALE - 2, _N_SCALE - 1, 0])
"""Scale features in the channel's own rows: O(|r|), G(q), the bias."""


def _window_weights(v: np.ndarray) -> np.ndarray:
    """Scale weights (..., _N_SCALE) as weights (..., _WINDOW + 4) of the window rows and
    the channel's own rows."""
    out = np.zeros(v.shape[:-1] + (_WINDOW + 4,), np.int64)
    out[..., _WINDOW_ROWS] = v[..., 1: 1 + len(_WINDOW_ROWS)]
    out[..., _WINDOW: _WINDOW + len(_OWN_ROWS)] = v[..., _OWN_ROWS]
    return out


def _window_block(k: int, n: int) -> np.ndarray:
    return np.zeros((_WINDOW + 4 * k, n), np.int64)


def _windows(block: np.ndarray, k: int) -> np.ndarray:
    """Every channel's window (k, _WINDOW, n) of ``block``, as a view."""
    s0, s1 = block.strides
    return np.lib.stride_tricks.as_strided(block, (k, _WINDOW, block.shape[1]),
                                           (4 * s0, s0, s1), writeable=False)


def _activity(vw: np.ndarray, window: np.ndarray, own=None) -> np.ndarray:
    """Scale activity ``v . features`` (..., m) for ``vw`` = ``_window_weights(v)``:
    ``window`` (..., _WINDOW, m) the previous-channel features and ``own`` = ``(O(|r|),
    G(q))`` (..., m) of the channels themselves (None in pass 0), or ``window`` (...,
    _WINDOW + 4, m) with the own rows too (the decoder's). Integer (int64) throughout:
    every term is below 2**47."""
    act = np.einsum("...f,...fm->...m", vw[..., :window.shape[-2]], window)
    if window.shape[-2] == _WINDOW:
        act += vw[..., _WINDOW + 2, None]
        if own is not None:
            act += vw[..., _WINDOW, None] * own[0] + vw[..., _WINDOW + 1, None] * own[1]
    return act


def _scale_features(window: np.ndarray, own) -> np.ndarray:
    """All scale features (k, m, _N_SCALE), bias first (for fitting)."""
    k, _, m = window.shape
    x = np.zeros((k, m, _N_SCALE), np.int64)
    x[..., 0] = 1
    x[..., 1: 1 + len(_WINDOW_ROWS)] = window[:, _WINDOW_ROWS].transpose(0, 2, 1)
    if own is not None:
        x[..., _N_SCALE - 2], x[..., _N_SCALE - 1] = own
    return x


@dataclass
class _Block:
    """Every feature of a whole latent block (k, h, w), all channels known (encoder and
    fitting), in decode order: ``q`` (k, n) the latents, ``x`` (2 + 2k, n) the features
    of ``_predict`` (O(q) given apart), per pass ``own`` = O(q) and ``grad`` = G(q) (None
    in pass 0)."""

    layout: _Layout
    q: np.ndarray
    x: np.ndarray
    own: list
    grad: list

    @classmethod
    def of(cls, q: np.ndarray) -> "_Block":
        k, h, w = q.shape
        layout = _layout(h, w)
        qd = q.reshape(k, h * w)[:, layout.order].astype(np.int64)
        planes = _planes(np.clip(qd, -_LIMIT, _LIMIT))
        x = _prediction_features(k, h * w)
        x[2::2], x[3::2] = planes[:, :-1], _n4(planes, layout)
        own, grad = [], []
        for s in layout.passes:
            values = None if s.neighbours is None else _gather(planes, s.neighbours)
            own.append(None if values is None else _mean_of(values, s.scale))
            grad.append(None if values is None else _gradient_of(values, s))
        return cls(layout, qd, x, own, grad)

    def residuals(self, weights: np.ndarray) -> np.ndarray:
        """Residuals (k, n) int32 under prediction weights (C, PASSES, 2 + 2C)."""
        k = self.q.shape[0]
        r = np.empty(self.q.shape, np.int32)
        for p, s in enumerate(self.layout.passes):
            wf = _float_weights(weights[:k, p, :2 + 2 * k])
            pred = _predict(wf, self.x[:, s.at], self.own[p])
            r[:, s.at] = _wrap32(self.q[:, s.at] - pred)
        return r

    def scale_inputs(self, r: np.ndarray) -> list:
        """Per pass, the ``_activity`` inputs ``(window, own)`` of every channel."""
        k, n = r.shape
        rabs = _planes(_rabs(r))
        before = np.cumsum(rabs, 0) - rabs  # sum of |r| over the channels before each
        energy = 16 * before // np.maximum(np.arange(k), 1)[:, None]
        n4 = _n4(np.stack([rabs, energy]), self.layout)
        block = _window_block(k, n)
        rows = block[_WINDOW:].reshape(k, 4, n)
        rows[:, 0], rows[:, 1] = rabs[:, :-1], n4[0]
        rows[:-1, 2], rows[:-1, 3] = energy[1:, :-1], n4[1, 1:]  # E of the next channel
        windows = _windows(block, k)
        return [(windows[..., s.at], None if s.neighbours is None else
                 (_mean_of(_gather(rabs, s.neighbours), s.scale), self.grad[p]))
                for p, s in enumerate(self.layout.passes)]


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
        feats = [_Block.of(q) for q in blocks]
        weights = np.stack([_fit_predictor(feats, p, channels) for p in range(PASSES)], 1)
        resid = [f.residuals(weights) for f in feats]
        scale_args = [f.scale_inputs(r) for f, r in zip(feats, resid)]
        scale_w = np.zeros((channels, PASSES, _N_SCALE), np.int64)
        for p in range(PASSES):
            x = np.concatenate([_scale_features(*a[p]) for a in scale_args], 1)
            y = np.concatenate([np.abs(r[:, f.layout.passes[p].at])
                                for r, f in zip(resid, feats)], 1)
            for c in range(channels):
                scale_w[c, p] = _ridge(x[c], y[c], RIDGE)
        window_w = _window_weights(scale_w)
        thresholds = np.full((channels, PASSES, BINS - 1), _NO_THRESHOLD)
        acts = [[_activity(window_w[:, p], *a[p]) for p in range(PASSES)]
                for a in scale_args]
        for p in range(PASSES):
            thresholds[:, p] = _fit_thresholds(
                [np.concatenate([a[p][c] for a in acts]) for c in range(channels)], BINS)
        values = [[] for _ in range(PASSES)]
        indexes = [[] for _ in range(PASSES)]
        for r, f, a in zip(resid, feats, acts):
            for p, s in enumerate(f.layout.passes):
                values[p].append(r[:, s.at])
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
    at = [f.layout.passes[p].at for f in feats]
    z = np.concatenate([np.concatenate([f.x[:1, s], f.x[2:, s]]) for f, s in zip(feats, at)],
                       1)  # (1 + 2C, n): 1, q_0, N4(q_0), q_1, ...
    y = np.concatenate([f.x[2::2, s] for f, s in zip(feats, at)], 1)  # (C, n): clipped q
    gram, zy = z @ z.T, z @ y.T
    if p:
        own = _f64(np.concatenate([f.own[p] for f in feats], 1))
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


@lru_cache(maxsize=8)
def _derived(tables: LatentTables) -> tuple:
    """Constants of a table set, built once: the prediction weights of the channels before
    as float64 (for ``_predict``) and the window scale weights (for ``_activity``)."""
    return _frozen(_float_weights(tables.weights), _window_weights(tables.scale_weights))


def _symbols(q: np.ndarray, tables: LatentTables):
    """(layout, residuals (k, n) in decode order, table indexes per pass) of a whole
    block (encoder side)."""
    f = _Block.of(q)
    r = f.residuals(tables.weights)
    k = q.shape[0]
    vw = _derived(tables)[1][:k]
    idx = [_table_index(_activity(vw[:, p], *a), tables.thresholds, p, 0)
           for p, a in enumerate(f.scale_inputs(r))]
    return f.layout, r, idx


def encode_latents(q: np.ndarray, tables: LatentTables) -> bytes:
    """Entropy-code integer latents ``q`` (k, h, w), ``k <= tables.channels``."""
    q = _check_latent(q, 0)
    _check_shape(q.shape, tables)
    layout, r, idx = _symbols(q, tables)
    # decode order: channel by channel, pass by pass (r's rows); one part per (channel, pass)
    enc = Encoder()
    enc.indexed(r, np.concatenate(idx, 1), tables.tables,
                parts=np.tile([s.end - s.start for s in layout.passes], q.shape[0]))
    return enc.finish()


def decode_latents(data: bytes, shape: tuple, tables: LatentTables) -> np.ndarray:
    """Inverse of ``encode_latents``: int32 latents of ``shape`` (k, h, w).

    Raises ``CorruptStreamError`` when the stream is damaged or was coded with other
    tables (the stream's symbol CRC does not match)."""
    k, h, w = _check_shape(shape, tables)
    layout = _layout(h, w)
    n = layout.size
    wf, vw = _derived(tables)
    # in decode order: the features of _predict (O(q) of the channel being decoded, then
    # clipped q and N4(q) of the decoded channels) and the scale context's window block
    # (see _WINDOW)
    x = _prediction_features(k, n)
    block = _window_block(k, n)
    # the channel being decoded, decode-order planes: clipped q, |r|, then the next E
    cur = np.zeros((3, n + 1), np.int64)
    total = np.zeros(n, np.int64)  # sum of |r| over the decoded channels
    out = np.empty((k, n), np.int32)
    qc, rabs, own = cur[0], cur[1], x[1]
    dec = Decoder(data)
    for c in range(k):
        # this channel's weights, features of the channels before and own rows of the
        # window block (fewer indexing steps per part: the parts are small)
        wfc, xc, window_w = wf[c, :, :2 + 2 * c], x[:2 + 2 * c], vw[c]
        window = block[4 * c: 4 * c + _WINDOW + 4]
        own_rows = window[_WINDOW:]
        own_rows[2] = 1
        for p, s in enumerate(layout.passes):
            at = s.at
            if s.neighbours is not None:
                values = _gather(cur[:2], s.neighbours)  # (2, 4, m): q and |r|
                own[at], own_rows[0, at] = _mean_of(values, s.scale)
                own_rows[1, at] = _gradient_of(values[0], s)
            pred = _predict(wfc[p], xc[:, at])
            act = _activity(window_w[p], window[:, at])
            r = dec.indexed(_table_index(act, tables.thresholds, p, c), tables.tables)
            out[c, at] = q = _wrap32(r + pred)
            np.minimum(np.maximum(q, -_LIMIT), _LIMIT, out=qc[at])
            _rabs(r, out=rabs[at])
        if c + 1 < k:  # the features the later channels read
            total += rabs[:n]
            cur[2, :n] = 16 * total // (c + 1)
            n4 = _n4(cur, layout)
            x[2 + 2 * c], x[3 + 2 * c] = qc[:n], n4[0]
            own_rows[0::2], own_rows[1::2] = cur[1:, :n], n4[1:]  # (|r|, N4, E, N4(E))
    dec.finish()
    return out[:, layout.inverse].reshape(k, h, w)


def latent_bits(q: np.ndarray, tables: LatentTables) -> float:
    """Ideal information content of ``q`` in bits under ``tables`` (escapes included;
    the real stream adds a 4-byte CRC and up to about 64 bits of ANS flush)."""
    q = _check_latent(q, 0)
    _check_shape(q.shape, tables)
    layout, r, idx = _symbols(q, tables)
    return sum(tables.tables.information_bits(r[:, s.at], idx[p])
               for p, s in enumerate(layout.passes))


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
