"""Speech recognition task: pocketsphinx 5 with its bundled US-English model (offline).

The recogniser takes 16 kHz mono 16-bit PCM: decoded audio is mixed to mono and
resampled (polyphase, scipy) before recognition, the same way for the original, so
the comparison only sees what the codec changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .tasks import AudioTask, TextErrorRate, missing_module

RATE = 16000


def read_transcripts(folder: Path) -> dict:
    """Reference text by file stem: ``transcripts.txt`` ("stem text" lines) and
    ``metadata.csv`` (LJSpeech: "id|raw|normalised") in the folder, if present."""
    out = {}
    listing = folder / "transcripts.txt"
    if listing.is_file():
        for line in listing.read_text(encoding="utf-8").splitlines():
            name, _, text = line.strip().partition(" ")
            if name and text:
                out[name] = text
    meta = folder / "metadata.csv"
    if meta.is_file():
        for line in meta.read_text(encoding="utf-8").splitlines():
            fields = line.split("|")
            if len(fields) >= 3:
                out[fields[0]] = fields[2]
    return out


def to_16k_mono(media) -> np.ndarray:
    """float32 mono samples at 16 kHz of an audio ``Media`` (any dtype, rate, layout)."""
    from ...codecs.liveaction.signal_data import resample

    x = np.asarray(media.data)
    if x.dtype.kind in "iu":
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    x = x.astype(np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    return x if media.sample_rate == RATE else resample(x, media.sample_rate, RATE)


class ASR(TextErrorRate, AudioTask):
    """pocketsphinx on speech; metric: word error rate (normalised words), pooled over
    the dataset. Labels: ``transcripts.txt`` / ``metadata.csv`` in the dataset folder or
    a ``clip.txt`` next to ``clip.wav``."""

    name = "asr"
    metric = "wer"
    higher_is_better = False
    description = "pocketsphinx speech recognition: word error rate"

    def __init__(self):
        self._decoder = None
        self._texts: dict = {}

    def unavailable(self) -> str | None:
        return missing_module("pocketsphinx")

    def setup(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(samprate=RATE, loglevel="FATAL")

    def load(self, dataset: Path, limit: int | None = None) -> list:
        self._texts = read_transcripts(Path(dataset))
        return super().load(dataset, limit)

    def label(self, path: Path):
        side = path.with_suffix(".txt")
        if side.is_file():
            return side.read_text(encoding="utf-8").strip()
        return self._texts.get(path.stem)

    def predict(self, media) -> str:
        if self._decoder is None:
            self.setup()
        pcm = np.clip(np.round(to_16k_mono(media) * 32768), -32768, 32767).astype("<i2")
        self._decoder.start_utt()
        self._decoder.process_raw(pcm.tobytes(), full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp else ""
