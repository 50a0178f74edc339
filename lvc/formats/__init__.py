"""The .lvc container (``container``, SPEC.md) and media file I/O (``io``).

Imports nothing from ``lvc.codecs``: the container and media types sit below codecs.
"""

from .container import Header, Limits, pack, read_header, unpack
from .media import Media

__all__ = ["Header", "Limits", "Media", "pack", "read_header", "unpack"]
