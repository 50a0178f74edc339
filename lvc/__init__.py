"""lvc: a neural compression codec toolkit.

    import lvc
    data = lvc.encode(image_array)            # bytes of an .lvc file
    array = lvc.decode(data)                  # numpy array back
    lvc.write("out.lvc", "in.png", codec="jpeg", quality=80)
    media = lvc.read("out.lvc")               # Media(data, modality, sample_rate, metadata)
    data = lvc.encode_images(images, names, codec=...)  # many same-size images, one file
    images, names = lvc.decode_images(data)
    latent = lvc.decode_latent(data)          # a learned codec's latent, no synthesis

Importing lvc is cheap: codecs (and torch) load when first used.
"""

from .threads import configure_environment as _configure_threads

_configure_threads()  # before anything loads torch: see lvc/threads.py

from .api import decode, decode_images, decode_latent, decode_media, encode, encode_images, list_codecs, read, \
    write
from .codecs.registry import get_codec
from .errors import LVCError
from .formats.media import Media

__version__ = "0.1.0"

__all__ = ["encode", "decode", "encode_images", "decode_images", "decode_media", "decode_latent", "read", "write",
           "get_codec", "list_codecs", "LVCError", "Media", "__version__"]
