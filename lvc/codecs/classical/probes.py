"""Availability probes for the classical codecs (named in ``registry.BUILTIN``).

Each function returns None when the codec can run here, else one line saying why
not. They import Pillow / soundfile only when called, so ``codec list`` stays fast.
"""

from __future__ import annotations


def _pillow_feature(feature: str, name: str) -> str | None:
    from PIL import features

    return None if features.check(feature) else f"Pillow was built without {name}"


def webp() -> str | None:
    return _pillow_feature("webp", "WebP")


def avif() -> str | None:
    """Pillow >= 11.2 decodes AVIF natively; older ones need pillow-avif-plugin."""
    if _pillow_feature("avif", "AVIF") is None:
        return None
    try:
        import pillow_avif  # noqa: F401  (registers the AVIF plugin)
    except Exception:  # ImportError, or a plugin whose binary fails to load
        return "Pillow was built without AVIF and pillow-avif-plugin is not installed"
    return None


def jpegxl() -> str | None:
    try:
        import pillow_jxl  # noqa: F401  (registers the JXL plugin)
    except Exception as e:
        return f"needs pillow-jxl-plugin ({type(e).__name__}: {e})".splitlines()[0]
    return None


def _libsndfile_subtype(fmt: str, subtype: str, name: str) -> str | None:
    try:
        import soundfile
    except Exception as e:  # OSError when the libsndfile library itself is missing
        return f"soundfile cannot load libsndfile ({e})".splitlines()[0]
    if subtype not in soundfile.available_subtypes(fmt):
        return f"libsndfile here ({soundfile.__libsndfile_version__}) has no {name} support"
    return None


def flac() -> str | None:
    return _libsndfile_subtype("FLAC", "PCM_16", "FLAC")


def opus() -> str | None:
    return _libsndfile_subtype("OGG", "OPUS", "Opus")


def vorbis() -> str | None:
    return _libsndfile_subtype("OGG", "VORBIS", "Vorbis")


def mp3() -> str | None:
    return _libsndfile_subtype("MP3", "MPEG_LAYER_III", "MPEG")
