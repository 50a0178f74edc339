"""Reverse-channel coding of Gaussian samples (DiffC's implicit branch).

The sender knows ``q = N(mu_q, s^2 I)``, the receiver ``p = N(mu_p, s^2 I)``; both
share randomness. In whitened units (``z = (x - mu_p) / s``, prior ``N(0, I)``) the
target is ``N(m, I)`` with ``m = (mu_q - mu_p) / s`` and sending one sample costs
about ``KL = |m|^2 / (2 ln 2)`` bits. Dimensions are cut into chunks of a few bits of KL
each and every chunk is sent by ordered random coding / the Poisson functional
representation (Li & El Gamal 2018; Theis & Yosri 2022):

- ``K = 2 ** (b + PAD)`` candidates ``z_j ~ N(0, I)`` and arrival times
  ``T_j = E_1 + ... + E_j`` (``E ~ Exp(1)``) come from shared randomness;
- the sender picks ``j* = argmin_j log T_j - (z_j . m - |m|^2 / 2)`` (the log density
  ratio of q to p at ``z_j``) and sends ``j*``; the receiver regenerates ``z_{j*}`` only.

Shared randomness is counter based and bit-identical in any process: numpy's Philox
4x64 keyed by blake2b of (stream key, step, chunk, purpose), candidate ``j`` of a
chunk starting at counter block ``j * words / 4`` (64-bit offsets), normals made here
from the raw 64-bit words by Box-Muller (never ``Generator.normal``, whose algorithm
numpy may change, never Python ``hash`` or a device RNG).

What is sent, all through ``lvc.entropy`` (constriction ANS):

- per step: the number of chunks ``n`` (Elias-gamma-like: bucket ``floor(log2 n)``
  under a fixed geometric law, then the bits below the leading one);
- per chunk: its budget ``b = ceil(KL_chunk)`` under a two-sided geometric law around
  the target chunk size, then ``j*`` in the same two parts: the bucket
  ``k = floor(log2(j* + 1))`` under a Zipf law ``P(j) ~ (j + 1) ** -(1 + 1 / (b + 1.53))``
  (the PFR index law, Li & El Gamal) truncated to ``K``, and the ``k`` bits below the
  leading one, uniform.

The chunk partition is a pseudo-random permutation of the step's dimensions cut into
``n`` near-equal parts, so the receiver knows it from ``n`` alone.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ...entropy.coder import Decoder, Encoder
from ...entropy.tables import FrequencyTables, quantize_pmf
from ...errors import BadInputError, CorruptStreamError

PAD = 1
"""Extra bits of candidates per chunk (K = 2 ** (b + PAD)): the sample is closer to q;
each bit doubles the encoder's work."""
B_MAX = 16
"""Largest chunk budget in bits (2 ** 17 candidates per chunk at most)."""
DIM_MAX = 8.0
"""Largest KL one dimension may carry (bits): larger shifts are clipped, so the step
sends a sample of a slightly wider target instead of failing (late steps, outliers)."""
LN2 = math.log(2.0)


# ---------------------------------------------------------------- shared randomness
def _key(stream: bytes, *ids: int) -> np.ndarray:
    h = hashlib.blake2b(stream, digest_size=16, person=b"lvc-rcc-v1")
    for i in ids:
        h.update(int(i).to_bytes(8, "little", signed=True))
    return np.frombuffer(h.digest(), "<u8").copy()


def raw_words(stream: bytes, ids: tuple, first_block: int, words: int) -> np.ndarray:
    """``words`` uint64 of the Philox stream keyed by (stream, ids), from counter block
    ``first_block`` (4 words per block; ``words`` a multiple of 4)."""
    if words % 4 or first_block < 0:
        raise BadInputError("raw_words: words must be a multiple of 4, first_block >= 0")
    bitgen = np.random.Philox(key=_key(stream, *ids), counter=[first_block, 0, 0, 0])
    return bitgen.random_raw(words)


def _uniform(raw: np.ndarray) -> np.ndarray:
    """(0, 1) doubles from the top 53 bits of each word."""
    return ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / (1 << 53))


def normals_from_words(raw: np.ndarray) -> np.ndarray:
    """Box-Muller on 24-bit uniforms, in float32 (twice the speed of float64; the tails
    reach 5.8 sigma): an even number of words -> as many standard normals."""
    u = (((raw >> np.uint64(40)).astype(np.float32) + np.float32(0.5))
         * np.float32(1.0 / (1 << 24))).reshape(-1, 2)
    r = np.sqrt(np.float32(-2.0) * np.log(u[:, 0]))
    angle = np.float32(2.0 * math.pi) * u[:, 1]
    return np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1).reshape(raw.shape)


def _words_per_candidate(dims: int) -> int:
    return -(-dims // 4) * 4


def candidates(stream: bytes, ids: tuple, first: int, count: int, dims: int) -> np.ndarray:
    """Candidates ``first .. first + count - 1`` of a chunk: ``(count, dims)`` normals."""
    w = _words_per_candidate(dims)
    raw = raw_words(stream, ids + (0,), first * (w // 4), count * w)
    return normals_from_words(raw).reshape(count, w)[:, :dims]


def arrivals(stream: bytes, ids: tuple, count: int) -> np.ndarray:
    """log T_j of the first ``count`` arrivals of a unit-rate Poisson process."""
    raw = raw_words(stream, ids + (1,), 0, -(-count // 4) * 4)[:count]
    return np.log(np.cumsum(-np.log(_uniform(raw))))


def permutation(stream: bytes, step: int, dims: int) -> np.ndarray:
    """The step's pseudo-random order of dimensions (argsort of shared random words)."""
    raw = raw_words(stream, (step, -1, 2), 0, -(-dims // 4) * 4)[:dims]
    return np.argsort(raw, kind="stable")


def chunk_slices(dims: int, n: int) -> list:
    """``n`` near-equal consecutive ranges of ``0..dims``."""
    edges = [dims * i // n for i in range(n + 1)]
    return [slice(a, b) for a, b in zip(edges, edges[1:])]


# ---------------------------------------------------------------- index coding tables
@lru_cache(maxsize=None)
def bucket_table(budget: int) -> np.ndarray:
    """Integer pmf (escape last) of the bucket ``floor(log2(j + 1))`` of a chunk index
    with ``2 ** (budget + PAD)`` candidates, under the Zipf law of the PFR index."""
    s = 1.0 + 1.0 / (budget + 1.53)
    mass = []
    for k in range(budget + PAD + 1):
        n = np.arange(1 << k, 1 << (k + 1), dtype=np.float64)
        mass.append(float(np.sum(n ** -s)))
    return quantize_pmf(np.asarray(mass + [1e-9]))


BUCKET = 0  # + budget: bucket of a chunk index
UNIFORM = B_MAX + 1  # + r - 1: r raw bits (r = 1..8)
BUDGET = UNIFORM + 8  # + target: a chunk's budget given the target chunk size
COUNT = BUDGET + B_MAX + 1  # bucket of a step's chunk count
COUNT_BUCKETS = 27


@lru_cache(maxsize=1)
def index_tables() -> FrequencyTables:
    """Every table of the stream (ids above); budgets follow a two-sided geometric law
    (ratio 1/2) around the target chunk size, chunk counts a geometric law per bucket."""
    pmfs = [bucket_table(b) for b in range(B_MAX + 1)]
    pmfs += [quantize_pmf(np.r_[np.ones(1 << r), 1e-9]) for r in range(1, 9)]
    b = np.arange(B_MAX + 1)
    pmfs += [quantize_pmf(np.r_[0.5 ** np.abs(b - target), 1e-9]) for target in range(B_MAX + 1)]
    pmfs.append(quantize_pmf(np.r_[0.75 ** np.arange(COUNT_BUCKETS), 1e-9]))
    return FrequencyTables(tuple(pmfs), np.zeros(len(pmfs), np.int64))


# ---------------------------------------------------------------- one step
@dataclass
class StepCode:
    """What one step sends: chunk count, per-chunk budgets and indices."""

    n: int
    budgets: np.ndarray  # int, (n,)
    indices: np.ndarray  # int64, (n,)


def kl_bits(m: np.ndarray) -> float:
    return float(np.dot(m, m)) / (2.0 * LN2)


def encode_step(m: np.ndarray, stream: bytes, step: int, target_bits: float = 10.0) -> tuple:
    """(code, z): send ``N(m, I)`` (flat ``m``) in chunks of about ``target_bits`` KL;
    ``z`` is the whitened sample the receiver will reconstruct."""
    m = np.asarray(m, np.float64).ravel()
    limit = math.sqrt(2.0 * LN2 * DIM_MAX)
    m = np.clip(m, -limit, limit)
    dims = m.size
    order = permutation(stream, step, dims)
    per_dim = (m[order] ** 2) / (2.0 * LN2)
    total = float(per_dim.sum())
    n = max(1, min(dims, math.ceil(total / target_bits)))
    while True:  # no chunk may exceed B_MAX bits
        cuts = chunk_slices(dims, n)
        kls = np.array([per_dim[c].sum() for c in cuts])
        if kls.max() <= B_MAX - 0.5:  # reached by n = dims at the latest (DIM_MAX)
            break
        n = min(dims, math.ceil(n * kls.max() / (B_MAX - 1.0)) + 1)
    budgets = np.ceil(kls).astype(np.int64)
    z = np.empty(dims)
    indices = np.empty(n, np.int64)
    for c, (cut, b) in enumerate(zip(cuts, budgets)):
        dim_idx = order[cut]
        mc = m[dim_idx]
        count = 1 << (int(b) + PAD)
        zs = candidates(stream, (step, c), 0, count, mc.size)
        score = arrivals(stream, (step, c), count) - (zs @ mc.astype(np.float32)
                                                       - 0.5 * float(mc @ mc))
        j = int(np.argmin(score))
        indices[c] = j
        z[dim_idx] = zs[j]
    return StepCode(n, budgets, indices), z


def decode_step(code: StepCode, stream: bytes, step: int, dims: int) -> np.ndarray:
    """The whitened sample ``z`` of a step, from its code."""
    order = permutation(stream, step, dims)
    z = np.empty(dims)
    for c, cut in enumerate(chunk_slices(dims, code.n)):
        dim_idx = order[cut]
        z[dim_idx] = candidates(stream, (step, c), int(code.indices[c]), 1, dim_idx.size)[0]
    return z


# ---------------------------------------------------------------- bytes
def _bucket_split(values: np.ndarray) -> tuple:
    """v = values + 1 >= 1 as (k = floor(log2 v), v - 2 ** k), exactly in integers."""
    v = np.asarray(values, np.int64) + 1
    k = np.array([int(x).bit_length() - 1 for x in v.tolist()], np.int64)
    return k, v - np.left_shift(1, k)


def _bit_pieces(offsets: np.ndarray, widths: np.ndarray) -> tuple:
    """Each offset of ``width`` bits as pieces of at most 8 bits: (symbols, table ids)."""
    sym, ids = [], []
    for o, w in zip(offsets.tolist(), widths.tolist()):
        while w > 0:
            r = min(8, w)
            sym.append(o & ((1 << r) - 1))
            ids.append(UNIFORM + r - 1)
            o >>= r
            w -= r
    return np.asarray(sym, np.int64), np.asarray(ids, np.int64)


def _push_gamma(enc: Encoder, values: np.ndarray, bucket_ids: np.ndarray, tables) -> None:
    """Non-negative integers as (bucket under ``bucket_ids``' tables, raw low bits)."""
    ks, offsets = _bucket_split(values)
    enc.indexed(ks, bucket_ids, tables)
    sym, ids = _bit_pieces(offsets, ks)
    enc.indexed(sym, ids, tables)


def _pop_gamma(dec: Decoder, bucket_ids: np.ndarray, tables) -> tuple:
    """Inverse of ``_push_gamma``: (values, buckets)."""
    ks = dec.indexed(bucket_ids, tables).astype(np.int64)
    _, ids = _bit_pieces(np.zeros_like(ks), ks)
    pieces = iter(dec.indexed(ids, tables).astype(np.int64).tolist())
    offsets = []
    for w in ks.tolist():
        v, shift = 0, 0
        while shift < w:
            v |= next(pieces) << shift
            shift += min(8, w - shift)
        offsets.append(v)
    return np.left_shift(1, ks) + np.asarray(offsets, np.int64) - 1, ks


def _target(target_bits: float) -> int:
    t = int(round(target_bits))
    if not 1 <= t <= B_MAX:
        raise BadInputError(f"target chunk size must be 1..{B_MAX} bits, got {target_bits}")
    return t


def write_steps(codes: list, target_bits: float) -> bytes:
    """All steps' codes as one ANS stream: chunk counts, budgets, indices."""
    tables, target = index_tables(), _target(target_bits)
    enc = Encoder()
    counts = np.asarray([c.n for c in codes], np.int64)
    if (counts < 1).any() or (counts >= 1 << (COUNT_BUCKETS - 1)).any():
        raise BadInputError("chunk count out of range")
    _push_gamma(enc, counts - 1, np.full(counts.size, COUNT), tables)
    budgets = np.concatenate([c.budgets for c in codes]).astype(np.int64)
    enc.indexed(budgets, np.full(budgets.size, BUDGET + target), tables)
    _push_gamma(enc, np.concatenate([c.indices for c in codes]), BUCKET + budgets, tables)
    return enc.finish()


def read_steps(data: bytes, steps: int, target_bits: float) -> list:
    """Inverse of ``write_steps`` for a known number of steps and target."""
    tables, target = index_tables(), _target(target_bits)
    dec = Decoder(data)
    counts = _pop_gamma(dec, np.full(steps, COUNT), tables)[0] + 1
    if counts.sum() > 1 << 26:
        raise CorruptStreamError("corrupt reverse-channel stream: too many chunks")
    budgets = dec.indexed(np.full(int(counts.sum()), BUDGET + target), tables).astype(np.int64)
    if (budgets > B_MAX).any() or (budgets < 0).any():
        raise CorruptStreamError("corrupt reverse-channel chunk budget")
    indices, ks = _pop_gamma(dec, BUCKET + budgets, tables)
    if (ks > budgets + PAD).any():
        raise CorruptStreamError("corrupt reverse-channel index")
    dec.finish()
    out, pos = [], 0
    for n in counts.tolist():
        out.append(StepCode(n, budgets[pos:pos + n], indices[pos:pos + n]))
        pos += n
    return out
