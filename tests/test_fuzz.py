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
from lvc.eval.fuzz import header_damage, payload_damage, raw_damage
from lvc.formats.container import Limits, read_header

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


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM")
def test_mutation_fuzz_only_raises_lvc_errors():
    corpus = _corpus()
    assert len(corpus) >= 8
    rng = np.random.default_rng(12345)
    damages = (raw_damage, payload_damage, header_damage)
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


def test_every_codec_survives_a_forked_fuzz_subset(tmp_path):
    """A fast subset of ``benchmarks/fuzz.py``, in its own process (forking from the test
    process would inherit its threads and signal handlers): every registered codec's
    file (learned ones included, zoo with random weights) mutated and decoded in forked
    children under a 3 GiB address-space limit; peak RSS comes from the children."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    if not hasattr(os, "fork"):
        pytest.skip("needs fork")
    out = tmp_path / "fuzz.json"
    done = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "benchmarks" /
                                               "fuzz.py"), "--count", "120", "--seed", "3",
                           "--json", str(out)], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "LVC_ZOO_RANDOM": "1", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    total = result["total"]
    assert sum(total.values()) == 120
    assert total.get("traceback", 0) == total.get("hang", 0) == total.get("killed", 0) == 0
    assert set(result["counts"]) == set(result["available"])  # every codec's files
    assert result["peak_small_mib"] < 2048 and result["slowest_s"] < 10
