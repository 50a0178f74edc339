"""Classical baseline codecs whose payload is the native bitstream.

``image``: PNG, JPEG, WebP, AVIF and JPEG XL through Pillow (and its plugins).
``audio``: FLAC, Opus, Vorbis and MP3 through soundfile/libsndfile.
``probes``: one function per optional codec saying why it cannot run here.

Each codec's stream is exactly what the native encoder wrote (a ``.png``, ``.jpg``,
``.opus`` ... file), wrapped in an ``.lvc`` container by ``lvc.api``. This package
imports nothing heavy: Pillow and soundfile load when a codec module is imported.
"""
