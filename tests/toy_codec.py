"""Tiny lossless image codecs on lvc.entropy, registered at run time by the tests.

They exercise the whole learned-codec path (entropy streams, weights fingerprint,
metadata) without needing trained weights: residuals against the left neighbour,
coded with a Laplace scale table; the encoder picks one scale index per channel and
sends it in the header metadata. ``ToySetCodec`` packs image sets (``archives``)
with a per-size fingerprint, as a codec with one model per image size would.
"""

import hashlib

import numpy as np

from lvc.codecs import Codec, Encoded, register
from lvc.entropy import Decoder, Encoder, ScaleTable
from lvc.errors import CorruptStreamError, UnsupportedMediaError
from lvc.formats.media import Media
from lvc.formats.names import pack_names, unpack_names

TABLE = ScaleTable("laplace", np.exp(np.linspace(np.log(0.3), np.log(80), 16)))


@register
class ToyLosslessCodec(Codec):
    id = "toy-lossless"
    modality = "image"
    lossless = True
    quality_range = (0, 0)
    default_quality = 0
    description = "test-only: left-neighbour residuals + Laplace tables"

    def fingerprint(self):
        return bytes.fromhex(TABLE.tables.fingerprint()[:8])

    def encode(self, media, quality):
        x = media.data.astype(np.int32).reshape(media.shape[0], media.shape[1], -1)
        res = np.diff(x, axis=1, prepend=128)
        scales = np.maximum(np.abs(res).mean(axis=(0, 1)), 0.3)
        per_channel = TABLE.indexes(scales)
        enc = Encoder()
        enc.residuals(res, np.broadcast_to(per_channel, res.shape), TABLE)
        return Encoded([enc.finish()], {"scale_index": per_channel.tolist()})

    def decode(self, header, streams):
        h, w = header.shape[:2]
        c = 1 if len(header.shape) == 2 else header.shape[2]
        per_channel = np.asarray(header.metadata.get("scale_index", []), np.int64)
        if len(streams) != 1 or per_channel.shape != (c,) or per_channel.min() < 0 \
                or per_channel.max() >= len(TABLE):
            raise CorruptStreamError("toy-lossless: bad stream layout")
        dec = Decoder(streams[0])
        res = dec.residuals(np.broadcast_to(per_channel, (h, w, c)), TABLE)
        dec.finish()
        x = np.cumsum(res.astype(np.int64), axis=1) + 128
        if x.min() < 0 or x.max() > 255:
            raise CorruptStreamError("toy-lossless: decoded samples out of range")
        return Media(x.astype(np.uint8).reshape(header.shape), "image")


@register
class ToySetCodec(Codec):
    id = "toy-set"
    modality = "image"
    archives = True
    lossless = True
    quality_range = (0, 0)
    default_quality = 0
    description = "test-only: gray uint8 image sets, left-neighbour residuals + names stream"

    def fingerprint_for(self, shape):
        h, w = shape[1:3]  # "one model per image size"
        return hashlib.sha256(f"toy-set {h}x{w} {TABLE.tables.fingerprint()}".encode()).digest()[:4]

    def check_media(self, media):
        super().check_media(media)
        if media.modality != "images" or media.data.ndim != 3 or media.data.dtype != np.uint8:
            raise UnsupportedMediaError(f"{self.id} codes sets of gray uint8 images only")

    def encode(self, media, quality):
        res = np.diff(media.data.astype(np.int32), axis=2, prepend=128)
        index = int(TABLE.indexes(np.array([max(np.abs(res).mean(), 0.3)]))[0])
        enc = Encoder()
        enc.residuals(res, np.full(res.shape, index), TABLE)
        names = pack_names(media.metadata.get("names") or [])
        return Encoded([enc.finish(), names], {"scale_index": index})

    def decode(self, header, streams):
        index = header.metadata.get("scale_index")
        if len(streams) != 2 or len(header.shape) != 3 or header.dtype != "uint8" \
                or not isinstance(index, int) or not 0 <= index < len(TABLE):
            raise CorruptStreamError("toy-set: bad stream layout")
        dec = Decoder(streams[0])
        res = dec.residuals(np.full(header.shape, index), TABLE)
        dec.finish()
        x = np.cumsum(res.astype(np.int64), axis=2) + 128
        if x.min() < 0 or x.max() > 255:
            raise CorruptStreamError("toy-set: decoded samples out of range")
        names = unpack_names(streams[1], header.shape[0]) if streams[1] else None
        return Media(x.astype(np.uint8), "images", metadata={} if names is None else {"names": names})
