"""Image codecs built on a learned transform + entropy-coded latent (the compressai
pattern): the image handling every such lvc codec shares, written once.

8-bit RGB goes through the network as is (in [0, 1]), replicate-padded to a multiple
of the model's downsampling factor and cropped back. Gray is replicated to RGB and the
decoded R, G, B averaged back; alpha (LA, RGBA) travels as a second, lossless PNG
stream. Streams: ``[latents, alpha PNG (LA/RGBA only)]``. The latents are coded by the
subclass's ``code_latents`` (one function for both sides, see ``latent_coding.py``)
under ``stable_cpu`` and ``single_thread``, so encoder and decoder compute identical
entropy parameters; the stream is checked (``dec.finish()``) before the synthesis runs.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..entropy import Decoder, Encoder
from ..errors import CorruptStreamError, UnsupportedMediaError
from ..formats.container import Header
from ..formats.media import Media, as_image
from .base import Codec, Encoded, Latent
from .classical.image import alpha_from_png, alpha_to_png, split_alpha
from .torch_utils import single_thread, stable_cpu


def to_tensor(color: np.ndarray, factor: int) -> torch.Tensor:
    """(1, 3, H', W') float in [0, 1] of an (H, W[, 3]) uint8 image, gray replicated to
    RGB, replicate-padded to multiples of ``factor``."""
    x = torch.from_numpy(np.asarray(color, dtype=np.float32) / 255.0)  # a new, writable array
    x = x[None].expand(3, -1, -1) if x.dim() == 2 else x.permute(2, 0, 1)
    h, w = x.shape[1:]
    return F.pad(x[None], (0, -w % factor, 0, -h % factor), mode="replicate")


def to_image(x_hat: torch.Tensor, height: int, width: int, gray: bool) -> np.ndarray:
    """(H, W, 3) uint8 (or (H, W, 1), the mean of R, G, B before rounding) of the
    cropped reconstruction."""
    y = x_hat[0, :, :height, :width].clamp(0, 1)
    if gray:
        y = y.mean(dim=0, keepdim=True)
    return y.mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).numpy()


class LatentImageCodec(Codec):
    """Subclasses provide ``load(quality)`` -> model handle, ``factor(handle)`` (padding
    multiple), ``code_latents(handle, coder, x=None, size=None, y=None)`` -> y_hat
    (``y``: a latent to code instead of the analysis of ``x``) and ``synthesise(handle,
    y_hat)`` -> x_hat in [0, 1]; ``size`` is y's (h, w). Refinable codecs add
    ``refine_latent(handle, x, iterations)``."""

    decode_memory = 40.0  # an estimate: the synthesis network runs on the whole image
    # (float32, many channels at half resolution)

    modality = "image"
    lossless = False
    latent_factor = 16  # y's downsampling

    def encode(self, media: Media, quality: int, refine: int = 0) -> Encoded:
        """``refine`` > 0 (``refinable`` codecs): the latent to code comes from
        ``refine_latent(handle, x, refine)``; the header metadata records the count."""
        self.check_media(media)
        data = as_image(media.data, self.id).data
        if data.dtype != np.uint8:
            raise UnsupportedMediaError(f"{self.id} codes 8-bit images, not {data.dtype}")
        handle = self.load(self.check_quality(quality))
        color, alpha = split_alpha(data)
        x = to_tensor(color, self.factor(handle))
        y = self.refine_latent(handle, x, refine) if refine else None
        enc = Encoder()
        with stable_cpu(), single_thread():
            self.code_latents(handle, enc, x=x, y=y)
        streams = [enc.finish()]
        if alpha is not None:
            streams.append(alpha_to_png(alpha))
        return Encoded(streams, {"refine": refine} if refine else {})

    def _latent(self, header: Header, streams: list) -> tuple:
        """``(handle, y_hat, channels)`` after the header and stream-count checks; the
        stream is checked (``dec.finish()``) before anything runs on y_hat."""
        shape = tuple(header.shape)
        lo, hi = self.quality_range
        if header.dtype != "uint8" or len(shape) not in (2, 3) or not lo <= header.quality <= hi:
            raise CorruptStreamError(f"corrupt header: {self.id} cannot hold a {header.dtype} "
                                     f"image of shape {shape} at quality {header.quality}")
        height, width = shape[:2]
        channels = shape[2] if len(shape) == 3 else 1
        with_alpha = channels in (2, 4)
        if len(streams) != 1 + with_alpha:
            raise CorruptStreamError(f"{self.id}: expected {1 + with_alpha} stream(s), found "
                                     f"{len(streams)}: the file is corrupt")
        handle = self.load(header.quality)
        factor, f = self.factor(handle), self.latent_factor
        dec = Decoder(streams[0])
        with stable_cpu(), single_thread():
            y_hat = self.code_latents(handle, dec, size=(-(-height // factor) * factor // f,
                                                         -(-width // factor) * factor // f))
            dec.finish()  # before synthesis: a desynchronised stream never reaches g_s
        return handle, y_hat, channels

    def decode(self, header: Header, streams: list) -> Media:
        handle, y_hat, channels = self._latent(header, streams)
        height, width = tuple(header.shape)[:2]
        with_alpha = channels in (2, 4)
        with stable_cpu():
            rgb = to_image(self.synthesise(handle, y_hat), height, width,
                           gray=channels in (1, 2))
        out = np.empty((height, width, channels), np.uint8)
        out[:, :, :channels - with_alpha] = rgb
        if with_alpha:
            out[:, :, -1] = alpha_from_png(streams[-1], width, height, self.id)
        return Media(np.ascontiguousarray(out[:, :, 0]) if channels == 1 else out, "image")

    def decode_latent(self, header: Header, streams: list) -> Latent:
        """y_hat (C, h, w) of the padded image, as float32 (see ``Latent``)."""
        y_hat = self._latent(header, streams)[1][0].detach().numpy().astype(np.float32)
        return Latent(y_hat, y_hat, self.id, header.quality)
