"""FLAC, Opus, Vorbis and MP3 through soundfile (libsndfile); the stream is the native file.

One base class (``SoundfileCodec``) writes the signal with ``soundfile.write`` into
memory and reads it back; each codec names its libsndfile format and subtype, the
sample rates and channel counts it can hold, and how quality maps to libsndfile's
``compression_level`` (0 = best quality / largest, 1 = smallest). The lossy codecs also
take a ``bitrate`` option (kbit/s of the whole stream), found by searching that level:
libsndfile has no bitrate setting of its own.

Decoding checks the stream against the header (format, subtype, channels, sample
rate) before reading, reads at most the declared number of frames (plus a small
slack for lossy priming), and returns exactly the header's shape and dtype. Any
libsndfile failure on a corrupt stream becomes a one-line ``CorruptStreamError``.
"""

from __future__ import annotations

import contextlib
import io
import math
import os

import numpy as np
import soundfile as sf

from ...errors import BadInputError, CorruptStreamError, LVCError, UnsupportedMediaError
from ...formats.container import Header
from ...formats.audio_io import float_to_pcm, pcm_to_float32
from ...formats.media import Media, as_audio
from ..base import Codec, Encoded

_AUDIO_DTYPES = ("int16", "int32", "float32")
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


@contextlib.contextmanager
def _native_stderr_silenced():
    """libsndfile's decoders (mpg123 above all) print their own complaints about a
    damaged stream straight to file descriptor 2; the user gets lvc's one line instead."""
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class SoundfileCodec(Codec):
    """A codec whose stream is one file libsndfile writes (FLAC, Ogg, MP3)."""

    modality = "audio"
    device_decode = "ignore"
    format = ""  # libsndfile major format ("FLAC", "OGG", "MP3")
    subtype = ""  # libsndfile subtype for the lossy codecs
    sample_rates: tuple = ()  # the rates the format can hold; () = any
    max_channels = 255
    frame_slack = 0  # how many frames a decoder may return beyond/short of the input

    # ------------------------------------------------------------ hooks
    def compression_level(self, quality: int) -> float:
        """libsndfile's ``compression_level`` (0..1) for this quality."""
        raise NotImplementedError

    def prepare(self, data: np.ndarray) -> tuple:
        """(samples to write, subtype, header metadata)."""
        raise NotImplementedError

    def stream_subtype(self, dtype: str) -> str:
        """The subtype a stream for a ``dtype`` signal must have."""
        raise NotImplementedError

    def finish(self, stream: sf.SoundFile, header: Header) -> np.ndarray:
        """Read the decoded samples (2-D, at most declared frames + slack + 1) in the
        header's dtype."""
        raise NotImplementedError

    # ------------------------------------------------------------ encode
    def encode(self, media: Media, quality: int) -> Encoded:
        data, rate = self.checked_audio(media)
        if len(data) == 0:  # libsndfile cannot read back empty Ogg/MP3/FLAC files
            return Encoded([])
        data, subtype, metadata = self.prepare(data)
        return Encoded([self.write(data, rate, subtype, self.compression_level(quality))],
                       metadata)

    def checked_audio(self, media: Media) -> tuple:
        """(samples, sample rate) of ``media``, refused when the format cannot hold them."""
        self.check_media(media)
        data = as_audio(media.data, media.sample_rate, self.id).data
        rate = int(media.sample_rate)
        channels = 1 if data.ndim == 1 else data.shape[1]
        if self.sample_rates and rate not in self.sample_rates:
            rates = ", ".join(str(r) for r in self.sample_rates)
            raise UnsupportedMediaError(f"{self.id} codes audio at {rates} Hz, not {rate} Hz "
                                        "(resample it, or use flac or vorbis)")
        if channels > self.max_channels:
            raise UnsupportedMediaError(f"{self.id} codes at most {self.max_channels} channels, "
                                        f"got {channels}")
        return data, rate

    def write(self, data: np.ndarray, rate: int, subtype: str, level: float,
              bitrate_mode: str | None = None) -> bytes:
        """The native file for ``data`` at libsndfile ``compression_level`` ``level``."""
        buf = io.BytesIO()
        try:
            sf.write(buf, data, rate, format=self.format, subtype=subtype,
                     compression_level=level, bitrate_mode=bitrate_mode)
        except (sf.SoundFileError, RuntimeError, ValueError) as e:
            channels = 1 if data.ndim == 1 else data.shape[1]
            raise UnsupportedMediaError(f"{self.id} cannot encode {channels}-channel audio at "
                                        f"{rate} Hz: {_first_line(e)}") from None
        return buf.getvalue()

    # ------------------------------------------------------------ decode
    def decode(self, header: Header, streams: list) -> Media:
        shape, dtype = tuple(header.shape), header.dtype
        if len(shape) not in (1, 2) or dtype not in _AUDIO_DTYPES or not header.sample_rate:
            raise CorruptStreamError(f"corrupt header: {self.id} cannot hold {dtype} audio of "
                                     f"shape {shape} at {header.sample_rate} Hz")
        frames, channels = shape[0], (shape[1] if len(shape) == 2 else 1)
        if len(streams) != (1 if frames else 0):
            raise CorruptStreamError(f"{self.id}: expected {1 if frames else 0} stream(s), "
                                     f"found {len(streams)}: the file is corrupt")
        if not frames:
            return Media(np.zeros(shape, dtype), "audio", sample_rate=header.sample_rate)
        try:
            with _native_stderr_silenced(), sf.SoundFile(io.BytesIO(streams[0])) as stream:
                found = (stream.format, stream.subtype, stream.channels, stream.samplerate)
                wanted = (self.format, self.stream_subtype(dtype), channels, header.sample_rate)
                if found != wanted:
                    raise CorruptStreamError(
                        f"{self.id} stream is {'/'.join(map(str, found))}, the header declares "
                        f"{'/'.join(map(str, wanted))}: the file is corrupt")
                data = self.finish(stream, header)
        except LVCError:
            raise
        except Exception as e:  # libsndfile errors, or a stream it half-understands
            raise CorruptStreamError(f"{self.id} stream failed to decode "
                                     f"({_first_line(e)})") from None
        if abs(len(data) - frames) > self.frame_slack:
            raise CorruptStreamError(f"{self.id} stream decoded to {len(data)} frames, the "
                                     f"header declares {frames}: the file is corrupt")
        if len(data) < frames:  # a lossy decoder dropped a few padding frames
            data = np.concatenate([data, np.zeros((frames - len(data), channels), data.dtype)])
        data = data[:frames]
        return Media(np.ascontiguousarray(data.reshape(shape)), "audio",
                     sample_rate=header.sample_rate)


class FlacCodec(SoundfileCodec):
    """FLAC, lossless for integer PCM. Quality 0..8 is FLAC's compression level.

    int16 samples are stored as 16-bit PCM. int32 samples are stored as 24-bit PCM
    (the most libsndfile's FLAC holds) when that is exact: either the low 8 bits are
    zero (24-bit audio left-justified in int32, as ``soundfile``/``lvc.read`` return
    it), or every value lies in -2**23..2**23-1 (right-justified; recorded as
    ``pcm_shift`` in the header metadata). Anything else, and float samples, are
    refused rather than silently rounded.
    """

    id = "flac"
    lossless = True
    quality_range = (0, 8)
    default_quality = 5
    description = "FLAC (lossless, integer PCM); quality = compression level"
    format = "FLAC"
    max_channels = 8

    def compression_level(self, quality: int) -> float:
        return quality / 8.0

    def prepare(self, data: np.ndarray) -> tuple:
        if data.dtype == np.int16:
            return data, "PCM_16", {}
        if data.dtype != np.int32:
            raise UnsupportedMediaError("flac stores integer PCM; pass int16/int32 samples or "
                                        "use opus")
        if not np.any(data & 0xFF):
            return data, "PCM_24", {}
        if data.min() >= -(1 << 23) and data.max() < (1 << 23):
            return data << 8, "PCM_24", {"pcm_shift": 8}
        raise UnsupportedMediaError("flac stores at most 24-bit PCM: these int32 samples use "
                                    "all 32 bits (scale them to 24 bits, or use opus)")

    def stream_subtype(self, dtype: str) -> str:
        return {"int16": "PCM_16", "int32": "PCM_24"}.get(dtype, "integer PCM")

    def finish(self, stream: sf.SoundFile, header: Header) -> np.ndarray:
        shift = header.metadata.get("pcm_shift", 0)
        if shift not in (0, 8):
            raise CorruptStreamError(f"corrupt header: invalid flac pcm_shift {shift!r}")
        data = stream.read(header.shape[0] + 1, dtype=header.dtype, always_2d=True)
        return data >> shift if shift else data


class LossySoundfileCodec(SoundfileCodec):
    """Opus, Vorbis, MP3: quality 0..10 -> compression_level 1..0; float in and out.

    ``bitrate=KBPS`` (``--set bitrate=16``) asks for a rate instead: the whole stream's
    kbit/s, all channels together; it overrides the quality. libsndfile only takes a
    level, so the level is searched (a first guess from ``level_guess``, then
    interpolation of log-rate between the levels tried) until the stream is within
    ``RATE_TOLERANCE`` of the target; a rate the encoder cannot reach for this signal is
    refused with the range it can. Decoders may add or drop a few priming/padding
    frames; the output is trimmed or zero-padded to the declared frame count (and
    refused beyond ``frame_slack``).
    """

    lossless = False
    quality_range = (0, 10)
    default_quality = 5
    frame_slack = 4096
    options = ("bitrate",)
    max_level = 1.0  # the highest compression_level libsndfile accepts for this format
    bitrate_mode: str | None = None  # libsndfile's mode while searching a bitrate
    RATE_TOLERANCE = 0.03  # stop searching within 3% of the target
    REACH = 0.15  # a result further than 15% from the target is refused
    MAX_TRIES = 8

    def compression_level(self, quality: int) -> float:
        return 1.0 - quality / 10.0

    def level_guess(self, kbps: float, channels: int) -> float:
        """A first compression_level for ``kbps`` (the search corrects it)."""
        return 0.5

    def encode(self, media: Media, quality: int, bitrate: float | None = None) -> Encoded:
        if bitrate is None:
            return super().encode(media, quality)
        try:
            kbps = float(bitrate)
        except (TypeError, ValueError):
            raise BadInputError(f"{self.id} bitrate is in kbit/s, not {bitrate!r}") from None
        if not math.isfinite(kbps) or kbps <= 0:
            raise BadInputError(f"{self.id} bitrate must be a positive number of kbit/s, "
                                f"got {bitrate!r}")
        data, rate = self.checked_audio(media)
        if len(data) == 0:
            return Encoded([])
        data, subtype, metadata = self.prepare(data)
        stream = self.search_bitrate(data, rate, subtype, kbps)
        return Encoded([stream], {**metadata, "bitrate_kbps": kbps})

    def search_bitrate(self, data: np.ndarray, rate: int, subtype: str, kbps: float) -> bytes:
        """The stream whose rate is nearest ``kbps`` (rate falls as the level rises)."""
        seconds = len(data) / rate
        channels = 1 if data.ndim == 1 else data.shape[1]
        tried = {}  # level -> (kbps, stream)

        def at(level):
            level = min(self.max_level, max(0.0, level))
            if level not in tried:
                stream = self.write(data, rate, subtype, level, self.bitrate_mode)
                tried[level] = (len(stream) * 8 / seconds / 1000, stream)
            return tried[level][0]

        def off(level):
            return math.log(tried[level][0] / kbps)

        at(self.level_guess(kbps, channels))
        for _ in range(self.MAX_TRIES - 1):
            best = min(tried, key=lambda lv: abs(off(lv)))
            if abs(off(best)) <= math.log1p(self.RATE_TOLERANCE):
                break
            above = [lv for lv in tried if off(lv) > 0]  # too many bits: raise the level
            below = [lv for lv in tried if off(lv) < 0]
            if not above or not below:  # not bracketed yet: try the end of the scale
                end = self.max_level if above else 0.0
                if end in tried:
                    break  # the encoder cannot go further
                at(end)
                continue
            a, b = max(above), min(below)
            if b - a < 1e-4:
                break
            # interpolate log-rate between the bracketing levels (bisect if it stalls)
            t = off(a) / (off(a) - off(b))
            at(a + min(0.9, max(0.1, t)) * (b - a))
        best = min(tried, key=lambda lv: abs(off(lv)))
        got = tried[best][0]
        if abs(got / kbps - 1) > self.REACH:
            limit = "lowest" if got > kbps else "highest"
            raise UnsupportedMediaError(
                f"{self.id} cannot code this {channels}-channel {rate} Hz audio at {kbps:g} "
                f"kbit/s (its {limit} rate here is {got:.1f} kbit/s; use another codec)")
        return tried[best][1]

    def prepare(self, data: np.ndarray) -> tuple:
        # always float: libsndfile 1.2.2's MP3 encoder garbles stereo int16 (PR #1106)
        return pcm_to_float32(data), self.subtype, {}

    def stream_subtype(self, dtype: str) -> str:
        return self.subtype

    def finish(self, stream: sf.SoundFile, header: Header) -> np.ndarray:
        data = stream.read(header.shape[0] + self.frame_slack + 1, dtype="float32",
                           always_2d=True)
        return float_to_pcm(data, header.dtype)


class OpusCodec(LossySoundfileCodec):
    """Opus in Ogg through libsndfile. Quality 0..10 -> compression_level 1..0.

    Opus runs at 8, 12, 16, 24 or 48 kHz only; other rates are refused (resample
    first). Decoded audio has the input's frame count, channels and dtype.
    """

    id = "opus"
    description = "Opus in Ogg (libsndfile); 8/12/16/24/48 kHz"
    format = "OGG"
    subtype = "OPUS"
    sample_rates = (8000, 12000, 16000, 24000, 48000)

    def level_guess(self, kbps: float, channels: int) -> float:
        # libsndfile sets Opus's bitrate to 6 + 250 * (1 - level) kbit/s per channel
        return 1.0 - (kbps / channels - 6.0) / 250.0


class VorbisCodec(LossySoundfileCodec):
    """Vorbis in Ogg through libsndfile (VBR). Quality 0..10 -> compression_level 1..0."""

    id = "vorbis"
    description = "Vorbis in Ogg (libsndfile)"
    format = "OGG"
    subtype = "VORBIS"


class Mp3Codec(LossySoundfileCodec):
    """MP3 (LAME to encode, mpg123 to decode, through libsndfile); mono or stereo only,
    at the MPEG-1/2/2.5 sample rates. Quality 0..10 -> compression_level 0.99..0
    (libsndfile maps it to LAME's VBR scale and refuses exactly 1.0)."""

    id = "mp3"
    description = "MP3 (libsndfile with LAME/mpg123)"
    format = "MP3"
    subtype = "MPEG_LAYER_III"
    sample_rates = _MP3_RATES
    max_channels = 2
    max_level = 0.99
    bitrate_mode = "AVERAGE"  # LAME's ABR follows a target rate; its VBR bottoms out

    def compression_level(self, quality: int) -> float:
        return min(super().compression_level(quality), self.max_level)
