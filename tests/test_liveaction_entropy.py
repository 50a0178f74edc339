"""LiVeAction latent entropy model: round trips, escapes, freezing, determinism, gains.

Numpy only (the module must not need torch)."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from lvc.codecs.liveaction.entropy import LatentTables, decode_latents, encode_latents, \
    latent_bits, synthetic_latents
from lvc.entropy import FrequencyTables, channel_indexes
from lvc.errors import BadInputError, CorruptStreamError

CHANNELS = 16


@pytest.fixture(scope="module")
def train():
    # 20 channels given, 16 fitted: extra channels are ignored
    return synthetic_latents(60, CHANNELS + 4, 16, 24, seed=0)


@pytest.fixture(scope="module")
def tables(train):
    return LatentTables.fit(train, CHANNELS)


def roundtrip(q, tables):
    data = encode_latents(q, tables)
    out = decode_latents(data, q.shape, tables)
    assert out.dtype == np.int32 and out.shape == q.shape
    np.testing.assert_array_equal(out, q)
    return data


@pytest.mark.parametrize("shape", [(1, 1, 1), (CHANNELS, 1, 1), (1, 5, 7), (3, 1, 9), (4, 8, 1),
                                   (7, 2, 2), (CHANNELS, 13, 17), (CHANNELS, 24, 32), (2, 0, 5),
                                   (0, 4, 4)])
def test_roundtrip_shapes(tables, shape):
    k, h, w = shape
    q = synthetic_latents(1, CHANNELS, max(h, 1), max(w, 1), seed=sum(shape))[0][:k, :h, :w]
    roundtrip(np.ascontiguousarray(q), tables)


def test_roundtrip_any_integer_dtype(tables):
    q = synthetic_latents(1, 6, 9, 11, seed=3)[0]
    for dtype in (np.int8, np.int16, np.int64):
        assert encode_latents(q.astype(dtype), tables) == encode_latents(q, tables)


def test_escapes_roundtrip(tables):
    q = synthetic_latents(1, CHANNELS, 10, 12, seed=4)[0].astype(np.int64)
    q[0, 0, 0] = 2**31 - 1
    q[1, 3, 4] = -(2**31)
    q[2, 5, 5] = 1000
    q[5, 1, 2] = -777
    q[CHANNELS - 1, 9, 11] = 128
    roundtrip(q, tables)


def test_to_arrays_roundtrip_same_bytes(tables):
    arrays = tables.to_arrays()
    assert all(isinstance(v, np.ndarray) and v.dtype.kind == "i" for v in arrays.values())
    again = LatentTables.from_arrays({k: v.copy() for k, v in arrays.items()})
    assert again.channels == tables.channels
    assert again.tables.fingerprint() == tables.tables.fingerprint()
    q = synthetic_latents(1, CHANNELS, 16, 24, seed=5)[0]
    data = encode_latents(q, tables)
    assert encode_latents(q, again) == data
    np.testing.assert_array_equal(decode_latents(data, q.shape, again), q)


def test_from_arrays_rejects_unknown_layout(tables):
    arrays = tables.to_arrays()
    arrays["layout"] = arrays["layout"] + 1
    with pytest.raises(BadInputError):
        LatentTables.from_arrays(arrays)
    del arrays["layout"]
    with pytest.raises(BadInputError):
        LatentTables.from_arrays(arrays)


_CHILD = """
import hashlib, sys
import numpy as np
from lvc.codecs.liveaction.entropy import LatentTables, decode_latents, encode_latents, \\
    synthetic_latents
with np.load(sys.argv[1]) as f:
    tables = LatentTables.from_arrays(dict(f))
q = synthetic_latents(1, 16, 24, 32, seed=6)[0]
data = encode_latents(q, tables)
assert np.array_equal(decode_latents(open(sys.argv[2], "rb").read(), q.shape, tables), q)
assert "torch" not in sys.modules
print(hashlib.sha256(data).hexdigest())
"""


def test_bytes_identical_across_processes(tables, tmp_path):
    q = synthetic_latents(1, CHANNELS, 24, 32, seed=6)[0]
    data = encode_latents(q, tables)
    np.savez(tmp_path / "tables.npz", **tables.to_arrays())
    (tmp_path / "stream").write_bytes(data)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "tables.npz"),
                          str(tmp_path / "stream")], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == hashlib.sha256(data).hexdigest()


def test_corrupt_stream_raises(tables):
    q = synthetic_latents(1, CHANNELS, 16, 16, seed=7)[0]
    data = encode_latents(q, tables)
    rng = np.random.default_rng(0)
    for pos in [0, 2, 5, len(data) // 2, len(data) - 5] + list(rng.integers(0, len(data), 20)):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        with pytest.raises(CorruptStreamError):
            decode_latents(bytes(bad), q.shape, tables)
    for cut in (0, 3, 4, len(data) - 4):
        with pytest.raises(CorruptStreamError):
            decode_latents(data[:cut], q.shape, tables)
    with pytest.raises(CorruptStreamError):  # decoded with the wrong shape
        decode_latents(data, (CHANNELS, 16, 15), tables)


def test_bad_input(tables):
    with pytest.raises(BadInputError):  # more channels than the tables cover
        encode_latents(np.zeros((CHANNELS + 1, 2, 2), np.int32), tables)
    with pytest.raises(BadInputError):
        decode_latents(b"", (CHANNELS + 1, 2, 2), tables)
    with pytest.raises(BadInputError):
        encode_latents(np.zeros((2, 2, 2), np.float32), tables)
    with pytest.raises(BadInputError):
        encode_latents(np.zeros((2, 2), np.int32), tables)
    with pytest.raises(BadInputError):
        LatentTables.fit([np.zeros((3, 4, 4), np.int32)], 4)


def test_context_beats_per_channel_table(train, tables):
    test = synthetic_latents(4, CHANNELS, 24, 32, seed=8)
    vals = np.concatenate([q[:CHANNELS].reshape(CHANNELS, -1) for q in train], 1).astype(np.int64)
    lo, hi = vals.min(1), vals.max(1)
    plain = FrequencyTables.from_histograms(
        [np.bincount(v - a, minlength=b - a + 1) for v, a, b in zip(vals, lo, hi)], lo, 0.05)
    context = sum(latent_bits(q, tables) for q in test)
    flat = sum(plain.information_bits(q, channel_indexes(q.shape, 0)) for q in test)
    assert context < 0.97 * flat


def test_latent_bits_matches_stream(tables):
    q = np.concatenate(synthetic_latents(1, CHANNELS, 32, 48, seed=9))
    q[3, 4, 5] = 5000  # an escape is counted too
    ideal = latent_bits(q, tables)
    real = 8 * len(encode_latents(q, tables))
    assert abs(real - ideal) <= 0.001 * ideal + 64


def test_prediction_is_exact_at_the_bounds():
    """The float64 matrix products in the predictor are exact integer arithmetic even
    with the largest weights and feature values the tables allow, with O(q) given apart
    (the encoder) or as a row of the features (the decoder)."""
    from lvc.codecs.liveaction import entropy as E

    rng = np.random.default_rng(0)
    k, m = E.MAX_CHANNELS, 64
    w = rng.choice([-E._MAX_WEIGHT, E._MAX_WEIGHT, -1, 1], size=(3, 2 + 2 * k)).astype(np.int64)
    q = rng.choice([-E._LIMIT, E._LIMIT, 1], size=(k, m)).astype(np.int64)
    full = rng.choice([-12 * E._LIMIT, 12 * E._LIMIT, -5], size=(k, m)).astype(np.int64)
    own = rng.integers(-12 * E._LIMIT, 12 * E._LIMIT, size=(3, m))
    exact = [[(sum(int(w[i, 2 + 2 * j]) * int(q[j, t]) + int(w[i, 3 + 2 * j]) * int(full[j, t])
                   for j in range(k)) + int(w[i, 0]) + int(w[i, 1]) * int(own[i, t])
               + (1 << (E.SHIFT - 1))) >> E.SHIFT for t in range(m)] for i in range(3)]
    x = E._prediction_features(k, m)
    x[2::2], x[3::2] = q, full
    wf = E._float_weights(w)
    assert E._predict(wf, x, own).tolist() == exact
    for i in range(3):
        x[1] = own[i]
        assert E._predict(wf[i], x).tolist() == exact[i]


@pytest.mark.parametrize("h, w", [(1, 1), (2, 3), (5, 7), (8, 8), (13, 17), (32, 48)])
def test_pyramid_passes_partition_and_only_look_back(h, w):
    """The decode order visits every position once, pass after pass; every pass
    neighbour inside the latent was decoded in an earlier pass (what lets the decoder
    use it), the others point at the zero sentinel; N4 in that order is N4 in the plane."""
    from lvc.codecs.liveaction import entropy as E

    layout = E._layout(h, w)
    n = h * w
    assert sorted(layout.order.tolist()) == list(range(n))
    assert (layout.inverse[layout.order] == np.arange(n)).all()
    passes = layout.passes
    assert len(passes) == E.PASSES and passes[0].start == 0 and passes[-1].end == n
    assert all(a.end == b.start for a, b in zip(passes, passes[1:]))
    for s, (_, offsets) in zip(passes[1:], E._pass_masks(h, w)[1:]):
        inside = s.neighbours < n
        assert (s.neighbours[inside] < s.start).all()
        assert (s.neighbours[~inside] == n).all()
        assert inside.any(0).all()  # never a position without a neighbour
        rows, cols = np.divmod(layout.order[s.at], w)
        for t, (di, dj) in enumerate(offsets):  # the neighbour at each offset
            r, c = rows + di, cols + dj
            assert (inside[t] == ((r >= 0) & (r < h) & (c >= 0) & (c < w))).all()
            assert (layout.order[s.neighbours[t][inside[t]]] == (r * w + c)[inside[t]]).all()
    a = np.random.default_rng(h * w).integers(-9, 9, (h, w))
    padded = np.pad(a, 1)
    ones = np.pad(np.ones((h, w), np.int64), 1)
    total, count = (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] for p in (padded, ones))
    got = E._n4(E._planes(a.ravel()[layout.order]), layout)[layout.inverse].reshape(h, w)
    np.testing.assert_array_equal(got, 12 * total // np.maximum(count, 1))
