"""Entropy layer: property-based round trips, escapes, CRC desync detection, determinism."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvc.entropy import (
    Decoder,
    Encoder,
    FrequencyTables,
    ScaleTable,
    channel_indexes,
    decode_categorical,
    decode_indexed,
    encode_categorical,
    encode_indexed,
    quantize_pmf,
)
from lvc.errors import BadInputError, CorruptStreamError

INT32 = st.integers(-(2**31), 2**31 - 1)
GAUSS = ScaleTable("gaussian")
LAPLACE = ScaleTable("laplace", np.exp(np.linspace(np.log(0.2), np.log(50), 12)))
HIST = FrequencyTables.from_histograms(
    [np.array([1, 5, 20, 5, 1]), np.array([3, 1]), np.arange(1, 40)], offsets=[-2, 0, -100])
PROP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def small_or_huge():
    """Mostly in-support values with occasional escapes up to the int32 extremes."""
    return st.one_of(st.integers(-6, 6), st.integers(-3000, 3000), INT32,
                     st.sampled_from([2**31 - 1, -(2**31), 2**31 - 2, -(2**31) + 1]))


@st.composite
def indexed_case(draw, tables):
    n = draw(st.integers(0, 60))
    k = len(tables)
    sym = draw(st.lists(small_or_huge(), min_size=n, max_size=n))
    idx = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    return np.array(sym, dtype=np.int64), np.array(idx, dtype=np.int64)


@pytest.mark.parametrize("tables", [GAUSS, LAPLACE, HIST], ids=["gaussian", "laplace", "histogram"])
def test_indexed_roundtrip_property(tables):
    @PROP
    @given(indexed_case(tables))
    def check(case):
        sym, idx = case
        data = encode_indexed(sym, idx, tables)
        out = decode_indexed(data, idx, tables)
        assert out.dtype == np.int32 and out.shape == sym.shape
        np.testing.assert_array_equal(out, sym)

    check()


@PROP
@given(n=st.integers(1, 60), k=st.integers(2, 300), seed=st.integers(0, 2**32 - 1),
       zeros=st.floats(0, 0.95), skew=st.floats(0.1, 30))
def test_categorical_roundtrip_property(n, k, seed, zeros, skew):
    rng = np.random.default_rng(seed)
    probs = rng.random((n, k)) ** skew
    probs[rng.random((n, k)) < zeros] = 0.0  # exact zeros: still codable
    probs[np.arange(n), rng.integers(0, k, n)] += 1e-3  # every row keeps some mass
    sym = rng.integers(0, k, n)  # any symbol in range, whatever its probability
    data = encode_categorical(sym, probs)
    np.testing.assert_array_equal(decode_categorical(data, probs), sym)


def test_empty_and_single_symbol_streams():
    for tables in (GAUSS, HIST):
        empty = encode_indexed(np.zeros(0, np.int32), np.zeros(0, np.int32), tables)
        assert len(empty) == 4  # only the symbol CRC
        assert decode_indexed(empty, np.zeros(0, np.int32), tables).size == 0
        one = encode_indexed(np.array([3]), np.array([len(tables) - 1]), tables)
        assert decode_indexed(one, np.array([len(tables) - 1]), tables).tolist() == [3]
    e = encode_categorical(np.zeros(0, np.int32), np.zeros((0, 5)))
    assert decode_categorical(e, np.zeros((0, 5))).size == 0


def test_escapes_reach_int32_extremes_without_clipping():
    extremes = np.array([2**31 - 1, -(2**31), 0, 1, -1, 10**9, -(10**9)], dtype=np.int64)
    for k in range(len(GAUSS)):
        idx = np.full(extremes.shape, k)
        np.testing.assert_array_equal(decode_indexed(encode_indexed(extremes, idx, GAUSS), idx,
                                                     GAUSS), extremes)


@pytest.mark.parametrize("tables", [LAPLACE, HIST], ids=["laplace", "histogram"])
def test_parts_equal_consecutive_calls(tables):
    """``indexed(..., parts=sizes)`` writes the bytes of one call per part, and a
    decoder reading part by part gets every part back (escapes included)."""
    @PROP
    @given(indexed_case(tables), st.lists(st.integers(0, 25), max_size=6))
    def check(case, cuts):
        sym, idx = case
        edges = sorted({0, sym.size, *(min(c, sym.size) for c in np.cumsum(cuts))})
        sizes = np.diff(edges)
        one, per_part = Encoder(), Encoder()
        one.indexed(sym, idx, tables, parts=sizes)
        for a, b in zip(edges, edges[1:]):
            per_part.indexed(sym[a:b], idx[a:b], tables)
        data = one.finish()
        assert data == per_part.finish()
        dec = Decoder(data)
        for a, b in zip(edges, edges[1:]):
            np.testing.assert_array_equal(dec.indexed(idx[a:b], tables), sym[a:b])
        dec.finish()

    check()


def test_mixed_tables_multi_part_stream():
    """Hyperprior-style: a factorized part, then residuals, then categorical, one stream."""
    rng = np.random.default_rng(1)
    z = rng.integers(-3, 3, size=(3, 4, 5))
    zi = channel_indexes((3, 4, 5), axis=0) % len(HIST)
    sig = np.exp(rng.uniform(-2, 3, size=(2, 8, 8)))
    idx = GAUSS.indexes(sig)
    y = np.round(rng.normal(0, sig)).astype(np.int32)
    probs = rng.random((17, 9))
    c = rng.integers(0, 9, 17)
    enc = Encoder()
    enc.indexed(z, zi, HIST)
    enc.residuals(y, idx, GAUSS)
    enc.categorical(c, probs)
    data = enc.finish()
    dec = Decoder(data)
    np.testing.assert_array_equal(dec.indexed(zi, HIST), z)
    np.testing.assert_array_equal(dec.residuals(idx, GAUSS), y)
    np.testing.assert_array_equal(dec.categorical(probs), c)
    dec.finish()


def test_rate_close_to_information_content():
    rng = np.random.default_rng(0)
    sig = np.exp(rng.uniform(np.log(0.2), np.log(30), 200_000))
    idx = GAUSS.indexes(sig)
    y = np.round(rng.normal(0, sig)).astype(np.int32)
    bits = 8 * len(encode_indexed(y, idx, GAUSS))
    ideal = GAUSS.tables.information_bits(y, idx)
    assert ideal < bits < ideal * 1.0005 + 64


def test_desync_is_detected_not_garbage():
    rng = np.random.default_rng(2)
    sig = np.exp(rng.uniform(-1, 3, 5000))
    idx = GAUSS.indexes(sig)
    y = np.round(rng.normal(0, sig)).astype(np.int32)
    data = encode_indexed(y, idx, GAUSS)
    wrong = np.minimum(idx.astype(np.int64) + 1, len(GAUSS) - 1)  # decoder's scales off by one step
    with pytest.raises(CorruptStreamError):
        decode_indexed(data, wrong, GAUSS)
    probs = rng.random((300, 16))
    s = rng.integers(0, 16, 300)
    cdata = encode_categorical(s, probs)
    other = probs.copy()
    other[:, 0] += 0.3
    with pytest.raises(CorruptStreamError):
        decode_categorical(cdata, other)


@pytest.mark.parametrize("mutate", ["flip", "truncate", "extend", "garbage"])
def test_corrupt_streams_raise_lvc_errors(mutate):
    rng = np.random.default_rng(3)
    sig = np.exp(rng.uniform(-1, 3, 2000))
    idx = GAUSS.indexes(sig)
    y = np.round(rng.normal(0, sig)).astype(np.int32)
    data = bytearray(encode_indexed(y, idx, GAUSS))
    if mutate == "flip":
        data[len(data) // 2] ^= 0x10
    elif mutate == "truncate":
        data = data[:-4]
    elif mutate == "extend":
        data += b"\x01\x00\x00\x00"
    else:
        data = bytearray(rng.integers(0, 256, len(data), dtype=np.uint8).tobytes())
    with pytest.raises(CorruptStreamError):
        decode_indexed(bytes(data), idx, GAUSS)


def test_bad_inputs_are_bad_input_errors():
    with pytest.raises(BadInputError):
        encode_indexed(np.array([1.5]), np.array([0]), GAUSS)
    with pytest.raises(BadInputError):
        encode_indexed(np.array([1]), np.array([len(GAUSS)]), GAUSS)
    with pytest.raises(BadInputError):
        encode_indexed(np.array([2**31]), np.array([0]), GAUSS)
    for negative in (np.array([0, -1]), np.array([-128], np.int8)):  # checked as unsigned
        with pytest.raises(BadInputError):
            encode_indexed(np.zeros(negative.size, np.int32), negative, GAUSS)
        with pytest.raises(BadInputError):
            decode_indexed(encode_indexed(np.zeros(1, np.int32), [0], GAUSS), negative, GAUSS)
    with pytest.raises(BadInputError):
        encode_categorical(np.array([5]), np.ones((1, 5)))
    with pytest.raises(BadInputError):
        encode_categorical(np.array([0]), np.zeros((1, 5)))  # no mass at all
    with pytest.raises(BadInputError):
        encode_categorical(np.array([0]), np.array([[np.nan, 1.0]]))
    with pytest.raises(BadInputError):
        ScaleTable("cauchy")
    for sizes in ([1, 2], [3, -1], [2, 1, 0, -1]):
        with pytest.raises(BadInputError):
            Encoder().indexed(np.array([1, 2]), np.array([0, 0]), GAUSS, parts=sizes)


def test_quantize_pmf_properties():
    rng = np.random.default_rng(4)
    for n in (1, 2, 7, 300, 5000):
        p = rng.random(n) ** 8
        f = quantize_pmf(p)
        assert f.min() >= 1 and f.sum() == 1 << 16


def test_tables_freeze_to_arrays_and_fingerprint_is_pinned():
    again = FrequencyTables.from_arrays(GAUSS.tables.to_arrays())
    assert again.fingerprint() == GAUSS.tables.fingerprint()
    # The default Gaussian scale table is part of the bitstream format: pin it.
    assert GAUSS.tables.fingerprint()[:16] == _PINNED_GAUSSIAN


def test_scale_indexes_round_up_like_compressai():
    s = GAUSS.scales
    assert GAUSS.indexes(np.array([s[3]]))[0] == 3
    assert GAUSS.indexes(np.array([s[3] * 1.0001]))[0] == 4
    assert GAUSS.indexes(np.array([1e9, -1.0, np.nan])).tolist() == [len(s) - 1, 0, 0]


def test_compressai_entropy_bottleneck_tables():
    torch = pytest.importorskip("torch")
    from compressai.entropy_models import EntropyBottleneck

    torch.manual_seed(0)
    eb = EntropyBottleneck(4)
    eb.update(force=True)
    tables = FrequencyTables.from_entropy_bottleneck(eb)
    assert len(tables) == 4
    rng = np.random.default_rng(5)
    z = rng.integers(-20, 20, size=(1, 4, 6, 6))
    idx = channel_indexes(z.shape, axis=1)
    np.testing.assert_array_equal(decode_indexed(encode_indexed(z, idx, tables), idx, tables), z)


_CROSS = textwrap.dedent("""
    import sys, numpy as np
    from lvc.entropy import ScaleTable, encode_indexed, decode_indexed, encode_categorical
    rng = np.random.default_rng(7)
    t = ScaleTable()
    sig = np.exp(rng.uniform(-2, 4, 20000)); idx = t.indexes(sig)
    y = np.round(rng.normal(0, sig)).astype(np.int32); y[:3] = [2**31 - 1, -2**31, 99999]
    p = rng.random((500, 40)); c = rng.integers(0, 40, 500)
    if sys.argv[1] == "encode":
        sys.stdout.buffer.write(encode_indexed(y, idx, t) + encode_categorical(c, p))
    else:
        data = sys.stdin.buffer.read()
        n = len(encode_indexed(y, idx, t))
        from lvc.entropy import decode_categorical
        ok = (decode_indexed(data[:n], idx, t) == y).all() and (decode_categorical(data[n:], p) == c).all()
        print("ok" if ok else "mismatch")
""")


def test_bytes_identical_across_processes_and_thread_counts():
    outs = []
    for threads in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
                   OPENBLAS_NUM_THREADS=threads, PYTHONHASHSEED=threads)
        outs.append(subprocess.run([sys.executable, "-c", _CROSS, "encode"], env=env,
                                   capture_output=True, check=True).stdout)
    assert outs[0] == outs[1]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="3")
    res = subprocess.run([sys.executable, "-c", _CROSS, "decode"], input=outs[0], env=env,
                         capture_output=True, check=True)
    assert res.stdout.strip() == b"ok"


_PINNED_GAUSSIAN = "a81349ce8102e9a3"
