"""Fuzz every registered codec's decoder: mutated files decoded each in its own process
under an address-space limit and a timeout; counts per codec and outcome, peak RSS.

    python benchmarks/fuzz.py --count 10000 [--workers 2] [--as-gib 3] [--timeout 60]

The corpus is one or two small valid files of every available codec (zoo codecs with
``LVC_ZOO_RANDOM=1``; the shipped weights for the others). Each input is one mutation
of ``lvc.eval.fuzz`` (raw damage, payload damage with valid checksums, absurd header
fields, streams duplicated/dropped/swapped). A warm parent (everything imported, every
model loaded) forks one child per input: the child sets ``RLIMIT_AS`` and an alarm,
decodes, and exits 0 (decoded), 10 (an lvc error: the one line a user would see), 11
(an out-of-memory error reported as one line) or 20 (anything else: a traceback).
A child killed by a signal or by the alarm is a kill or a hang. Peak RSS is the
child's own (``wait4``), which includes what it shares with the warm parent; the
parent's RSS at fork time is printed beside it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("LVC_ZOO_RANDOM", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import lvc  # noqa: E402
from lvc.errors import LVCError, out_of_memory  # noqa: E402
from lvc.eval.fuzz import MUTATIONS  # noqa: E402
from lvc.formats.container import read_header  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUTCOMES = ("decoded", "lvc error", "out of memory (one line)", "traceback", "hang", "killed")


def corpus() -> list:
    """(codec, bytes) of small valid files of every codec available here."""
    from lvc.codecs.registry import all_codecs

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    rgb = np.stack([(xx * 4) % 256, (yy * 5) % 256, (xx + yy) * 2 % 256], -1).astype(np.uint8)
    rgb = np.clip(rgb + rng.integers(-8, 8, rgb.shape), 0, 255).astype(np.uint8)
    rgba = np.concatenate([rgb, rgb[:, :, :1]], -1)
    mono = (np.sin(np.arange(8000) / 7.0) * 8000).astype(np.int16)
    four = (np.sin(np.arange(8000)[:, None] / [5.0, 7.0, 9.0, 11.0]) * 6000).astype(np.int16)
    cube = (np.abs(np.sin(np.arange(16 * 16 * 12) / 9.0)) * 4000).astype(np.uint16) \
        .reshape(16, 16, 12)
    volume = (np.arange(24 * 24 * 24) % 200).astype(np.uint8).reshape(24, 24, 24)
    digits = rng.integers(0, 17, (4, 8, 8)).astype(np.uint8)
    files = []
    for cid, info in sorted(all_codecs().items()):
        if not info.available:
            continue
        lo, hi = info.quality_range
        q = min(max(lo, 1), hi)
        try:
            if info.modality == "audio":
                x = four if cid == "liveaction-audio4" else mono
                if cid in ("opus", "vorbis", "mp3"):
                    x = x.astype(np.float32) / 32768
                files.append((cid, lvc.encode(x, codec=cid, quality=q, sample_rate=16000)))
            elif info.modality == "hyperspectral":
                files.append((cid, lvc.encode(cube, codec=cid, quality=q)))
            elif info.modality == "volume":
                files.append((cid, lvc.encode(volume, codec=cid, quality=q)))
            elif cid == "pc-hclt":
                files.append((cid, lvc.encode(digits[0], codec=cid)))
                files.append((cid, lvc.encode_images(digits, [f"{i}.png" for i in range(4)],
                                                     codec=cid)))
            else:
                files.append((cid, lvc.encode(rgb, codec=cid, quality=q)))
                if cid in ("png", "jpeg", "liveaction-rgb"):
                    files.append((cid, lvc.encode(rgba, codec=cid, quality=q)))
        except LVCError as e:
            print(f"corpus: {cid} skipped ({e})", file=sys.stderr)
    return files


def child(data: bytes, as_bytes: int, timeout: int) -> None:
    """In the forked child: limits, decode, exit with the outcome's code. The alarm's
    default action kills the child even inside C code (a Python handler inherited from
    the parent would not run there), and torch runs single-threaded: an OpenMP pool the
    parent started does not survive a fork."""
    resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(timeout)
    code = 0
    try:
        try:
            read_header(data)
        except LVCError:
            pass
        lvc.decode(data)
    except LVCError:
        code = 10
    except BaseException as e:  # noqa: BLE001 - what the fuzz run is looking for
        code = 11 if out_of_memory(e) else 20
        if code == 20:
            sys.stderr.write(f"{type(e).__name__}: {str(e)[:200]}\n")
    os._exit(code)


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--as-gib", type=float, default=3.0)
    ap.add_argument("--timeout", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the counts and peaks here")
    args = ap.parse_args(argv)
    files = corpus()
    for _, data in files:  # load every model in the parent, so children start warm
        try:
            lvc.decode(data)
        except LVCError:
            pass
    parent_rss = rss_kib() / 1024
    rng = np.random.default_rng(args.seed)
    counts = collections.defaultdict(collections.Counter)
    running, peak, peak_small, slowest, started = {}, 0.0, 0.0, 0.0, time.time()
    tracebacks = []

    def reap():
        nonlocal peak, peak_small, slowest
        pid, status, usage = os.wait4(-1, 0)
        cid, size, t0 = running.pop(pid)
        seconds = time.time() - t0
        if os.WIFSIGNALED(status):
            outcome = "hang" if os.WTERMSIG(status) == signal.SIGALRM else "killed"
        else:
            outcome = {0: "decoded", 10: "lvc error", 11: "out of memory (one line)"}.get(
                os.WEXITSTATUS(status), "traceback")
        counts[cid][outcome] += 1
        mib = usage.ru_maxrss / 1024
        peak = max(peak, mib)
        if size <= 64 * 1024:
            peak_small = max(peak_small, mib)
            slowest = max(slowest, seconds)
        if outcome == "traceback":
            tracebacks.append(cid)

    for i in range(args.count):
        cid, data = files[i % len(files)]  # every file in turn, each mutation in turn
        mutated = MUTATIONS[(i // len(files)) % len(MUTATIONS)](data, rng)
        while len(running) >= args.workers:
            reap()
        pid = os.fork()
        if pid == 0:
            child(mutated, int(args.as_gib * 2**30), args.timeout)
        running[pid] = (cid, len(mutated), time.time())
    while running:
        reap()
    total = collections.Counter()
    print(f"{args.count} mutated files of {len(files)} valid ones ({len(counts)} codecs), "
          f"RLIMIT_AS {args.as_gib:g} GiB, timeout {args.timeout} s, "
          f"{(time.time() - started) / 60:.1f} min")
    print("| codec | " + " | ".join(OUTCOMES) + " |\n|---|" + "---:|" * len(OUTCOMES))
    for cid in sorted(counts):
        total.update(counts[cid])
        print(f"| {cid} | " + " | ".join(str(counts[cid][o]) for o in OUTCOMES) + " |")
    print("| all | " + " | ".join(str(total[o]) for o in OUTCOMES) + " |")
    print(f"peak RSS of a decoding child: {peak:.0f} MiB (files <= 64 KiB: {peak_small:.0f} "
          f"MiB; the warm parent they fork from holds {parent_rss:.0f} MiB); slowest "
          f"decode of a file <= 64 KiB: {slowest:.1f} s")
    from lvc.codecs.registry import all_codecs

    available = sorted(c for c, info in all_codecs().items() if info.available)
    result = {"available": available, "counts": {k: dict(v) for k, v in counts.items()},
              "total": dict(total),
              "peak_mib": peak, "peak_small_mib": peak_small, "slowest_s": slowest,
              "parent_mib": parent_rss}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
