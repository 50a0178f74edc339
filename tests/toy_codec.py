"""A tiny lossless image codec on lvc.entropy, registered at run time by the tests.

It exercises the whole learned-codec path (entropy streams, weights fingerprint,
metadata) without needing trained weights: residuals against the left neighbour,
coded with a Laplace scale table; the encoder picks one scale index per channel and
sends it in the header metadata.
"""

import numpy as np

from lvc.codecs import Codec, Encoded, register
from lvc.entropy import Decoder, Encoder, ScaleTable
from lvc.errors import CorruptStreamError

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
        from lvc.formats.media import Media

        return Media(x.astype(np.uint8).reshape(header.shape), "image")
