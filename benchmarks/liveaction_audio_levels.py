"""Choose the quality levels of a trained LiVeAction audio checkpoint on training speech.

Why: a level is (channels sent, quantisation step); which pairs to ship is a choice
made after training, and it must not be made on the held-out clips that
``liveaction_audio.py`` reports on. This script exports the checkpoint once with every
candidate level (tables fitted on the training split, as for shipping), codes the
training LJSpeech clips (resampled to 16 kHz) at each, and prints rate (whole files),
SNR and pocketsphinx WER against its transcript of the uncompressed clip (the training
clips have no reference transcripts; ``metadata.csv`` covers the held-out ones only).

    python benchmarks/liveaction_audio_levels.py runs/liveaction-audio \
        --levels 32:2 48:2 64:2 32:1 48:1 64:3 --limit 12
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audio_common import DATA, Clip, fmt, progress, read, require_shared, set_threads, \
    table  # noqa: E402
from liveaction_audio import Recognizer, wer  # noqa: E402


def training_speech(limit: int | None) -> list:
    from lvc.codecs.liveaction.signal_data import audio_files

    files = [p for p in audio_files(DATA) if p.suffix == ".wav"][:limit]
    return [Clip(p.stem, *read(p, 16000)) for p in files]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="run folder holding checkpoint.safetensors")
    ap.add_argument("--levels", nargs="+", required=True, help="channels:step pairs")
    ap.add_argument("--limit", type=int, help="first N training clips")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    require_shared()
    set_threads(args.threads)
    from lvc.codecs.liveaction.train import parse_levels
    from lvc.codecs.liveaction.weights import checkpoint_meta, clear_cache, export_weights

    levels = parse_levels(args.levels)
    if len(levels) > 6:  # the codec's quality range is fixed by its spec (1..6)
        ap.error("at most 6 levels per run")
    codec = checkpoint_meta(Path(args.run) / "checkpoint.safetensors").get("codec")
    clips = training_speech(args.limit)
    asr = Recognizer()
    base = [asr(c.x) for c in clips]
    print(f"{len(clips)} training clips")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        export_weights(Path(args.run) / "checkpoint.safetensors", Path(tmp) / f"{codec}.safetensors",
                       rate_levels=levels)
        os.environ["LVC_WEIGHTS_DIR"] = tmp
        clear_cache()
        import lvc
        from lvc.formats.media import as_audio

        for q, (k, d) in enumerate(levels, 1):
            progress(f"level {k}:{d}")
            bits = sig = noise = 0.0
            hyps = []
            for c in clips:
                data = lvc.encode(as_audio(c.x, c.rate), codec, q)
                y = lvc.decode_media(data).data.reshape(-1)
                bits += 8 * len(data)
                sig += float(np.sum(c.x.astype(np.float64) ** 2))
                noise += float(np.sum((c.x.astype(np.float64) - y) ** 2))
                hyps.append(asr(y))
            seconds = sum(c.seconds for c in clips)
            rows.append([f"{k}:{d:g}", fmt(bits / seconds / 1000), fmt(10 * np.log10(sig / noise)),
                         fmt(wer(base, hyps))])
            print("  ".join(rows[-1]), flush=True)
    table(f"{codec} levels on training speech (16 kHz)",
          ["level", "kbps", "SNR dB", "WER/orig %"], rows)


if __name__ == "__main__":
    main()
