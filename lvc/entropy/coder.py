"""Entropy coding on constriction's ANS coder: the one coder every lvc codec uses.

As in constriction, the coder knows nothing about networks: each call gets the
symbols plus the model (integer tables and a table index per symbol, or one
probability vector per symbol).

Stream layout (little-endian): ``crc32(all symbols as int32, in decode order) : u32`` followed by the
ANS words (``u32`` each). Decoding checks that the ANS state is exactly used up
and that the CRC of the decoded symbols matches, so a decoder whose model differs
from the encoder's (the classic 1-ulp desynchronisation) raises
``CorruptStreamError`` instead of returning garbage.
"""

from __future__ import annotations

import contextlib
import zlib
from functools import lru_cache

import numpy as np
import constriction

from ..errors import BadInputError, CorruptStreamError
from . import escape
from .tables import FrequencyTables, ScaleTable

_model = constriction.stream.model
_INT32 = (-(2**31), 2**31 - 1)
_CRC = 4


# ---------------------------------------------------------------- framing
def _frame(crc: int, coder) -> bytes:
    return crc.to_bytes(_CRC, "little") + coder.get_compressed().astype("<u4").tobytes()


def _unframe(data) -> tuple[int, "constriction.stream.stack.AnsCoder"]:
    data = bytes(data)
    if len(data) < _CRC or (len(data) - _CRC) % 4:
        raise CorruptStreamError("entropy stream has an invalid length (truncated or corrupt)")
    words = np.frombuffer(data, "<u4", offset=_CRC).astype(np.uint32)
    if words.size and words[-1] == 0:
        raise CorruptStreamError("entropy stream is corrupt (invalid final word)")
    with _panics_are_corruption():
        coder = constriction.stream.stack.AnsCoder(words)
    return int.from_bytes(data[:_CRC], "little"), coder


@contextlib.contextmanager
def _panics_are_corruption():
    """constriction raises Rust panics (a damaged stream) as BaseException: they become
    one CorruptStreamError; interrupts and memory errors pass through."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError):
        raise
    except BaseException as e:
        raise CorruptStreamError(f"entropy stream is corrupt ({e})") from None


# ---------------------------------------------------------------- table models
@lru_cache(maxsize=64)
def _categoricals(tables: FrequencyTables) -> tuple:
    """One concrete constriction model per table (built once per table set)."""
    scale = float(1 << tables.precision)
    return tuple(_model.Categorical(p / scale, perfect=False) for p in tables.pmfs)


@lru_cache(maxsize=64)
def _bounds(tables: FrequencyTables) -> np.ndarray:
    """(tables, 2) int32: each table's offset and escape symbol (one gather for both)."""
    out = np.stack([tables.offsets32, tables.supports32], 1)
    out.flags.writeable = False
    return out


def _as_tables(tables) -> FrequencyTables:
    if isinstance(tables, ScaleTable):
        return tables.tables
    if isinstance(tables, FrequencyTables):
        return tables
    raise BadInputError("tables must be a FrequencyTables or ScaleTable")


_UNSIGNED = {np.dtype(t).itemsize: t for t in (np.uint8, np.uint16, np.uint32, np.uint64)}


def _check_indexes(indexes, n_tables: int, shape=None) -> np.ndarray:
    """``indexes`` validated, as the smallest unsigned type holding ``n_tables`` (radix-sort
    keys, see ``_RADIX_KEYS``), int32 beyond."""
    idx = np.asarray(indexes)
    if shape is not None and idx.shape != shape:
        raise BadInputError(f"indexes shape {idx.shape} does not match symbols {shape}")
    # one reduction: viewed as unsigned, negative indexes are huge
    if idx.size and (idx.dtype.kind not in "iu"
                     or np.maximum.reduce(idx.view(_UNSIGNED[idx.itemsize]), None) >= n_tables):
        raise BadInputError(f"table indexes must be integers in [0, {n_tables})")
    dtype = np.uint8 if n_tables <= 256 else np.uint16 if n_tables <= _RADIX_KEYS else np.int32
    return idx.astype(dtype, copy=False)


def _as_int32(sym: np.ndarray) -> np.ndarray:
    if sym.dtype == np.int32:
        return sym
    if sym.size and (sym.min() < _INT32[0] or sym.max() > _INT32[1]):
        raise BadInputError("symbols must fit in int32")
    return sym.astype(np.int32)


_RADIX_KEYS = 1 << 16
"""numpy's stable argsort is a radix sort for integer keys of 16 bits or fewer and a merge
sort above: 6 ms against 40 ms for a million symbols, which e002f0a's int64 (part, table)
keys cost the encoder (4x its throughput)."""


def _groups(idx: np.ndarray, n_tables: int, sizes=None) -> tuple[np.ndarray, np.ndarray]:
    """Stable order grouping the symbols by (part, table), and one row ``(part, table,
    start, end)`` per non-empty group in that order. ``sizes``: consecutive parts
    (default one).

    Parts are consecutive runs, so blocks of whole parts are sorted separately with
    (part, table) keys that fit in 16 bits. Costs O(symbols) for any number of parts."""
    if sizes is None or sizes.size == 1:  # one part: the table index is the key
        return _sorted(idx, n_tables, 0, 0)
    per = max(1, _RADIX_KEYS // n_tables)  # parts per block
    ends = np.cumsum(sizes)
    blocks = []
    for p0 in range(0, sizes.size, per):
        p1 = min(p0 + per, sizes.size)
        a, b = int(ends[p0] - sizes[p0]), int(ends[p1 - 1])
        key = idx[a:b].astype(np.uint16) if p1 - p0 > 1 else idx[a:b]
        if p1 - p0 > 1:
            key += np.repeat(np.arange(p1 - p0, dtype=np.uint16) * np.uint16(n_tables),
                             sizes[p0:p1])
        blocks.append(_sorted(key, n_tables, p0, a, p1 - p0))
    return (np.concatenate([o for o, _ in blocks]) if blocks else np.zeros(0, np.intp),
            np.concatenate([g for _, g in blocks]) if blocks else np.zeros((0, 4), np.int64))


def _sorted(key: np.ndarray, n_tables: int, p0: int, a: int, parts: int = 1):
    """``_groups`` of one block of ``parts`` parts (the first is part ``p0``, at symbol
    ``a``)."""
    order, keys, ends = _runs(key, parts * n_tables)
    if a:
        order += a
    rows = np.empty((keys.size, 4), np.int64)
    rows[:, 0], rows[:, 1] = np.divmod(keys, n_tables)
    rows[:, 0] += p0
    rows[:, 3] = ends
    rows[:1, 2] = 0
    rows[1:, 2] = ends[:-1]
    rows[:, 2:] += a
    return order, rows


def _runs(key: np.ndarray, n_keys: int) -> tuple:
    """The stable order sorting ``key`` (values below ``n_keys``), and per run of equal
    keys in that order its key and end. Costs O(symbols) when keys are sparse (a
    bincount would cost O(n_keys)), a bincount when they are dense (cheaper)."""
    order = key.argsort(kind="stable")
    if key.size >= n_keys:
        counts = np.bincount(key)
        keys = counts.nonzero()[0]
        return order, keys, counts[keys].cumsum()
    ordered = key.take(order)
    change = np.empty(ordered.size, bool)
    change[-1:] = True
    np.not_equal(ordered[1:], ordered[:-1], out=change[:-1])
    ends = change.nonzero()[0]
    keys = ordered.take(ends)
    ends += 1
    return order, keys, ends


_LOOP_MEAN_GROUP = 256
"""Groups at least this large on average are offset in place one by one; smaller ones in
one pass with per-symbol bounds (which allocates two arrays: 1.2 ms more for 1M symbols)."""


def _per_symbol(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """A per-table value for every grouped symbol (a repeat per group, not a gather)."""
    return np.repeat(values[groups[:, 1]], groups[:, 3] - groups[:, 2])


class Encoder:
    """Collects coding calls in decode order, then writes them into one ANS stream.

    ANS is a stack, so ``finish()`` pushes the parts in reverse; the matching
    ``Decoder`` pops them in the order they were added. Use several parts in one
    stream when a decoder's later models depend on earlier symbols (hyperprior
    then latents, slice after slice, pixel after pixel).
    """

    def __init__(self):
        self._pushes = []
        self._crc = 0

    def indexed(self, symbols, indexes, tables, parts=None) -> None:
        """Integer ``symbols`` (any int32); symbol i uses table ``indexes[i]``.

        Symbols are grouped by table index and each group is coded with one model
        (the fast path). Values outside a table's support are escaped, never clipped.
        ``parts`` (sizes summing to the number of symbols): code the flat symbols as
        that many consecutive calls would, each read by its own ``Decoder.indexed``
        (for decoders whose later contexts depend on earlier parts), with one pass
        of numpy over all of them.
        """
        tables = _as_tables(tables)
        sym = np.asarray(symbols)
        if sym.size and not np.issubdtype(sym.dtype, np.integer):
            raise BadInputError("symbols must be integers (round(y - mu) for residuals)")
        idx = _check_indexes(indexes, len(tables), sym.shape).ravel()
        sym = _as_int32(sym).ravel()
        sizes = np.array([sym.size] if parts is None else parts, np.int64).ravel()
        if sizes.sum() != sym.size or (sizes.size and sizes.min() < 0):
            raise BadInputError(f"part sizes must be >= 0 and sum to {sym.size} symbols")
        order, groups = _groups(idx, len(tables), sizes)
        grouped = np.take(sym, order)
        # relative to each table's lowest value: wraps for far-out values, and as uint32 it
        # is below the table's support exactly when lo <= value < lo + support
        if len(groups) * _LOOP_MEAN_GROUP <= grouped.size:  # few large groups: in place
            where = []
            for _, k, start, end in groups.tolist():
                seg = grouped[start:end]
                seg -= tables.offsets32[k]
                esc = seg.view(np.uint32) >= int(tables.supports32[k])
                if esc.any():
                    where.append(start + np.flatnonzero(esc))
            where = np.concatenate(where) if where else None
        else:  # many small groups (many parts): per-symbol bounds in one pass
            grouped -= _per_symbol(tables.offsets32, groups)
            esc = grouped.view(np.uint32) >= _per_symbol(tables.supports32, groups)
            where = np.flatnonzero(esc) if esc.any() else None
        escapes = {}  # part -> its escape code (escapes in grouped order)
        if where is not None:
            group = groups[np.searchsorted(groups[:, 3], where, side="right")]
            ks = group[:, 1]
            values = grouped[where] + tables.offsets32[ks]  # wraps back to the originals
            for q in np.unique(group[:, 0]).tolist():
                mine = group[:, 0] == q
                escapes[q] = _split_escapes(values[mine], ks[mine], tables)
            grouped[where] = tables.supports32[ks]
        self._add(sym, lambda coder: _push_indexed(coder, grouped, groups.tolist(), tables,
                                                   escapes))

    def residuals(self, residuals, indexes, table: ScaleTable) -> None:
        """Gaussian/Laplace residuals ``round(y - mu)``, indexes from ``table.indexes(scales)``."""
        self.indexed(residuals, indexes, table)

    def categorical(self, symbols, probs) -> None:
        """``symbols[i]`` in ``[0, K)`` with its own probability vector ``probs[i]``
        (rows need not be normalised: constriction normalises them).

        ``probs`` may also be a function returning that (n, K) array, called only when
        the stream is written: for models whose probabilities for a whole stream are too
        big to keep but cheap to recompute from a small state (the decoder passes the
        array as usual). Zero probabilities are allowed: constriction gives every symbol
        at least the smallest representable mass, so any symbol in range is codable.
        """
        sym = np.asarray(symbols)
        if sym.size and not np.issubdtype(sym.dtype, np.integer):
            raise BadInputError("categorical symbols must be integers")
        sym = sym.astype(np.int64).ravel()
        if sym.size and sym.min() < 0:
            raise BadInputError("categorical symbols must be >= 0")
        s32 = sym.astype(np.int32)

        def checked(p):
            p = _check_probs(p, sym.size)
            if sym.size and sym.max() >= p.shape[1]:
                raise BadInputError(f"categorical symbols must lie in [0, {p.shape[1]})")
            return p

        if callable(probs):
            make = probs
        else:
            ready = checked(probs)
            make = (lambda: ready)
        if sym.size:
            self._add(sym, lambda coder: coder.encode_reverse(
                s32, _model.Categorical(perfect=False), checked(make())))

    def _add(self, sym: np.ndarray, push) -> None:
        self._crc = zlib.crc32(np.ascontiguousarray(sym, "<i4"), self._crc)  # no copy
        self._pushes.append(push)

    def finish(self) -> bytes:
        coder = constriction.stream.stack.AnsCoder()
        for push in reversed(self._pushes):
            push(coder)
        return _frame(self._crc, coder)


def _split_escapes(values: np.ndarray, ks: np.ndarray, tables: FrequencyTables):
    """The escape code parts of escaped ``values`` of tables ``ks``."""
    lo = tables.offsets[ks]
    return escape.split(values.astype(np.int64), lo, lo + tables.supports[ks] - 1)


def _push_indexed(coder, grouped, groups, tables, escapes) -> None:
    """Push the parts last to first; in each, the escapes first (the decoder reads them
    after the part's symbols), then the table groups in reverse."""
    models = _categoricals(tables)
    last = None
    for q, k, start, end in reversed(groups):
        if q != last and q in escapes:
            signs, nbits, values, sizes = escapes[q]
            if values.size:
                coder.encode_reverse(values, _model.Uniform(), sizes)
            coder.encode_reverse(nbits, _model.Uniform(escape.N_SIZE))
            coder.encode_reverse(signs, _model.Uniform(2))
        last = q
        coder.encode_reverse(grouped[start:end], models[k])


class Decoder:
    """Pops the parts an ``Encoder`` wrote, in the same order; ``finish()`` verifies."""

    def __init__(self, data):
        self._expected_crc, self._coder = _unframe(data)
        self._crc = 0

    def indexed(self, indexes, tables) -> np.ndarray:
        """int32 symbols shaped like ``indexes``.

        Kept lean (one sort, one decode per table, per-symbol work in a few whole-array
        steps): decoders with sequential contexts call it hundreds of times on small parts."""
        tables = _as_tables(tables)
        idx = _check_indexes(indexes, len(tables))
        order, ks, ends = _runs(idx.ravel(), len(tables))
        ends = ends.tolist()
        sizes = [end - start for start, end in zip([0] + ends, ends)]
        models = _categoricals(tables)
        with _panics_are_corruption():  # one guard for all groups: small calls add up
            parts = [self._coder.decode(models[k], n) for k, n in zip(ks.tolist(), sizes)]
        grouped = np.concatenate(parts) if parts else np.zeros(0, np.int32)
        bounds = _bounds(tables)[ks].repeat(sizes, axis=0)
        escaped = grouped == bounds[:, 1]  # the escape symbol: rare
        grouped += bounds[:, 0]
        if escaped.any():
            grouped[escaped] = self._decode_escapes(ks.repeat(sizes)[escaped], tables)
        sym = np.empty(idx.size, np.int32)
        sym[order] = grouped
        return self._got(sym).reshape(idx.shape)

    def _decode_escapes(self, ks: np.ndarray, tables: FrequencyTables) -> np.ndarray:
        """The values of the escaped symbols of tables ``ks`` (in their grouped order)."""
        coder = self._coder
        with _panics_are_corruption():
            signs = coder.decode(_model.Uniform(2), ks.size)
            nbits = coder.decode(_model.Uniform(escape.N_SIZE), ks.size)
        if nbits.max() > escape.MAX_BITS:
            raise CorruptStreamError("entropy stream is corrupt (bad escape)")
        sizes = escape.chunk_sizes(nbits)
        with _panics_are_corruption():
            values = coder.decode(_model.Uniform(), sizes) if sizes.size \
                else np.zeros(0, np.int32)
        lo = tables.offsets[ks]
        full = escape.join(signs, nbits, values, lo, lo + tables.supports[ks] - 1)
        if full.min() < _INT32[0] or full.max() > _INT32[1]:
            raise CorruptStreamError("entropy stream desynchronised (escape out of int32 range)")
        return full

    def residuals(self, indexes, table: ScaleTable) -> np.ndarray:
        return self.indexed(indexes, table)

    def categorical(self, probs) -> np.ndarray:
        p = np.ascontiguousarray(probs, dtype=np.float64)
        p = _check_probs(p, p.shape[0] if p.ndim == 2 else -1)
        if not p.shape[0]:
            return np.zeros(0, np.int32)
        with _panics_are_corruption():
            sym = self._coder.decode(_model.Categorical(perfect=False), p)
        return self._got(sym.astype(np.int32))

    def _got(self, sym: np.ndarray) -> np.ndarray:
        self._crc = zlib.crc32(np.ascontiguousarray(sym, "<i4"), self._crc)  # no copy
        return sym

    def finish(self) -> None:
        """Raise ``CorruptStreamError`` unless the stream was consumed exactly and the
        CRC of all decoded symbols matches the encoder's."""
        if not self._coder.is_empty():
            raise CorruptStreamError("entropy stream desynchronised (data left after decoding)")
        if self._crc != self._expected_crc:
            raise CorruptStreamError("entropy stream desynchronised (symbol CRC mismatch)")


# ---------------------------------------------------------------- one-shot helpers
def encode_indexed(symbols, indexes, tables) -> bytes:
    """One-part stream: see ``Encoder.indexed``."""
    enc = Encoder()
    enc.indexed(symbols, indexes, tables)
    return enc.finish()


def decode_indexed(data, indexes, tables) -> np.ndarray:
    dec = Decoder(data)
    out = dec.indexed(indexes, tables)
    dec.finish()
    return out


encode_residuals = encode_indexed
decode_residuals = decode_indexed


def channel_indexes(shape, axis: int = 1) -> np.ndarray:
    """Table index = channel number, broadcast to ``shape`` (for per-channel factorized tables)."""
    shape = tuple(shape)
    view = [1] * len(shape)
    view[axis] = shape[axis]
    return np.broadcast_to(np.arange(shape[axis], dtype=np.int32).reshape(view), shape)


# ---------------------------------------------------------------- categorical
def _check_probs(probs, n: int) -> np.ndarray:
    p = np.ascontiguousarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != n or (n and p.shape[1] < 2):
        raise BadInputError(f"probs must have shape ({n}, K>=2), got {p.shape}")
    # NaN/inf anywhere in a row makes its sum non-finite: two passes instead of three
    if n and (not np.isfinite(rows := p.sum(axis=1)).all() or rows.min() <= 0 or p.min() < 0):
        raise BadInputError("probabilities must be finite, non-negative, each row with positive mass")
    return p


def encode_categorical(symbols, probs) -> bytes:
    """One-part stream: see ``Encoder.categorical``."""
    enc = Encoder()
    enc.categorical(symbols, probs)
    return enc.finish()


def decode_categorical(data, probs) -> np.ndarray:
    """Inverse of ``encode_categorical`` (``probs`` must be bit-identical)."""
    dec = Decoder(data)
    out = dec.categorical(probs)
    dec.finish()
    return out
