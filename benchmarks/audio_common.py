"""Shared pieces of the audio benchmarks (``liveaction_audio.py``, ``liveaction_multichannel.py``).

- held-out data (``lvc.codecs.liveaction.signal_data``) as ``Clip``s: float32 samples,
  ``(frames,)`` mono or ``(frames, channels)``;
- ``Coder``: one codec at one setting, ``encode(x, rate) -> [file bytes, ...]`` and
  ``decode(files) -> x``; every file is a whole ``.lvc`` file, so its rate counts the
  container. ``per_channel`` codes each channel as its own mono file. ``opus-kbps`` is
  lvc's own Opus codec (same libsndfile encoder, same ``.lvc`` container, decoded by
  ``lvc.decode_media``) at a target bitrate (its ``bitrate`` option) instead of an
  integer quality: quality 0..10 gives Opus at about 6, 31, 56, ... 256 kbps per
  channel, which leaves nothing between 8 and 30 kbps;
- ``measure``: rate, SNR, codec delay, speed of a coder over a set of clips;
- RD interpolation (``snr_at``, ``kbps_at``) on the Pareto front of a codec's points,
  linear in log-rate; ``table`` prints with rich.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from dataclasses import dataclass
from itertools import chain, zip_longest
from pathlib import Path
from typing import Callable

import numpy as np

import lvc
from lvc.codecs.liveaction.signal_data import audio_files, multichannel_files, resample
from lvc.formats.media import as_audio

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"


def require_shared() -> None:
    if not (DATA / "audio").is_dir():
        sys.exit(f"error: {DATA / 'audio'} not found (these benchmarks need ../shared next to "
                 "the repository)")


# ---------------------------------------------------------------- data
@dataclass
class Clip:
    name: str
    x: np.ndarray  # float32, (frames,) or (frames, channels)
    rate: int
    text: str | None = None  # reference transcript

    @property
    def seconds(self) -> float:
        return len(self.x) / self.rate


def read(path: Path, rate: int | None = None, mono: bool = True) -> tuple:
    """(float32 samples, rate) of an audio file, optionally mixed to mono / resampled."""
    import soundfile as sf

    x, r = sf.read(str(path), dtype="float32", always_2d=True)
    if mono:
        x = x.mean(axis=1)
    if rate and rate != r:
        x, r = resample(x.T, r, rate).T, rate
    return np.ascontiguousarray(x, np.float32), r


def transcripts() -> dict:
    """Reference text by clip name: the asr ``transcripts.txt`` and LJSpeech's normalised text."""
    speech = DATA / "audio" / "speech"
    out = {}
    for line in (speech / "asr" / "transcripts.txt").read_text().splitlines():
        if line.strip():
            name, text = line.split(maxsplit=1)
            out[name] = text
    for line in (speech / "ljspeech" / "metadata.csv").read_text(encoding="utf-8").splitlines():
        fields = line.split("|")
        if len(fields) >= 3:
            out[fields[0]] = fields[2]
    return out


def speech_clips(limit: int | None = None) -> list:
    """The held-out speech at 16 kHz mono: the 12 asr clips and LJ001-0001..0008 (resampled),
    interleaved (asr, LJ, asr, LJ, ...) so that ``limit`` takes from both."""
    files = [p for p in audio_files(DATA, held_out=True) if p.suffix == ".wav"]
    asr = [p for p in files if p.parent.name == "asr"]
    lj = [p for p in files if p.parent.name != "asr"]
    order = [p for p in chain(*zip_longest(asr, lj)) if p is not None][:limit]
    text = transcripts()
    return [Clip(p.stem, *read(p, 16000), text.get(p.stem)) for p in order]


def music_clips(limit: int | None = None, rate: int = 24000) -> list:
    """The held-out music clips, mono, resampled to ``rate`` (Opus and MP3 take 24 kHz)."""
    files = [p for p in audio_files(DATA, held_out=True) if p.suffix == ".ogg"][:limit]
    return [Clip(p.stem, *read(p, rate)) for p in files]


def multichannel_clips(limit: int | None = None) -> list:
    """The held-out 4-channel 16 kHz recordings, (frames, 4)."""
    files = multichannel_files(DATA, held_out=True)[:limit]
    return [Clip(p.stem, *read(p, mono=False)) for p in files]


# ---------------------------------------------------------------- coders
@dataclass
class Coder:
    codec: str  # label in the tables
    setting: float  # lvc quality, or target kbps per channel for opus-kbps
    encode: Callable  # (x, rate) -> list of file bytes
    decode: Callable  # list of file bytes -> x


def lvc_coder(codec: str, quality: int) -> Coder:
    return Coder(codec, quality, lambda x, rate: [lvc.encode(as_audio(x, rate), codec, quality)],
                 lambda files: lvc.decode_media(files[0]).data)


def opus_kbps_coder(kbps: float) -> Coder:
    """lvc's Opus codec at ``kbps`` per channel: its ``bitrate`` option (the whole
    stream's rate, all channels), so the level libsndfile is given is searched by the
    codec, exactly as ``codec encode -c opus --set bitrate=...`` does."""
    def encode(x, rate):
        channels = 1 if x.ndim == 1 else x.shape[1]
        return [lvc.encode(as_audio(x, rate), "opus", options={"bitrate": kbps * channels})]

    return Coder("opus-kbps", kbps, encode, lambda files: lvc.decode_media(files[0]).data)


def per_channel(coder: Coder) -> Coder:
    """Each channel of ``x`` as its own mono file."""
    def encode(x, rate):
        return [f for c in range(x.shape[1]) for f in coder.encode(np.ascontiguousarray(x[:, c]),
                                                                    rate)]

    def decode(files):
        return np.stack([coder.decode([f]) for f in files], axis=1)

    return Coder(f"{coder.codec}/ch", coder.setting, encode, decode)


def make_coder(codec: str, setting) -> Coder:
    return opus_kbps_coder(setting) if codec == "opus-kbps" else lvc_coder(codec, setting)


# ---------------------------------------------------------------- measurement
def snr_db(signal: float, noise: float) -> float:
    return 10 * math.log10(signal / noise) if noise > 0 else math.inf


def best_lag(x: np.ndarray, y: np.ndarray, max_lag: int) -> int:
    """The shift (samples) at which ``y`` best matches ``x``: ``y[t + lag] ~ x[t]``
    (cross-correlation summed over channels, searched within +-max_lag)."""
    from scipy.signal import correlate

    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    corr = sum(correlate(y[:, c], x[:, c], mode="full", method="fft") for c in range(x.shape[1]))
    mid, m = len(x) - 1, min(max_lag, len(x) - 1)
    return int(np.argmax(corr[mid - m: mid + m + 1])) - m


def shifted(y: np.ndarray, lag: int) -> np.ndarray:
    """``y`` moved ``lag`` samples earlier (zero-filled), so that it lines up with ``x``."""
    out = np.zeros_like(y)
    n = len(y)
    if lag >= 0:
        out[:n - lag] = y[lag:]
    else:
        out[-lag:] = y[:n + lag]
    return out


def measure(coder: Coder, clips: list, max_lag: int = 3000) -> tuple:
    """(row, decoded arrays) of ``coder`` on ``clips``. Row: whole-file kbps (total bits /
    total seconds), SNR aggregated over the set and mean per-clip SNR, the per-clip codec
    delay (``lags``) with the SNR after compensating it, encode/decode samples per second
    (all channels; total samples / total wall time, after an untimed warm-up)."""
    warm = clips[0].x[:clips[0].rate]
    coder.decode(coder.encode(warm, clips[0].rate))
    bits = enc_t = dec_t = 0.0
    sig = err = err_aligned = 0.0
    snrs, lags, decoded = [], [], []
    for clip in clips:
        t0 = time.perf_counter()
        files = coder.encode(clip.x, clip.rate)
        t1 = time.perf_counter()
        y = coder.decode(files)
        t2 = time.perf_counter()
        enc_t, dec_t = enc_t + t1 - t0, dec_t + t2 - t1
        bits += 8 * sum(len(f) for f in files)
        x, y = clip.x.astype(np.float64), np.asarray(y, np.float64).reshape(clip.x.shape)
        s, e = float(np.sum(x * x)), float(np.sum((x - y) ** 2))
        lag = best_lag(x, y, max_lag)
        sig, err, err_aligned = sig + s, err + e, err_aligned + float(
            np.sum((x - shifted(y, lag)) ** 2))
        snrs.append(snr_db(s, e))
        lags.append(lag)
        decoded.append(y.astype(np.float32))
    samples = sum(c.x.size for c in clips)
    row = {"codec": coder.codec, "setting": coder.setting,
           "kbps": bits / sum(c.seconds for c in clips) / 1000,
           "snr": snr_db(sig, err), "mean_snr": float(np.mean(snrs)), "lags": lags,
           "snr_aligned": snr_db(sig, err_aligned),
           "encode_sps": samples / enc_t, "decode_sps": samples / dec_t}
    return row, decoded


def sweep(codecs: list, settings: dict, clips: list, max_lag: int, separate=(), label=""):
    """Yield ``measure``'s (row, decoded) for every codec and setting (codecs in
    ``separate``: one mono file per channel). A codec whose weights are not installed
    is skipped with one message; any other failure skips that setting."""
    from lvc.errors import CodecUnavailableError

    for codec in codecs:
        for setting in settings[codec]:
            coder = make_coder(codec, setting)
            coder = per_channel(coder) if codec in separate else coder
            progress(f"{label}{coder.codec} {setting}: {len(clips)} clips")
            try:
                result = measure(coder, clips, max_lag)
            except CodecUnavailableError as e:
                progress(f"  skipping {codec}: {str(e).splitlines()[0]}")
                break
            except Exception as e:  # e.g. a rate or channel count the codec refuses
                progress(f"  skipped: {type(e).__name__}: {str(e).splitlines()[0]}")
                continue
            yield result


def lag_text(lags: list) -> str:
    lo, hi = min(lags), max(lags)
    return str(lo) if lo == hi else f"{lo}..{hi}"


# ---------------------------------------------------------------- RD interpolation
def pareto(points: list) -> list:
    """(kbps, snr) points that no cheaper point beats, by rate: both coordinates increase."""
    front = []
    for r, s in sorted(p for p in points if math.isfinite(p[1])):
        if not front or s > front[-1][1]:
            if front and r == front[-1][0]:
                front.pop()
            front.append((r, s))
    return front


def curves(rows: list, groups: dict) -> dict:
    """codec -> [(kbps, snr)] of ``rows``, plus each ``groups`` entry (name -> codec
    labels) as the union of its codecs' points (e.g. Opus by quality and by kbps)."""
    out = {}
    for r in rows:
        out.setdefault(r["codec"], []).append((r["kbps"], r["snr"]))
    for name, codecs in groups.items():
        points = [p for c in codecs for p in out.get(c, [])]
        if points:
            out[name] = points
    return out


def snr_at(points: list, kbps: float) -> float | None:
    """SNR at ``kbps``, linear in log-rate on the Pareto front; None outside it."""
    front = pareto(points)
    for (r0, s0), (r1, s1) in zip(front, front[1:]):
        if r0 <= kbps <= r1:
            return s0 + (s1 - s0) * math.log(kbps / r0) / math.log(r1 / r0)
    return front[0][1] if len(front) == 1 and front[0][0] == kbps else None


def kbps_at(points: list, snr: float) -> float | None:
    """The rate reaching ``snr``, log-rate linear in SNR on the Pareto front; None outside."""
    front = pareto(points)
    for (r0, s0), (r1, s1) in zip(front, front[1:]):
        if s0 <= snr <= s1:
            return math.exp(math.log(r0) + math.log(r1 / r0) * (snr - s0) / (s1 - s0))
    return front[0][0] if len(front) == 1 and front[0][1] == snr else None


# ---------------------------------------------------------------- output
def fmt(v, digits: int = 1) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "inf" if math.isinf(v) else f"{v:.{digits}f}"
    return str(v)


def ksps(v: float) -> str:
    return f"{v / 1e3:,.0f}"


def table(title: str, columns: list, rows: list) -> None:
    """Print ``rows`` (lists of cells, already text) under ``columns`` with rich."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = Table(box=box.SIMPLE_HEAD)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[fmt(v) if not isinstance(v, str) else v for v in r])
    console = Console(width=max(shutil.get_terminal_size((160, 24)).columns, 100))
    console.print()
    console.print(Text(title, style="bold"))
    console.print(t)


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(doc: str, settings: dict, limit_help: str, argv=None) -> tuple:
    """The options both audio benchmarks take -> (args, codecs); checks the codec names
    and ``../shared``, sets the torch threads and says which weights are used."""
    import argparse
    import os

    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help=limit_help)
    ap.add_argument("--codecs", default=",".join(settings),
                    help=f"comma-separated, from {','.join(settings)}")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--max-lag", type=int, default=3000, help="delay search, samples")
    ap.add_argument("--json", metavar="OUT", help="write all rows to this JSON file")
    args = ap.parse_args(argv)
    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    unknown = [c for c in codecs if c not in settings]
    if unknown:
        sys.exit(f"error: unknown codec(s) {', '.join(unknown)} (known: {', '.join(settings)})")
    require_shared()
    set_threads(args.threads)
    print(f"weights: {os.environ.get('LVC_WEIGHTS_DIR') or 'assets/weights'}")
    return args, codecs


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)
