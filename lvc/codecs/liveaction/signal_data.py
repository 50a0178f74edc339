"""Training and held-out data of the non-image LiVeAction models (``signals.SPECS``).

Everything comes from ``../shared/datasets`` (``root``); what is held out for
evaluation is fixed here, so training, export (table fitting) and the benchmarks
agree:

- ``liveaction-audio``: trains on LJSpeech LJ001-0009..0032 (22.05 kHz, plus a 16 kHz
  resampled copy of each) and 5 of the 7 music clips; holds out the 12 ``asr`` clips
  (16 kHz, transcripts), LJ001-0001..0008 (transcripts) and the music clips
  ``Kevin_MacLeod_-_Vibe_Ace`` and ``sorohanro_-_solo-trumpet-06``.
- ``liveaction-audio4``: trains on ``noise_diffuse`` and ``speech_-0.98894_0_0.14834``;
  holds out the other two 4-channel recordings.
- ``liveaction-hsi``: trains on Jasper Ridge rows 0-69 and Urban columns 0-53; holds
  out Jasper rows 70-99 and Urban columns 54-77 (each cube scaled by its own range).
- ``liveaction-volume``: trains on MNI152, CT_AVM and MR_Gd; holds out chris_MRA.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import BadInputError, MissingFileError
from .signals import audio_gain, cube_axes, to_unit, value_range

ROOT = Path("../shared/datasets")
HELD_OUT_MUSIC = ("Kevin_MacLeod_-_Vibe_Ace", "sorohanro_-_solo-trumpet-06")
HELD_OUT_LJ = tuple(f"LJ001-{i:04d}" for i in range(1, 9))
MC_TRAIN = ("noise_diffuse", "speech_-0.98894_0_0.14834")
VOLUME_HELD_OUT = ("chris_MRA",)
CUBE_SPLITS = {  # file stem -> (axis, first held-out index) in (H, W, bands)
    "jasper_ridge_100x100x198_uint16": (0, 70),
    "urban_sub_34x78x162_f64": (1, 54),
}


def _need(path: Path) -> Path:
    if not path.exists():
        raise MissingFileError(f"{path}: training data not found (is ../shared there?)")
    return path


def _audio(path: Path) -> tuple:
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data.T.copy(), rate  # (channels, frames)


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling along the last axis (scipy), float32."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return resample_poly(x, target // g, rate // g, axis=-1).astype(np.float32)


def audio_files(root=ROOT, held_out: bool = False) -> list:
    """The mono model's training (or held-out) files, sorted."""
    root = Path(root) / "audio"
    lj = sorted(_need(root / "speech" / "ljspeech").glob("*.wav"))
    music = sorted(_need(root / "music").glob("*.ogg"))
    if held_out:
        return (sorted((root / "speech" / "asr").glob("*.wav"))
                + [p for p in lj if p.stem in HELD_OUT_LJ]
                + [p for p in music if p.stem in HELD_OUT_MUSIC])
    return [p for p in lj if p.stem not in HELD_OUT_LJ] + \
           [p for p in music if p.stem not in HELD_OUT_MUSIC]


def multichannel_files(root=ROOT, held_out: bool = False) -> list:
    files = sorted(_need(Path(root) / "audio" / "multichannel").glob("*.flac"))
    return [p for p in files if (p.stem in MC_TRAIN) != held_out]


def cube_parts(root=ROOT, held_out: bool = False) -> list:
    """(name, (H, W, bands) array) of each cube's training or held-out part."""
    out = []
    for stem, (axis, cut) in CUBE_SPLITS.items():
        cube = np.load(_need(Path(root) / "hyperspectral" / f"{stem}.npy"), allow_pickle=False)
        part = cube[cut:] if axis == 0 else cube[:, cut:]
        if not held_out:
            part = cube[:cut] if axis == 0 else cube[:, :cut]
        out.append((stem, np.ascontiguousarray(part)))
    return out


def volume_files(root=ROOT, held_out: bool = False) -> list:
    files = sorted(_need(Path(root) / "volumes").glob("*.nii.gz"))
    return [p for p in files if (p.name.split(".")[0] in VOLUME_HELD_OUT) == held_out]


def training_signals(codec_id: str, root=ROOT) -> list:
    """The training signals of ``codec_id`` as float32 ``(C, *axes)`` arrays in [-1, 1],
    scaled as the codec scales them (audio: ``audio_gain``)."""
    if codec_id == "liveaction-audio":
        out = []
        for path in audio_files(root):
            x, rate = _audio(path)
            for channel in x:
                out.append(channel[None])
                if rate != 16000:
                    out.append(resample(channel, rate, 16000)[None])
        return [x * np.float32(audio_gain(x)) for x in out]
    if codec_id == "liveaction-audio4":
        return [x * np.float32(audio_gain(x)) for x in
                (_audio(p)[0] for p in multichannel_files(root))]
    if codec_id == "liveaction-hsi":
        return [to_unit(cube_axes(c), *value_range(c))[None] for _, c in cube_parts(root)]
    if codec_id == "liveaction-volume":
        import nibabel as nib

        vols = [np.asarray(nib.load(str(p)).dataobj) for p in volume_files(root)]
        return [to_unit(v, *value_range(v))[None] for v in vols]
    raise BadInputError(f"no training data is defined for {codec_id}")


class SignalCropSampler:
    """Random crops of ``crop`` (along the model axes) from signals ``(C, *axes)``,
    with random flips of every axis and, when ``sign_flip`` (audio: symmetric in sign,
    unlike intensities), a random sign; ``batch(step)`` is a pure function of
    (seed, step), as ``train.data.CropSampler``."""

    def __init__(self, signals: list, crop: tuple, batch_size: int, seed: int = 0,
                 sign_flip: bool = False):
        self.signals = [s for s in signals if all(n >= c for n, c in zip(s.shape[1:], crop))]
        if not self.signals:
            raise BadInputError(f"no training signal is at least {crop} along its axes")
        self.crop, self.batch_size, self.seed = tuple(crop), batch_size, seed
        self.sign_flip = sign_flip
        sizes = np.array([s.size for s in self.signals], np.float64)
        self.weights = sizes / sizes.sum()  # longer signals give more crops

    def batch(self, step: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, step])
        first = self.signals[0]
        out = np.empty((self.batch_size, first.shape[0]) + self.crop, np.float32)
        for i in range(self.batch_size):
            s = self.signals[rng.choice(len(self.signals), p=self.weights)]
            starts = [rng.integers(0, n - c + 1) for n, c in zip(s.shape[1:], self.crop)]
            x = s[(slice(None),) + tuple(slice(a, a + c) for a, c in zip(starts, self.crop))]
            for axis in range(1, x.ndim):
                if rng.random() < 0.5:
                    x = np.flip(x, axis)
            out[i] = -x if self.sign_flip and rng.random() < 0.5 else x
        return out
