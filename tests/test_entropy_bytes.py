"""Entropy layer output pinned byte for byte (issue 26).

Speed work on the encoder must not change a single byte: every codec's files, and the
golden ones, depend on it. The hashes were written by the code of 9e4d7fb (before the
encoder's speed-up); the inputs are seeded and the tables integer-defined.
"""

import hashlib

import numpy as np
import pytest

from lvc.entropy import (
    Decoder,
    Encoder,
    FrequencyTables,
    ScaleTable,
    encode_categorical,
    encode_indexed,
)

N = 20_000


def _residual_case():
    rng = np.random.default_rng(26)
    table = ScaleTable("gaussian")
    sigma = np.exp(rng.uniform(np.log(0.11), np.log(40.0), N))
    sym = np.round(rng.normal(0, sigma)).astype(np.int32)
    sym[rng.integers(0, N, 40)] = rng.integers(-(2**31), 2**31 - 1, 40, dtype=np.int64)
    sym[:2] = (2**31 - 1, -(2**31))  # escapes at the int32 extremes
    return sym, table.indexes(sigma), table.tables


def _factorized_tables(rng, channels=192):
    counts, offsets = [], []
    for c in range(channels):
        train = np.round(rng.laplace(0, 0.05 + c / 24, 2000)).astype(np.int64)
        lo = int(train.min())
        counts.append(np.bincount(train - lo))
        offsets.append(lo)
    return FrequencyTables.from_histograms(counts, offsets)


def _factorized_case():
    rng = np.random.default_rng(27)
    tables = _factorized_tables(rng)
    ch = np.repeat(np.arange(192), -(-N // 192))[:N]
    sym = np.round(rng.laplace(0, 0.05 + ch / 20)).astype(np.int32)
    return sym, ch, tables


def _parts_sizes(rng, n):
    cuts = np.sort(rng.integers(0, n + 1, 300))
    return np.diff(np.concatenate([[0], cuts, [n]]))  # empty parts included


def encoded(case: str) -> bytes:
    if case == "residual":
        return encode_indexed(*_residual_case())
    if case == "factorized":
        return encode_indexed(*_factorized_case())
    if case == "categorical":
        rng = np.random.default_rng(28)
        probs = rng.dirichlet(np.full(16, 0.3), 2000)
        probs[:, 3] = 0.0  # zero probabilities are allowed
        return encode_categorical(rng.integers(0, 16, 2000), probs)
    sym, idx, tables = _residual_case() if case == "parts-residual" else _factorized_case()
    enc = Encoder()
    enc.indexed(sym[:500], idx[:500], tables)  # an ordinary call before the many parts
    enc.indexed(sym[500:], idx[500:], tables,
                parts=_parts_sizes(np.random.default_rng(29), N - 500))
    return enc.finish()


PINNED = {
    "residual":
        "a32b51f2c15cecc904c09d944f8b438aef9c6afdce5573f4dbd555cf88b04a32",
    "factorized":
        "2a18a91084cc1e29c165ecf6ed591d9fb29f3fd03b18d96e6cd8ddcf29f56157",
    "categorical":
        "41e27cc2716da8bfc2d8b602670deb28198b1d5159696d550c4129be2f37739a",
    "parts-residual":
        "d4cc3b0963c17f62860624f94784decc4b4153fea20f7cc9e3dc959010c66d25",
    "parts-factorized":
        "4ca5e449f9c14f5dd8b6fdb57c02c7eceba7f5dab84ffe84679dad845494b98f",
}


@pytest.mark.parametrize("case", sorted(PINNED))
def test_bytes_unchanged(case):
    assert hashlib.sha256(encoded(case)).hexdigest() == PINNED[case]


def test_parts_decode_part_by_part():
    sym, idx, tables = _residual_case()
    sizes = _parts_sizes(np.random.default_rng(29), N - 500)
    dec = Decoder(encoded("parts-residual"))
    out = [dec.indexed(idx[:500], tables)]
    bounds = 500 + np.concatenate([[0], np.cumsum(sizes)])
    out += [dec.indexed(idx[a:b], tables) for a, b in zip(bounds[:-1], bounds[1:])]
    dec.finish()
    np.testing.assert_array_equal(np.concatenate(out), sym)


@pytest.mark.parametrize("n_tables", [64, 300])  # uint8 and int32 table indexes
def test_parts_over_several_sort_blocks(n_tables):
    """More parts than one 16-bit sort block holds: still the bytes of one call per part."""
    rng = np.random.default_rng(n_tables)
    tables = FrequencyTables.from_histograms(
        [rng.integers(1, 50, rng.integers(2, 9)) for _ in range(n_tables)],
        rng.integers(-4, 1, n_tables))
    sizes = rng.integers(0, 4, 3000)
    n = int(sizes.sum())
    sym = rng.integers(-6, 9, n).astype(np.int32)
    sym[::97] = 1 << 20  # some escapes
    idx = rng.integers(0, n_tables, n)
    one, per_part = Encoder(), Encoder()
    one.indexed(sym, idx, tables, parts=sizes)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for a, b in zip(bounds[:-1], bounds[1:]):
        per_part.indexed(sym[a:b], idx[a:b], tables)
    assert one.finish() == per_part.finish()


@pytest.mark.parametrize("case", sorted(PINNED))
def test_both_escape_paths_write_the_same_bytes(case, monkeypatch):
    """The encoder offsets symbols group by group (few large groups) or in one pass (many
    small ones); forcing either path changes nothing."""
    from lvc.entropy import coder

    for mean_group in (0, 10**9):  # 0: always the loop; 10**9: always the one pass
        monkeypatch.setattr(coder, "_LOOP_MEAN_GROUP", mean_group)
        assert hashlib.sha256(encoded(case)).hexdigest() == PINNED[case]
