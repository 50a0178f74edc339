"""Trained models ISCS can analyse, named like codecs: ``ID[:QUALITY]``.

Each becomes a ``Target``: its analysis/synthesis modules (for ``layers``), the
latent channel count and ``encode``/``decode`` closures over [0, 1] images (for
``lvc.eval.channel_importance``). Supported: lvc's ``mlicv2-tiny`` and ``mbt2018-mean-tiny``, the
CompressAI zoo codecs (cached or ``LVC_ZOO_RANDOM`` weights) and ``liveaction-rgb``.
Latents are the rounded analysis output (``round(y)``; the codecs code ``round(y -
mu) + mu``, which differs by less than one step and not per channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ...errors import BadInputError
from ..registry import get_codec


@dataclass(frozen=True)
class Target:
    name: str
    g_a: nn.Module
    g_s: nn.Module
    channels: int
    encode: Callable  # (1, 3, H, W) in [0, 1] -> (1, C, h, w)
    decode: Callable  # (B, C, h, w) -> (B, 3, H, W) in [0, 1]
    factor: int  # image sides must be multiples of this


def parse_spec(spec: str) -> tuple[str, int | None]:
    name, _, q = spec.partition(":")
    if q and not q.isdigit():
        raise BadInputError(f"bad model {spec!r}: expected ID or ID:QUALITY")
    return name, int(q) if q else None


def load_target(spec: str) -> Target:
    name, quality = parse_spec(spec)
    codec = get_codec(name)
    quality = codec.check_quality(codec.default_quality if quality is None else quality)
    label = f"{name}:{quality}"
    if name == "liveaction-rgb":  # one network for every quality (they differ in levels)
        model = codec.weights().model
        label = name

        def encode(x):
            return torch.round(model.quantizer.compand(model.encode(x * 2 - 1)))

        def decode(y):
            return (model.decode(y) + 1) / 2

        return Target(label, model.encoder, model.decoder, model.config.latent_channels,
                      encode, decode, model.config.factor)
    if not hasattr(codec, "load"):
        raise BadInputError(f"{name} is not a learned codec ISCS can analyse")
    handle = codec.load(quality)
    model = handle[0] if isinstance(handle, tuple) else getattr(handle, "model", None)
    if model is None or not hasattr(model, "g_a") or not hasattr(model, "g_s"):
        raise BadInputError(f"{name} is not a learned codec with an analysis/synthesis "
                            "transform pair (ISCS needs one)")
    channels = next(m for m in reversed(list(model.g_a.modules()))
                    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))).out_channels

    def encode(x):
        return torch.round(model.g_a(x))

    def decode(y):
        return model.g_s(y)

    return Target(label, model.g_a, model.g_s, channels, encode, decode,
                  codec.factor(handle))
