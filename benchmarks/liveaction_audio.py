"""LiVeAction audio vs Opus, Vorbis and MP3 at matched bitrates on held-out speech and music.

    OMP_NUM_THREADS=1 python benchmarks/liveaction_audio.py [--limit N] [--codecs a,b]
        [--threads 1] [--max-lag 3000] [--json OUT]

The issue's acceptance item: "LiVeAction vs Opus, MP3 and Vorbis at matched bitrates
(kbps) on held-out speech and music: SNR and a speech-recognition word error rate
(pocketsphinx, offline) on the decoded speech clips with transcripts; encoding speed
in samples per second. Target: better SNR than Opus at equal bitrate at some rate
below 32 kbps, and WER within 5 points of the uncompressed audio at 16 kbps or less."

Data (held-out, ``lvc.codecs.liveaction.signal_data``): speech = the 12 asr clips
(16 kHz) and LJ001-0001..0008 resampled to 16 kHz, interleaved so ``--limit`` takes
from both; music = the 2 held-out music clips resampled to 24 kHz; all mono float32.
``--limit N`` keeps the first N clips of each set. The LiVeAction weights are
``$LVC_WEIGHTS_DIR`` when set, else ``assets/weights``.

Codecs (``--codecs``, default all): liveaction-audio at qualities 1..6; opus, vorbis,
mp3 at lvc qualities; opus-kbps = lvc's Opus at target bitrates (see
``audio_common.py``: lvc's integer Opus qualities give ~8, 30, 55, 80 kbps and nothing
between). Per codec and setting, over each set:

- kbps: whole ``.lvc`` files, total bits / total seconds;
- SNR: 10 log10(sum x^2 / sum (x - x_hat)^2) over the whole set (aggregate), and the
  mean of the per-clip SNRs, both in dB;
- lag: the per-clip shift of the decoded audio that best matches the input
  (cross-correlation within +-``--max-lag`` samples; 0 = lvc already removed the codec
  delay), and "SNR@lag", the aggregate SNR after undoing that shift. SNR is the
  uncompensated number; "SNR@lag" only tells whether a delay hides a better one;
- WER (speech clips with a transcript): pocketsphinx (offline, en-us) on the decoded
  audio; word-level Levenshtein distance / reference words, summed over clips, in %,
  against the reference transcript ("WER") and against pocketsphinx's transcript of
  the original audio ("WER/orig", which isolates the codec's damage). Text is
  lowercased with punctuation stripped. The uncompressed baseline prints first;
- enc/dec kS/s: thousands of samples per second (wall time of lvc.encode /
  lvc.decode_media over the set, one untimed warm-up first), ``--threads`` torch threads.

Then the SNR of each codec interpolated at 6..32 kbps (linear in log-rate between
points on its Pareto front; n/a outside the measured range) and PASS/FAIL lines: (1)
LiVeAction's SNR above Opus's (the front of opus and opus-kbps together) at some rate
below 32 kbps, per set; (2) some LiVeAction quality at <= 16 kbps on speech whose WER
is within 5 points of the uncompressed WER.
"""

from __future__ import annotations

import json
import os

import numpy as np

from lvc.eval.mpq_metrics import normalize_text, word_error_rate

from audio_common import (parse_args, curves, fmt, kbps_at, ksps, lag_text, music_clips,
                         snr_at, speech_clips, sweep, table)

SETTINGS = {
    "liveaction-audio": [1, 2, 3, 4, 5, 6],
    "opus": [0, 1, 2, 3],
    "opus-kbps": [8, 10, 12, 16, 20, 24, 32, 48, 64],  # target kbps, not a quality
    "vorbis": [0, 1, 2, 3, 4, 6, 8, 10],
    "mp3": [0, 1, 2, 3, 4, 6, 8, 10],
}
RATES = (6, 8, 12, 16, 24, 32)
LIVEACTION = "liveaction-audio"
OPUS_ALL = {"opus (all)": ("opus", "opus-kbps")}  # one Opus curve from both sweeps


# ---------------------------------------------------------------- word error rate
def wer(refs: list, hyps: list) -> float | None:
    """Aggregate WER in %: total word errors / total reference words
    (``lvc.eval.mpq_metrics``, after its text normalisation)."""
    return 100 * word_error_rate(list(refs), list(hyps)) if refs else None


class Recognizer:
    """pocketsphinx 5 with its bundled en-us model, on 16 kHz mono float audio."""

    def __init__(self):
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=16000, loglevel="FATAL")

    def __call__(self, x: np.ndarray) -> str:
        pcm = np.clip(np.round(x * 32768), -32768, 32767).astype("<i2")
        self.decoder.start_utt()
        self.decoder.process_raw(pcm.tobytes(), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp else ""


# ---------------------------------------------------------------- run
def run_set(name: str, clips: list, codecs: list, args, asr=None, base=None) -> list:
    """Measure every codec/setting on ``clips``; WER too when ``asr`` is given."""
    rows = []
    for row, decoded in sweep(codecs, SETTINGS, clips, args.max_lag, label=f"{name}: "):
        if asr:
            keep = [i for i, c in enumerate(clips) if c.text]
            hyps = [asr(decoded[i]) for i in keep]
            row["wer"] = wer([clips[i].text for i in keep], hyps)
            row["wer_orig"] = wer([base[i] for i in keep], hyps)
            row["transcripts"] = hyps
        rows.append(row)
    cols = ["codec", "q/kbps", "kbps", "SNR dB", "mean SNR", "lag", "SNR@lag"]
    cols += ["WER %", "WER/orig %"] if asr else []
    cols += ["enc kS/s", "dec kS/s"]
    out = []
    for r in rows:
        cells = [r["codec"], str(r["setting"]), r["kbps"], r["snr"], r["mean_snr"],
                 lag_text(r["lags"]), r["snr_aligned"]]
        cells += [r["wer"], r["wer_orig"]] if asr else []
        out.append(cells + [ksps(r["encode_sps"]), ksps(r["decode_sps"])])
    seconds = sum(c.seconds for c in clips)
    table(f"{name}: {len(clips)} clips, {seconds:.1f} s at {clips[0].rate} Hz", cols, out)
    return rows


def target_snr(name: str, rows: list) -> dict:
    """Target 1 on one set: LiVeAction's SNR above Opus's at some rate below 32 kbps
    (checked every 0.5 kbps from 4 to 31.5)."""
    c = curves(rows, OPUS_ALL)
    if LIVEACTION not in c or "opus (all)" not in c:
        print(f"target 1 [{name}]: n/a (needs {LIVEACTION} and opus)")
        return {"set": name, "pass": None}
    best = None
    for kbps in np.arange(4.0, 32.0, 0.5):
        la, op = snr_at(c[LIVEACTION], kbps), snr_at(c["opus (all)"], kbps)
        if la is not None and op is not None and (best is None or la - op > best[1] - best[2]):
            best = (float(kbps), la, op)
    if best is None:
        print(f"target 1 [{name}]: FAIL: the LiVeAction and Opus curves share no rate below "
              "32 kbps")
        return {"set": name, "pass": False}
    ok = best[1] > best[2]
    print(f"target 1 [{name}]: {'PASS' if ok else 'FAIL'}: best margin at {best[0]:.1f} kbps: "
          f"{LIVEACTION} {best[1]:.2f} dB vs Opus {best[2]:.2f} dB ({best[1] - best[2]:+.2f} dB)")
    return {"set": name, "pass": ok, "kbps": best[0], "snr": best[1], "opus_snr": best[2]}


def target_wer(rows: list, base_wer: float | None) -> dict:
    """Target 2: a LiVeAction quality at <= 16 kbps on speech within 5 WER points of the
    uncompressed audio."""
    if not any(r["codec"] == LIVEACTION for r in rows):
        print(f"target 2 [speech]: n/a (needs {LIVEACTION})")
        return {"pass": None}
    cands = [r for r in rows if r["codec"] == LIVEACTION and r["kbps"] <= 16
             and r.get("wer") is not None]
    if base_wer is None or not cands:
        print(f"target 2 [speech]: FAIL: no {LIVEACTION} quality at <= 16 kbps with a WER "
              f"(rates: {', '.join(fmt(r['kbps']) for r in rows if r['codec'] == LIVEACTION)})")
        return {"pass": False}
    r = min(cands, key=lambda r: r["wer"])
    ok = r["wer"] - base_wer <= 5
    print(f"target 2 [speech]: {'PASS' if ok else 'FAIL'}: {LIVEACTION} q{r['setting']} at "
          f"{r['kbps']:.1f} kbps: WER {r['wer']:.1f}% vs uncompressed {base_wer:.1f}% "
          f"({r['wer'] - base_wer:+.1f} points; WER/orig {fmt(r['wer_orig'])}%)")
    return {"pass": ok, "quality": r["setting"], "kbps": r["kbps"], "wer": r["wer"],
            "base_wer": base_wer}


def main(argv=None) -> None:
    args, codecs = parse_args(__doc__, SETTINGS, "clips per set (default all)", argv)

    speech, music = speech_clips(args.limit), music_clips(args.limit)
    asr = Recognizer()
    texted = [c for c in speech if c.text]
    base = [asr(c.x) if c.text else None for c in speech]
    base_wer = wer([c.text for c in texted], [b for b in base if b is not None])
    print(f"uncompressed speech: WER {fmt(base_wer)}% on {len(texted)} clips with transcripts "
          f"({sum(len(normalize_text(c.text).split()) for c in texted)} words)")

    sets = {"speech": run_set("speech", speech, codecs, args, asr, base),
            "music": run_set("music", music, codecs, args)}

    for name, rows in sets.items():
        c = curves(rows, OPUS_ALL)
        table(f"{name}: SNR (dB) at fixed rates, interpolated in log-rate",
              ["codec"] + [f"{k} kbps" for k in RATES],
              [[codec] + [snr_at(pts, k) for k in RATES] for codec, pts in c.items()])
    results = [target_snr(name, rows) for name, rows in sets.items()]
    ok = [r["pass"] for r in results]
    print(f"target 1 [speech and music]: "
          f"{'n/a' if None in ok else 'PASS' if all(ok) else 'FAIL'}")
    wer_target = target_wer(sets["speech"], base_wer)
    lags = {lag for rows in sets.values() for r in rows for lag in r["lags"]}
    print(f"codec delay: lags found {sorted(lags)} samples (0 = aligned; SNR is uncompensated)")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"weights": os.environ.get("LVC_WEIGHTS_DIR") or "assets/weights",
                       "limit": args.limit, "threads": args.threads,
                       "baseline": {"wer": base_wer, "transcripts": base,
                                    "clips": [c.name for c in speech]},
                       "sets": {n: {"clips": [c.name for c in cl], "rows": sets[n]}
                                for n, cl in (("speech", speech), ("music", music))},
                       "snr_at_kbps": {n: {codec: {k: snr_at(p, k) for k in RATES}
                                           for codec, p in curves(rows, OPUS_ALL).items()}
                                       for n, rows in sets.items()},
                       "kbps_at_snr": {n: {codec: {s: kbps_at(p, s) for s in (10, 15, 20)}
                                           for codec, p in curves(rows, OPUS_ALL).items()}
                                       for n, rows in sets.items()},
                       "target_snr": results, "target_wer": wer_target}, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
