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
class Latent:
    """A learned codec's quantised latent, read without running its synthesis network.

    ``symbols``: what the entropy coder carries, shaped (C, h, w): LiVeAction's
    integers (int8; only the channels its quality level sends); the hyperprior
    family's ``y_hat`` (float32: ``round(y - mu) + mu`` is not an integer when the
    model predicts means). ``values``: the float32 latent the synthesis would see.
    """

    symbols: object
    values: object
    codec: str
    quality: int


@dataclass
class Encoded:
    """What ``Codec.encode`` returns: the streams and extra header metadata."""

    streams: list
    metadata: dict = field(default_factory=dict)


def handles(codec, modality: str) -> bool:
    """True when ``codec`` (a Codec, or the registry's CodecInfo: anything with
    ``modality`` and ``archives``) codes ``modality``."""
    return modality == codec.modality or (
        modality == "images" and codec.archives and codec.modality == "image")


def check_quality(codec, quality) -> int:
    """``quality`` as an int in ``codec.quality_range`` (None: the default); a Codec or
    the registry's CodecInfo."""
    lo, hi = codec.quality_range
    if quality is None:
        return codec.default_quality
    try:
        q = int(quality)
    except (TypeError, ValueError):
        raise BadInputError(f"quality must be an integer, got {quality!r}") from None
    if q != quality or not lo <= q <= hi:
        raise BadInputError(f"quality {quality} is out of range for {codec.id} ({lo}..{hi})")
    return q


def check_modality(codec, modality: str) -> None:
    """Refuse media ``codec`` does not code; works on the registry's CodecInfo too, so
    the CLI refuses before importing a codec's module and loading its model."""
    if not handles(codec, modality):
        what = "image sets (it packs no archives)" if modality == "images" else modality
        raise UnsupportedMediaError(f"{codec.id} codes {codec.modality}, not {what}")


class Codec:
    """Base class. Subclasses set the class attributes and implement encode/decode."""

    id: str = ""
    modality: str = "image"
    lossless: bool = False
    quality_range: tuple = (0, 100)
    default_quality: int = 75
    description: str = ""
    refinable: bool = False  # encode(media, quality, refine=N) refines the latent (SGA)
    archives: bool = False  # an image codec that also codes modality "images" as one file
    options: tuple = ()  # names of extra encode() keyword settings (lvc.encode options=)
    device_decode: str = "refuse"
    """What ``lvc.decode(..., device=)`` may do with another device than the CPU:
    ``"synthesis"`` (the codec's ``decode`` takes ``device=`` and runs its synthesis
    there: integer-decoded latents), ``"ignore"`` (no network: decoded on the CPU as
    always) or ``"refuse"`` (entropy parameters come from float networks, which must
    compute the encoder's exact values)."""
    decode_memory: float = 0.0
    """Estimated peak bytes per decoded element (output included; 0: twice the dtype's
    size). ``lvc.decode`` checks the declared size times this against ``LVC_MAX_BYTES``
    before the codec allocates anything (``formats.limits.check_decode``)."""

    def fingerprint(self) -> bytes | None:
        """4-byte fingerprint of the weights this codec decodes with (None: no weights)."""
        return None

    def fingerprint_for(self, shape) -> bytes | None:
        """The fingerprint for media of ``shape`` (an image set's is (N, H, W)): a codec
        with one model per image size overrides this to name the model that size uses."""
        return self.fingerprint()

    def handles(self, modality: str) -> bool:
        """True when this codec codes ``modality``: its own, or image sets when it packs
        archives (an image codec with ``archives``)."""
        return handles(self, modality)

    def check_quality(self, quality) -> int:
        return check_quality(self, quality)

    def check_media(self, media: Media) -> None:
        check_modality(self, media.modality)

    def encode(self, media: Media, quality: int) -> Encoded:
        raise NotImplementedError

    def decode(self, header: Header, streams: list) -> Media:
        raise NotImplementedError

    def decode_latent(self, header: Header, streams: list) -> Latent:
        """The quantised latent of a learned codec (``lvc.decode_latent``)."""
        raise UnsupportedMediaError(f"{self.id} has no learned latent to read (latents: "
                                    "liveaction-rgb and the hyperprior-family image codecs)")
