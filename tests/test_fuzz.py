"""Mutation fuzzing of the decoder: 10,000+ damaged files raise only lvc errors.

Three kinds of damage, from a corpus of valid files (entropy-coded and classical):
raw byte damage (caught by the container), payload damage with *recomputed*
checksums (reaches the codecs' own decoders), and header fields rewritten to
absurd values with valid checksums (limits, layout checks). Each decode must
finish within a deadline and allocate (numpy/Python, via tracemalloc) less than
a bound well below what the absurd declared sizes would need.
"""

import signal
import tracemalloc

import numpy as np
import pytest

import lvc
from lvc.errors import LVCError
from lvc.formats.container import DTYPES, MODALITIES, Header, Limits, pack, read_header, unpack

import toy_codec  # noqa: F401  (registers "toy-lossless")

N_INPUTS = 10_500
LIMITS = Limits(max_elements=1 << 20, max_streams=64, max_metadata=4096)
MAX_TRACED_BYTES = 48 << 20
DEADLINE_S = 10


def _corpus():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:24, 0:32]
    rgb = np.stack([(xx * 8) % 256, (yy * 10) % 256, (xx + yy) * 4 % 256], -1).astype(np.uint8)
    rgb = np.clip(rgb + rng.integers(-8, 8, rgb.shape), 0, 255).astype(np.uint8)
    rgba = np.concatenate([rgb, rgb[:, :, :1]], -1)
    audio = (np.sin(np.arange(1600) / 7.0)[:, None] * [8000, 5000]).astype(np.int16)
    files = [lvc.encode(rgb, codec="toy-lossless"), lvc.encode(rgb[:, :, 0], codec="toy-lossless")]
    for codec, x, kw in (("png", rgba, {}), ("jpeg", rgba, {}), ("webp", rgb, {}),
                         ("avif", rgb, {}), ("jpegxl", rgb, {}),
                         ("flac", audio, {"sample_rate": 16000}),
                         ("opus", audio.astype(np.float32) / 32768, {"sample_rate": 16000})):
        try:
            lvc.get_codec(codec)
        except LVCError:
            continue
        files.append(lvc.encode(x, codec=codec, **kw))
    try:  # the probabilistic-circuit codec: one 8x8 digit-like image and an image set
        lvc.get_codec("pc-hclt")
        digits = rng.integers(0, 17, (5, 8, 8)).astype(np.uint8)
        files.append(lvc.encode(digits[0], codec="pc-hclt"))
        files.append(lvc.encode_images(digits, [f"d{i}.png" for i in range(5)], codec="pc-hclt"))
    except LVCError:
        pass
    return files


def _raw_damage(data: bytes, rng) -> bytes:
    b = bytearray(data)
    kind = rng.integers(0, 6)
    if kind == 0:
        for _ in range(rng.integers(1, 9)):
            i = rng.integers(0, len(b))
            b[i] ^= 1 << rng.integers(0, 8)
    elif kind == 1:
        b = b[: rng.integers(0, len(b))]
    elif kind == 2:
        i = rng.integers(0, len(b))
        b[i:i] = rng.integers(0, 256, rng.integers(1, 16), dtype=np.uint8).tobytes()
    elif kind == 3:
        i = rng.integers(0, len(b))
        del b[i: i + rng.integers(1, 16)]
    elif kind == 4:
        b = bytearray(rng.integers(0, 256, rng.integers(0, 200), dtype=np.uint8).tobytes())
        if rng.random() < 0.5:
            b[:4] = b"\x89LVC"
    else:
        b += rng.integers(0, 256, rng.integers(1, 32), dtype=np.uint8).tobytes()
    return bytes(b)


def _mutate_stream(s: bytes, rng) -> bytes:
    if not s or rng.random() < 0.2:
        return rng.integers(0, 256, rng.integers(0, 64), dtype=np.uint8).tobytes()
    b = bytearray(s)
    if rng.random() < 0.3:
        return bytes(b[: rng.integers(0, len(b))])
    for _ in range(rng.integers(1, 6)):
        i = rng.integers(0, len(b))
        b[i] = rng.integers(0, 256)
    return bytes(b)


def _payload_damage(data: bytes, rng) -> bytes:
    """Corrupt stream content but keep every checksum valid."""
    h, streams = unpack(data)
    streams = list(streams)
    if streams:
        i = rng.integers(0, len(streams))
        streams[i] = _mutate_stream(streams[i], rng)
    if rng.random() < 0.1:
        streams = streams[:-1] if rng.random() < 0.5 else streams + [b"\x00" * 8]
    return pack(h, streams)


def _absurd_int(rng) -> int:
    return int(rng.choice([0, 1, 2, 3, 4, 7, 255, 256, 65535, 2**20, 2**31 - 1, 2**31, 2**40,
                           int(rng.integers(0, 5000))]))


def _header_damage(data: bytes, rng) -> bytes:
    """Rewrite header fields to absurd or inconsistent values, checksums valid."""
    h, streams = unpack(data)
    field = rng.integers(0, 7)
    if field == 0:
        h.shape = tuple(_absurd_int(rng) for _ in range(rng.integers(0, 9)))
    elif field == 1:
        h.shape = tuple(int(d) + int(rng.integers(-2, 3)) for d in h.shape if d + 2 > 0)
        h.shape = tuple(max(d, 0) for d in h.shape)
    elif field == 2:
        h.dtype = str(rng.choice(DTYPES))
    elif field == 3:
        h.modality = str(rng.choice(MODALITIES))
    elif field == 4:
        h.metadata = {"scale_index": [_absurd_int(rng) - 3 for _ in range(rng.integers(0, 5))],
                      "alpha": bool(rng.random() < 0.5)}
    elif field == 5:
        h.sample_rate = _absurd_int(rng) if rng.random() < 0.8 else None
    else:
        h.quality = _absurd_int(rng) - 1000
    h = Header(h.codec, h.modality, h.shape, h.dtype, h.quality, h.fingerprint, h.sample_rate,
               h.metadata)
    try:
        return pack(h, streams)
    except LVCError:  # unrepresentable header: damage the raw bytes instead
        return _raw_damage(data, rng)


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM")
def test_mutation_fuzz_only_raises_lvc_errors():
    corpus = _corpus()
    assert len(corpus) >= 8
    rng = np.random.default_rng(12345)
    damages = (_raw_damage, _payload_damage, _header_damage)
    counts = {"ok": 0, "lvc_error": 0}
    old = signal.signal(signal.SIGALRM, _alarm)
    tracemalloc.start()
    try:
        for i in range(N_INPUTS):
            data = damages[i % 3](corpus[rng.integers(0, len(corpus))], rng)
            tracemalloc.reset_peak()
            signal.alarm(DEADLINE_S)
            try:
                try:
                    read_header(data, LIMITS)
                except LVCError:
                    pass
                lvc.decode(data, LIMITS)
                counts["ok"] += 1
            except LVCError:
                counts["lvc_error"] += 1
            except _Hang:
                pytest.fail(f"input {i} did not finish within {DEADLINE_S}s: {data[:64]!r}")
            except BaseException as e:  # noqa: BLE001 - the point of the test
                pytest.fail(f"input {i} raised {type(e).__name__}: {e} (first bytes {data[:48]!r})")
            finally:
                signal.alarm(0)
            peak = tracemalloc.get_traced_memory()[1]
            assert peak < MAX_TRACED_BYTES, f"input {i} allocated {peak} bytes"
    finally:
        tracemalloc.stop()
        signal.signal(signal.SIGALRM, old)
    assert counts["ok"] + counts["lvc_error"] == N_INPUTS
    assert counts["lvc_error"] > N_INPUTS // 2  # most damage must be detected
