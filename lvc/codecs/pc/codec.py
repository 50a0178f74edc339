"""``pc-hclt``: lossless coding of small gray images with a Hidden Chow-Liu Tree.

One shipped model per image size (``weights.py``): 28x28 (MNIST, K = 256 values) and
8x8 (scikit-learn digits, values 0..16). A single image codes as one stream; an image
set (``codec encode DIR -o set.lvc -c pc-hclt``) as ``[names, chunk, chunk, ...]``:
the file names in the ``lvc.formats.names`` layout (empty when there are none), then
one entropy stream per ``CHUNK`` images. Within a chunk, pixel after pixel in the
tree's order, all the chunk's images at that pixel go through one categorical coding
call with their exact conditionals (``conditionals.py``).

The encoder keeps only each pixel's hidden-state weights (N x H) and rebuilds the
N x K conditionals when the ANS stream is written, last pixel first; the decoder
computes the same numbers in the same fixed order, so they agree bit for bit.
"""

from __future__ import annotations

import numpy as np

from ...entropy import Decoder, Encoder
from ...errors import BadInputError, CorruptStreamError, UnsupportedMediaError
from ...formats.container import Header
from ...formats.media import Media
from ...formats.names import pack_names, unpack_names
from ..base import Codec, Encoded
from . import weights as _weights
from .conditionals import Conditionals, mixture

CHUNK = 256
"""Images per entropy stream: bounds the encoder's memory (N x D x H float64 weights)."""


def encode_chunk(model, x: np.ndarray) -> bytes:
    """One stream for images ``x`` (n, D) (pixel values < K)."""
    steps = Conditionals(model, x.shape[0])
    enc = Encoder()
    for _ in range(model.variables):
        v, alpha = steps.hidden()
        enc.categorical(x[:, v], lambda v=v, a=alpha: mixture(model, v, a))
        steps.observe(x[:, v])
    return enc.finish()


def decode_chunk(model, data: bytes, n: int) -> np.ndarray:
    """Inverse of ``encode_chunk``: (n, D) int64 pixels."""
    steps = Conditionals(model, n)
    out = np.empty((n, model.variables), np.int64)
    dec = Decoder(data)
    for _ in range(model.variables):
        v, mix = steps.next()
        out[:, v] = dec.categorical(mix)
        steps.observe(out[:, v])
    dec.finish()
    return out


class PCCodec(Codec):
    """Probabilistic-circuit (HCLT) lossless codec for gray images of a trained size."""

    id = "pc-hclt"
    modality = "image"
    archives = True
    lossless = True
    quality_range = (0, 0)
    default_quality = 0
    description = "Probabilistic circuit (Hidden Chow-Liu Tree), lossless, 28x28 and 8x8 gray"

    @staticmethod
    def _size(shape) -> tuple:
        return tuple(shape[-2:]) if len(shape) >= 2 else tuple(shape)

    def fingerprint(self) -> bytes | None:
        return None  # one model per size: see fingerprint_for

    def fingerprint_for(self, shape) -> bytes | None:
        if len(shape) not in (2, 3):
            return None
        return _weights.fingerprint_for(self._size(shape))

    def encode(self, media: Media, quality: int) -> Encoded:
        self.check_media(media)
        data = media.data
        if data.dtype != np.uint8 or data.ndim != (3 if media.modality == "images" else 2):
            raise UnsupportedMediaError(f"{self.id} codes 8-bit gray images (or sets of them), "
                                        f"not {data.dtype} {data.shape}")
        model = _weights.load_model(self._size(data.shape)).hclt
        x = data.reshape(-1, model.variables).astype(np.int64)
        if x.size and x.max() >= model.values:
            raise BadInputError(f"{self.id}: the {_weights.model_key(data.shape[-2:])} model codes "
                                f"pixel values 0..{model.values - 1}, found {int(x.max())}")
        chunks = [encode_chunk(model, x[i: i + CHUNK]) for i in range(0, len(x), CHUNK)]
        if media.modality == "images":
            return Encoded([pack_names(media.metadata.get("names") or [])] + chunks)
        return Encoded(chunks)

    def decode(self, header: Header, streams: list) -> Media:
        shape = tuple(header.shape)
        is_set = header.modality == "images"
        if header.dtype != "uint8" or len(shape) != (3 if is_set else 2):
            raise CorruptStreamError(f"corrupt header: {self.id} cannot hold a {header.dtype} "
                                     f"array of shape {shape}")
        model = _weights.load_model(self._size(shape)).hclt
        n = shape[0] if is_set else 1
        expected = -(-n // CHUNK) + is_set
        if len(streams) != expected:
            raise CorruptStreamError(f"{self.id}: expected {expected} streams, found "
                                     f"{len(streams)}: the file is corrupt")
        chunks = streams[1:] if is_set else streams
        x = np.concatenate([decode_chunk(model, s, min(CHUNK, n - i * CHUNK))
                            for i, s in enumerate(chunks)])
        out = x.astype(np.uint8).reshape(shape)
        if not is_set:
            return Media(out, "image")
        names = unpack_names(streams[0], n) if streams[0] else None
        return Media(out, "images", metadata={"names": names} if names else {})
