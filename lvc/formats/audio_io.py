"""Audio files <-> ``Media`` through soundfile (libsndfile).

Reading keeps integer PCM as integers (16-bit -> int16, 24/32-bit -> int32,
left-justified as libsndfile returns them) and everything else (float, Opus,
Vorbis, MP3, 8-bit, ADPCM...) as float32 in [-1, 1]. Files always read as
``(frames, channels)``.

Writing picks the container from the suffix and the sample format from the dtype:

=========  ==============================  =========================================
suffix     format                          subtype by dtype
=========  ==============================  =========================================
.wav       WAV                             int16 PCM_16, int32 PCM_32, float32 FLOAT
.aif(f)    AIFF                            int16 PCM_16, int32 PCM_32, float32 FLOAT
.flac      FLAC                            int16 PCM_16, int32/float32 PCM_24
.ogg       Ogg Vorbis                      (lossy)
.opus      Ogg Opus (8/12/16/24/48 kHz)    (lossy)
.mp3       MP3 (mono/stereo)               (lossy)
=========  ==============================  =========================================

int32 written as PCM_24 keeps the top 24 bits (libsndfile's scaling); float
written to integer PCM is clipped to [-1, 1] first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import MissingFileError, UnsupportedMediaError
from .files import atomic_output
from .media import Media, as_audio

_FULL_SCALE = {"int16": 32768.0, "int32": 2147483648.0}
_INT_SUBTYPES = {"PCM_16": "int16", "PCM_24": "int32", "PCM_32": "int32"}
_LOSSY = {".ogg": ("OGG", "VORBIS"), ".oga": ("OGG", "VORBIS"), ".opus": ("OGG", "OPUS"),
          ".mp3": ("MP3", "MPEG_LAYER_III")}
_PCM = {  # suffix -> (format, {dtype: subtype})
    ".wav": ("WAV", {"int16": "PCM_16", "int32": "PCM_32", "float32": "FLOAT"}),
    ".aif": ("AIFF", {"int16": "PCM_16", "int32": "PCM_32", "float32": "FLOAT"}),
    ".aiff": ("AIFF", {"int16": "PCM_16", "int32": "PCM_32", "float32": "FLOAT"}),
    ".flac": ("FLAC", {"int16": "PCM_16", "int32": "PCM_24", "float32": "PCM_24"}),
}
AUDIO_SUFFIXES = tuple(_PCM) + tuple(_LOSSY)


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def pcm_to_float32(data: np.ndarray) -> np.ndarray:
    """int16/int32 PCM -> float32 in [-1, 1) (float input is returned as float32).

    Lossy encoders are always fed float: libsndfile 1.2.2's MP3 encoder garbles
    stereo int16 input (libsndfile PR #1106)."""
    if data.dtype.kind == "f":
        return data.astype(np.float32, copy=False)
    return (data.astype(np.float64) / _FULL_SCALE[str(data.dtype)]).astype(np.float32)


def float_to_pcm(data: np.ndarray, dtype: str) -> np.ndarray:
    """Float samples in [-1, 1] -> ``dtype`` (float32 unchanged; ints rounded and clipped)."""
    if dtype == "float32":
        return data.astype(np.float32, copy=False)
    info = np.iinfo(dtype)
    return np.clip(np.round(data.astype(np.float64) * _FULL_SCALE[dtype]),
                   info.min, info.max).astype(dtype)


def is_audio(path) -> bool:
    """True when libsndfile recognises the file (by its contents, not its suffix)."""
    try:
        sf.info(str(path))
    except Exception:  # LibsndfileError, or a file it cannot even open
        return False
    return True


def read_audio(path) -> Media:
    """Read an audio file into ``Media`` (``(frames, channels)``, sample rate, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")
    try:
        with sf.SoundFile(str(path)) as f:
            dtype = _INT_SUBTYPES.get(f.subtype, "float32")
            data = f.read(dtype=dtype, always_2d=True)
            meta = {"format": f.format, "subtype": f.subtype}
            rate = f.samplerate
    except Exception as e:  # libsndfile: unknown or damaged file
        raise UnsupportedMediaError(f"{path}: not a readable audio file "
                                    f"({_first_line(e)})") from None
    media = as_audio(data, rate, str(path))
    media.metadata = meta
    return media


def check_audio_suffix(path) -> None:
    """Refuse a suffix ``write_audio`` has no format for."""
    path = Path(path)
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise UnsupportedMediaError(f"{path}: unknown audio suffix '{path.suffix}' "
                                    f"(use one of {', '.join(AUDIO_SUFFIXES)})")


def write_audio(path, media: Media, overwrite: bool = False) -> Path:
    """Write audio ``Media`` to ``path``; format from the suffix, subtype from the dtype.

    Atomic (temp file + rename); refuses to replace a file unless ``overwrite``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if media.modality != "audio":
        raise UnsupportedMediaError(f"{path}: cannot write {media.modality} data as audio")
    media = as_audio(media.data, media.sample_rate, str(path))
    data, dtype = media.data, str(media.data.dtype)
    check_audio_suffix(path)
    if suffix in _LOSSY:
        fmt, subtype = _LOSSY[suffix]
        data = pcm_to_float32(data)
    else:
        fmt, subtypes = _PCM[suffix]
        subtype = subtypes[dtype]
        if dtype == "float32" and subtype != "FLOAT":
            data = np.clip(data, -1.0, 1.0)
    with atomic_output(path, overwrite) as tmp:
        try:
            sf.write(str(tmp), data, media.sample_rate, format=fmt, subtype=subtype)
        except (sf.SoundFileError, RuntimeError, ValueError) as e:
            raise UnsupportedMediaError(f"{path}: cannot write this audio as {fmt}/{subtype} "
                                        f"({_first_line(e)})") from None
    return path
