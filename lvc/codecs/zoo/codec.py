"""CompressAI zoo models as lvc image codecs, coded by lvc's entropy layer.

The networks are compressai's (``compressai.zoo.image``); the bitstream is lvc's:
one ``lvc.entropy`` stream per image, in decode order,

- ``bmshj2018-factorized``: y with the EntropyBottleneck's per-channel tables
  (symbols ``round(y - median)``);
- ``bmshj2018-hyperprior``, ``mbt2018-mean``: z as above, then y with the
  GaussianConditional's scale tables, symbols ``round(y - mu)`` (mu = 0 for the
  scale-only model) and table index ``build_indexes(sigma)``, sigma and mu from
  ``h_s(z_hat)``;
- ``mbt2018``, ``cheng2020-anchor``, ``cheng2020-attn`` (autoregressive context
  model): z, then y position by position in raster order, one part of M symbols
  each, whose mu and sigma come from the masked 5x5 context of the positions already
  decoded (as compressai's ``_compress_ar``/``_decompress_ar``; the encoder runs the
  very same loop, so both sides compute every parameter identically). Sequential and
  slow: about one network call per latent position.

Both sides run on the CPU under ``stable_cpu`` (oneDNN off, inference mode), so the
parameters, and so the table indexes, are bit-identical across processes and thread
counts; the entropy stream's symbol CRC turns any desynchronisation into a
``CorruptStreamError``.

Images: 8-bit RGB goes through the network as is (in [0, 1]), replicate-padded to a
multiple of the model's downsampling factor (16 factorized, 64 otherwise) and cropped
back. Gray is replicated to RGB and the decoded R, G, B averaged back; alpha (LA,
RGBA) travels as a second, lossless PNG stream. Streams: ``[latents, alpha PNG
(LA/RGBA only)]``. No tiling: memory grows with the image (compressai's networks).

Quality is compressai's quality index (1..8, cheng2020 1..6); weights: ``weights.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...entropy import channel_indexes
from ..latent_coding import bottleneck_medians, code_symbols
from ..latent_image import LatentImageCodec
from ..registry import codec_info
from . import weights as _weights
from .weights import ZooModel

_K = 5  # context model kernel size (compressai's MaskedConv2d)
_PAD = _K // 2


def _medians(zm: ZooModel) -> torch.Tensor:
    return bottleneck_medians(zm.model.entropy_bottleneck)


# ---------------------------------------------------------------- latents <-> stream
def _code_ar(zm: ZooModel, coder, y, params) -> torch.Tensor:
    """The autoregressive scan: position by position in raster order, mu and sigma from
    ``params`` there and the masked 5x5 context of the already dequantized ``y_hat``
    (zero where not yet coded); one coder part of M symbols per position."""
    model = zm.model
    ctx = model.context_prediction
    weight = ctx.weight * ctx.mask
    _, _, height, width = params.shape
    y_hat = torch.zeros(1, weight.shape[1], height + 2 * _PAD, width + 2 * _PAD)
    gc = model.gaussian_conditional
    for h in range(height):
        for w in range(width):
            ctx_p = F.conv2d(y_hat[:, :, h:h + _K, w:w + _K], weight, bias=ctx.bias)
            p = model.entropy_parameters(torch.cat((params[:, :, h:h + 1, w:w + 1], ctx_p), 1))
            scales, means = p[:, :, 0, 0].chunk(2, 1)
            y_hat[:, :, h + _PAD, w + _PAD] = code_symbols(
                coder, None if y is None else y[:, :, h, w], means,
                gc.build_indexes(scales).numpy(), zm.gaussian)
    return y_hat[:, :, _PAD:_PAD + height, _PAD:_PAD + width]


def code_z(zm: ZooModel, coder, y=None, size=None) -> torch.Tensor:
    """Code ``h_a(y)`` (encoding) or read it (``y`` None, ``size`` = y's (h, w)) with the
    hyperprior's EntropyBottleneck tables; returns z_hat."""
    h, w = y.shape[2:] if y is not None else size
    z = None if y is None else zm.model.h_a(torch.abs(y) if zm.kind == "scale" else y)
    return code_symbols(coder, z, _medians(zm),
                        channel_indexes((1, len(zm.bottleneck), h // 4, w // 4)), zm.bottleneck)


def _y_params(zm: ZooModel, z_hat: torch.Tensor) -> tuple:
    """(scales, means or None) for the hyperprior models, params for the AR ones."""
    params = zm.model.h_s(z_hat)
    if zm.kind == "scale":
        return params, None
    return params if zm.kind == "ar" else params.chunk(2, 1)


def _code_latents(zm: ZooModel, coder, x=None, y_shape=None) -> torch.Tensor:
    """Run the model's coding order on ``coder`` (an ``Encoder`` with the padded image
    ``x``, or a ``Decoder`` with the latent shape ``(h, w)`` of y) and return y_hat."""
    model = zm.model
    y = None if x is None else model.g_a(x)
    h, w = y.shape[2:] if y is not None else y_shape
    if zm.kind == "factorized":
        return code_symbols(coder, y, _medians(zm), channel_indexes((1, len(zm.bottleneck), h, w)),
                     zm.bottleneck)
    params = _y_params(zm, code_z(zm, coder, y, (h, w)))
    if zm.kind == "ar":
        return _code_ar(zm, coder, y, params)
    scales, means = params
    return code_symbols(coder, y, means, model.gaussian_conditional.build_indexes(scales).numpy(),
                 zm.gaussian)


# ---------------------------------------------------------------- the codec
class ZooCodec(LatentImageCodec):
    """A CompressAI zoo model (subclasses set the id; the registry holds the rest)."""

    def fingerprint(self) -> bytes:
        return _weights.fingerprint(self.id)

    def load(self, quality: int) -> ZooModel:
        return _weights.load_model(self.id, quality)

    def factor(self, zm: ZooModel) -> int:
        return zm.model.downsampling_factor

    def code_latents(self, zm: ZooModel, coder, x=None, size=None, y=None) -> torch.Tensor:
        return _code_latents(zm, coder, x, size)  # not refinable: y is never given

    def synthesise(self, zm: ZooModel, y_hat: torch.Tensor) -> torch.Tensor:
        return zm.model.g_s(y_hat)


def _zoo_class(name: str, codec_id: str) -> type:
    """A ``ZooCodec`` subclass for ``codec_id`` with the registry's quality range."""
    info = codec_info(codec_id)
    return type(name, (ZooCodec,), {
        "id": codec_id, "quality_range": info.quality_range, "__module__": __name__,
        "default_quality": info.default_quality, "description": info.description})


Bmshj2018Factorized = _zoo_class("Bmshj2018Factorized", "bmshj2018-factorized")
Bmshj2018Hyperprior = _zoo_class("Bmshj2018Hyperprior", "bmshj2018-hyperprior")
Mbt2018Mean = _zoo_class("Mbt2018Mean", "mbt2018-mean")
Mbt2018 = _zoo_class("Mbt2018", "mbt2018")
Cheng2020Anchor = _zoo_class("Cheng2020Anchor", "cheng2020-anchor")
Cheng2020Attn = _zoo_class("Cheng2020Attn", "cheng2020-attn")
