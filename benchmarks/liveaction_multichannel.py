"""Joint 4-channel LiVeAction vs coding each channel separately (Opus, Vorbis, mono LiVeAction).

    OMP_NUM_THREADS=1 python benchmarks/liveaction_multichannel.py [--limit N] [--codecs a,b]
        [--threads 1] [--max-lag 3000] [--json OUT]

The issue's acceptance item: "Multichannel: one model codes a 4-channel recording
jointly; compare total bitrate at equal SNR with coding each channel separately by Opus."

Data: the two held-out 4-channel 16 kHz recordings
(``signal_data.multichannel_files(held_out=True)``), float32; ``--limit N`` keeps the
first N. The LiVeAction weights are ``$LVC_WEIGHTS_DIR`` when set, else ``assets/weights``.

Codecs (``--codecs``, default all):
- liveaction-audio4: the 4-channel joint model, one ``.lvc`` file, qualities 1..6;
- liveaction-audio: the mono model, one ``.lvc`` file whose channels it codes one by
  one, qualities 1..6;
- opus/ch, vorbis/ch: every channel as its own mono ``.lvc`` file (bytes summed), at lvc
  qualities; opus-kbps/ch: the same with lvc's Opus at a target bitrate per channel
  (lvc's integer Opus qualities give ~8, 30, 55, 80 kbps per channel and nothing between;
  see ``audio_common.py``).

Numbers: kbps = total bits of all files (all channels, whole files) / total seconds;
SNR = 10 log10(sum x^2 / sum (x - x_hat)^2) over all channels of all recordings, and
the mean of the per-recording SNRs (dB); lag / SNR@lag = the shift that best aligns
the decoded audio (0 = no codec delay) and the SNR after undoing it; enc/dec kS/s =
thousands of samples (all channels) per second. Then the total kbps each codec needs
for 5, 10, 15 and 20 dB (log-rate interpolated on its Pareto front; n/a outside the
measured range) and the joint model's rate saving, 100 (1 - joint kbps / other kbps)
%, against Opus per channel (the front of opus/ch and opus-kbps/ch together) and
against the mono LiVeAction model.
"""

from __future__ import annotations

import json
import os

from audio_common import (parse_args, curves, kbps_at, ksps, lag_text, multichannel_clips,
                         sweep, table)

SETTINGS = {
    "liveaction-audio4": [1, 2, 3, 4, 5, 6],
    "liveaction-audio": [1, 2, 3, 4, 5, 6],
    "opus": [0, 1, 2, 3],
    "opus-kbps": [8, 10, 12, 16, 20, 24, 32, 48, 64],  # target kbps per channel
    "vorbis": [0, 1, 2, 3, 4, 6, 8, 10],
}
JOINT = "liveaction-audio4"
SEPARATE = ("opus", "opus-kbps", "vorbis")  # coded as one mono file per channel
OPUS_ALL = {"opus (all)/ch": ("opus/ch", "opus-kbps/ch")}
SNRS = (5, 10, 15, 20)


def main(argv=None) -> None:
    args, codecs = parse_args(__doc__, SETTINGS, "recordings (default both)", argv)

    clips = multichannel_clips(args.limit)
    rows = [row for row, _ in sweep(codecs, SETTINGS, clips, args.max_lag, SEPARATE)]

    seconds = sum(c.seconds for c in clips)
    table(f"{len(clips)} recordings x {clips[0].x.shape[1]} channels, {seconds:.1f} s at "
          f"{clips[0].rate} Hz ({', '.join(c.name for c in clips)})",
          ["codec", "q/kbps", "total kbps", "SNR dB", "mean SNR", "lag", "SNR@lag",
           "enc kS/s", "dec kS/s"],
          [[r["codec"], str(r["setting"]), r["kbps"], r["snr"], r["mean_snr"],
            lag_text(r["lags"]), r["snr_aligned"], ksps(r["encode_sps"]),
            ksps(r["decode_sps"])] for r in rows])

    c = curves(rows, OPUS_ALL)
    need = {codec: {s: kbps_at(pts, s) for s in SNRS} for codec, pts in c.items()}
    table("total kbps needed for a given SNR (interpolated in log-rate)",
          ["codec"] + [f"{s} dB" for s in SNRS],
          [[codec] + [need[codec][s] for s in SNRS] for codec in need])

    saving = {}
    for other in ("opus (all)/ch", "liveaction-audio"):
        if JOINT in need and other in need:
            saving[other] = {s: None if need[JOINT][s] is None or need[other][s] is None
                             else 100 * (1 - need[JOINT][s] / need[other][s]) for s in SNRS}
    table(f"rate saving of {JOINT} (joint) at equal SNR, % (positive: joint is smaller)",
          ["against"] + [f"{s} dB" for s in SNRS],
          [[other] + [v[s] for s in SNRS] for other, v in saving.items()])
    if "opus (all)/ch" in saving:
        done = {s: v for s, v in saving["opus (all)/ch"].items() if v is not None}
        print("joint vs Opus per channel: "
              + ("; ".join(f"{s} dB: {need[JOINT][s]:.1f} vs {need['opus (all)/ch'][s]:.1f} "
                           f"kbps ({v:+.1f}%)" for s, v in done.items())
                 or "no SNR reached by both in the measured range"))
    lags = sorted({lag for r in rows for lag in r["lags"]})
    print(f"codec delay: lags found {lags} samples (0 = aligned; SNR is uncompensated)")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"weights": os.environ.get("LVC_WEIGHTS_DIR") or "assets/weights",
                       "limit": args.limit, "threads": args.threads,
                       "clips": [c.name for c in clips], "rows": rows, "kbps_at_snr": need,
                       "saving_percent": saving}, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
