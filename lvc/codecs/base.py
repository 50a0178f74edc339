"""The codec interface every lvc codec implements.

A codec turns a ``Media`` into a list of byte streams (plus a few metadata fields
for the header) and back. It never touches the container: ``lvc.api`` wraps the
streams in an ``.lvc`` file and checks the header (codec id, weights fingerprint,
declared shape) before calling ``decode``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BadInputError, UnsupportedMediaError
from ..formats.container import Header
from ..formats.media import Media


@dataclass
class Encoded:
    """What ``Codec.encode`` returns: the streams and extra header metadata."""

    streams: list
    metadata: dict = field(default_factory=dict)


class Codec:
    """Base class. Subclasses set the class attributes and implement encode/decode."""

    id: str = ""
    modality: str = "image"
    lossless: bool = False
    quality_range: tuple = (0, 100)
    default_quality: int = 75
    description: str = ""

    def fingerprint(self) -> bytes | None:
        """4-byte fingerprint of the weights this codec decodes with (None: no weights)."""
        return None

    def check_quality(self, quality) -> int:
        lo, hi = self.quality_range
        if quality is None:
            return self.default_quality
        try:
            q = int(quality)
        except (TypeError, ValueError):
            raise BadInputError(f"quality must be an integer, got {quality!r}") from None
        if q != quality or not lo <= q <= hi:
            raise BadInputError(f"quality {quality} is out of range for {self.id} ({lo}..{hi})")
        return q

    def check_media(self, media: Media) -> None:
        if media.modality != self.modality:
            raise UnsupportedMediaError(f"{self.id} codes {self.modality}, not {media.modality}")

    def encode(self, media: Media, quality: int) -> Encoded:
        raise NotImplementedError

    def decode(self, header: Header, streams: list) -> Media:
        raise NotImplementedError
