"""Codec registry: stable string ids -> lazily imported codec classes.

Built-in codecs are described here without importing their modules, so ``codec
list`` and ``codec --help`` never import torch. Other packages add codecs through
the ``lvc.codecs`` entry-point group (each entry point names a ``Codec``
subclass), as Pillow and pytest take plugins.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache

from ..errors import CodecUnavailableError, UnknownCodecError

ENTRY_POINT_GROUP = "lvc.codecs"


@dataclass(frozen=True)
class CodecInfo:
    id: str
    target: str  # "package.module:ClassName"
    modality: str
    lossless: bool
    quality_range: tuple
    default_quality: int
    description: str = ""
    requires: tuple = ()  # importable module names
    probe: str | None = None  # "module:function" -> None or a reason it cannot run
    error: str | None = None  # set when a plugin failed to load
    rd_qualities: tuple = ()  # default sweep for RD curves; empty: spread over the range
    archives: bool = False  # also codes modality "images" (many same-size images, one file)

    def sweep_qualities(self) -> tuple:
        """Qualities an RD evaluation uses unless told otherwise (low to high)."""
        if self.rd_qualities:
            return tuple(self.rd_qualities)
        lo, hi = self.quality_range
        n = min(6, hi - lo + 1)
        return tuple(sorted({round(lo + i * (hi - lo) / max(n - 1, 1)) for i in range(n)}))

    def unavailable_reason(self) -> str | None:
        """None when the codec can run here, else one line saying why not."""
        if self.error:
            return self.error
        for mod in self.requires:
            if importlib.util.find_spec(mod) is None:
                return f"needs the Python package '{mod}'"
        if self.probe:
            module, func = self.probe.split(":")
            return getattr(importlib.import_module(module), func)()
        return None

    @property
    def available(self) -> bool:
        return self.unavailable_reason() is None


_CLASSICAL = "lvc.codecs.classical"
_P = f"{_CLASSICAL}.probes"

BUILTIN = (
    CodecInfo("png", f"{_CLASSICAL}.image:PngCodec", "image", True, (0, 9), 6,
              "PNG (lossless); quality = zlib effort", ("PIL",)),
    CodecInfo("jpeg", f"{_CLASSICAL}.image:JpegCodec", "image", False, (1, 100), 75,
              "JPEG (libjpeg via Pillow, 4:2:0)", ("PIL",),
              rd_qualities=(10, 20, 30, 40, 50, 60, 70, 80, 90, 95)),
    CodecInfo("webp", f"{_CLASSICAL}.image:WebpCodec", "image", False, (0, 100), 75,
              "WebP lossy (method 4)", ("PIL",), f"{_P}:webp",
              rd_qualities=(5, 20, 35, 50, 65, 80, 90, 95)),
    CodecInfo("avif", f"{_CLASSICAL}.image:AvifCodec", "image", False, (0, 100), 60,
              "AVIF (libavif via Pillow, speed 6)", ("PIL",), f"{_P}:avif",
              rd_qualities=(10, 25, 40, 55, 70, 80, 90)),
    CodecInfo("jpegxl", f"{_CLASSICAL}.image:JpegXLCodec", "image", False, (0, 100), 75,
              "JPEG XL (pillow-jxl-plugin, effort 7)", ("PIL",), f"{_P}:jpegxl",
              rd_qualities=(10, 25, 40, 55, 70, 80, 90, 95)),
    CodecInfo("flac", f"{_CLASSICAL}.audio:FlacCodec", "audio", True, (0, 8), 5,
              "FLAC (lossless, integer PCM); quality = compression level", ("soundfile",),
              f"{_P}:flac"),
    CodecInfo("opus", f"{_CLASSICAL}.audio:OpusCodec", "audio", False, (0, 10), 5,
              "Opus in Ogg (libsndfile); 8/12/16/24/48 kHz", ("soundfile",), f"{_P}:opus"),
    CodecInfo("vorbis", f"{_CLASSICAL}.audio:VorbisCodec", "audio", False, (0, 10), 5,
              "Vorbis in Ogg (libsndfile)", ("soundfile",), f"{_P}:vorbis"),
    CodecInfo("mp3", f"{_CLASSICAL}.audio:Mp3Codec", "audio", False, (0, 10), 5,
              "MP3 (libsndfile with LAME/mpg123)", ("soundfile",), f"{_P}:mp3"),
    CodecInfo("liveaction-rgb", "lvc.codecs.liveaction.codec:LiVeActionCodec", "image", False,
              (1, 8), 4, "LiVeAction (wavelet packet + tiny encoder, CPU-trained small decoder)",
              ("torch", "safetensors"), "lvc.codecs.liveaction.weights:probe",
              rd_qualities=(1, 2, 3, 4, 5, 6, 7, 8)),
    *(CodecInfo(cid, f"lvc.codecs.liveaction.signal_codec:{cls}", modality, False, (1, top),
                default, what, ("torch", "safetensors"),
                f"lvc.codecs.liveaction.weights:{probe}")
      for cid, cls, modality, top, default, probe, what in (
          ("liveaction-audio", "LiVeActionAudioCodec", "audio", 6, 4, "probe_audio",
           "LiVeAction 1-D (F=64) for mono audio; channels coded one by one"),
          ("liveaction-audio4", "LiVeActionAudio4Codec", "audio", 6, 4, "probe_audio4",
           "LiVeAction 1-D (F=64), 4-channel audio coded jointly"),
          ("liveaction-hsi", "LiVeActionCubeCodec", "hyperspectral", 5, 3, "probe_hsi",
           "LiVeAction 3-D (F=8) for hyperspectral cubes (H x W x bands .npy)"),
          ("liveaction-volume", "LiVeActionVolumeCodec", "volume", 5, 3, "probe_volume",
           "LiVeAction 3-D (F=8) for volumes (NIfTI, .npy)"))),
    CodecInfo("pc-hclt", "lvc.codecs.pc.codec:PCCodec", "image", True, (0, 0), 0,
              "Probabilistic circuit (Hidden Chow-Liu Tree), lossless, 28x28 and 8x8 gray",
              ("safetensors",), "lvc.codecs.pc.weights:probe", archives=True),
    # CompressAI zoo models (lvc/codecs/zoo/): pretrained only from torch hub's cache
    *(CodecInfo(cid, f"lvc.codecs.zoo.codec:{cls}", "image", False, (1, top), default,
                f"{what} (CompressAI zoo, mse; cached weights only)", ("torch", "compressai"),
                f"lvc.codecs.zoo.weights:probe_{cid.replace('-', '_')}",
                rd_qualities=tuple(range(1, top + 1)))
      for cid, cls, top, default, what in (
          ("bmshj2018-factorized", "Bmshj2018Factorized", 8, 4, "Balle 2018 factorized prior"),
          ("bmshj2018-hyperprior", "Bmshj2018Hyperprior", 8, 4, "Balle 2018 scale hyperprior"),
          ("mbt2018-mean", "Mbt2018Mean", 8, 4, "Minnen 2018 mean-scale hyperprior"),
          ("mbt2018", "Mbt2018", 8, 4, "Minnen 2018 joint autoregressive + hyperprior"),
          ("cheng2020-anchor", "Cheng2020Anchor", 6, 3, "Cheng 2020 anchor (autoregressive)"),
          ("cheng2020-attn", "Cheng2020Attn", 6, 3, "Cheng 2020 attention (autoregressive)"))),
    CodecInfo("mlicv2-tiny", "lvc.codecs.mlicv2.codec:MLICv2Codec", "image", False, (1, 3), 2,
              "MLICv2 tiny (multi-reference entropy model), CPU-trained small budget",
              ("torch", "compressai"), "lvc.codecs.mlicv2.weights:probe",
              rd_qualities=(1, 2, 3)),
    CodecInfo("mbt2018-mean-tiny", "lvc.codecs.mlicv2.baseline:HyperpriorTinyCodec", "image",
              False, (1, 3), 2, "mean-scale hyperprior, mlicv2-tiny's size and budget (baseline)",
              ("torch", "compressai"), "lvc.codecs.mlicv2.weights:probe_baseline",
              rd_qualities=(1, 2, 3)),
    *(CodecInfo(cid, f"lvc.codecs.iscs.codec:{cls}", "image", False, (1, 3), 2, what,
                ("torch", "compressai"), f"lvc.codecs.iscs.weights:{probe}",
                rd_qualities=(1, 2, 3))
      for cid, cls, probe, what in (
          ("mbt2018-mean-tiny-iscs", "ISCSCodec", "probe_iscs",
           "mbt2018-mean-tiny + ISCS order: core slices, then the rest in one pass"),
          ("mbt2018-mean-tiny-slices", "OriginalOrderCodec", "probe_slices",
           "mbt2018-mean-tiny + original-order sequential slices (ISCS reference)"))),
)

BUILTIN += tuple(
    CodecInfo(cid, f"lvc.codecs.diffusion.codec:{cls}", "image", False, (1, top), default, what,
              ("torch", "safetensors"), "lvc.codecs.diffusion.weights:probe",
              rd_qualities=tuple(range(1, top + 1)))
    for cid, cls, top, default, what in (
        ("dualdiff", "DualDiffCodec", 6, 3,
         "dual-representation diffusion: explicit LiVeAction + DiffC texture (ultra-low rates)"),
        ("dualdiff-implicit", "DualDiffImplicitCodec", 4, 2,
         "DiffC only: the dualdiff prior without its explicit branch")))

DEFAULT_CODEC = {"image": "webp", "audio": "liveaction-audio", "images": "pc-hclt",
                 "volume": "liveaction-volume", "hyperspectral": "liveaction-hsi"}
"""Codec used when none is named, per modality (``default_codec`` refines audio)."""
JOINT_AUDIO = {4: "liveaction-audio4"}
"""Channel counts with a jointly trained audio model, used by default when installed."""


def default_codec(modality: str, shape: tuple = ()) -> str | None:
    """The codec ``encode`` uses when none is named (None: no default for ``modality``):
    ``DEFAULT_CODEC``, except audio with a jointly trained model for its channel count."""
    if modality == "audio" and len(shape) == 2 and shape[1] in JOINT_AUDIO:
        joint = JOINT_AUDIO[shape[1]]
        if codec_info(joint).available:
            return joint
    return DEFAULT_CODEC.get(modality)


@lru_cache(maxsize=1)
def _plugins() -> dict:
    """CodecInfo for every codec installed through the entry-point group."""
    from importlib.metadata import entry_points

    out = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
            out[cls.id or ep.name] = CodecInfo(
                cls.id or ep.name, ep.value, cls.modality, cls.lossless,
                tuple(cls.quality_range), cls.default_quality, cls.description,
                archives=bool(getattr(cls, "archives", False)))
        except Exception as e:  # a broken plugin must not break lvc; list it as unavailable
            out[ep.name] = CodecInfo(ep.name, ep.value, "image", False, (0, 0), 0,
                                     error=f"plugin failed to load: {e}")
    return out


_RUNTIME: dict = {}


def register(cls) -> type:
    """Register a ``Codec`` subclass at run time (usable as a class decorator).

    For codecs that live in a script or notebook; installed packages should use the
    ``lvc.codecs`` entry-point group instead.
    """
    if not getattr(cls, "id", ""):
        raise ValueError("a codec class needs a non-empty `id`")
    _RUNTIME[cls.id] = CodecInfo(cls.id, f"{cls.__module__}:{cls.__qualname__}", cls.modality,
                                 cls.lossless, tuple(cls.quality_range), cls.default_quality,
                                 cls.description, archives=bool(getattr(cls, "archives", False)))
    get_codec.cache_clear()
    return cls


def all_codecs() -> dict:
    """id -> CodecInfo for built-in, plugin and run-time codecs (built-ins win on id clashes)."""
    out = dict(_plugins())
    out.update(_RUNTIME)
    out.update({c.id: c for c in BUILTIN})
    return out


def codec_info(codec_id: str) -> CodecInfo:
    codecs = all_codecs()
    if codec_id not in codecs:
        raise UnknownCodecError(f"unknown codec '{codec_id}' (known: {', '.join(sorted(codecs))})")
    return codecs[codec_id]


@lru_cache(maxsize=None)
def get_codec(codec_id: str):
    """An instance of the codec, importing its module now; raises if it cannot run here."""
    info = codec_info(codec_id)
    reason = info.unavailable_reason()
    if reason:
        raise CodecUnavailableError(f"codec '{codec_id}' is unavailable: {reason}")
    module, cls = info.target.split(":")
    return getattr(importlib.import_module(module), cls)()
