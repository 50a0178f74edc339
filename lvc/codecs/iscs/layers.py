"""The two layers of a trained codec that face its latent channels, for any network.

ISCS reads channel statistics from the parameters alone: the analysis transform's
last layer (one output filter and bias per latent channel) and the synthesis
transform's first dense layer (one input slice of filters per latent channel). They
are found structurally, so compressai models, MLICv2 and LiVeAction all work:

- analysis: the last ``Conv2d``/``Linear``-like module of ``g_a`` with ``out == C``;
- synthesis: the first module of ``g_s`` that mixes channels (``groups == 1``) with
  ``in == C``: a ``ConvTranspose2d`` (compressai), a 1x1/3x3 ``Conv2d`` (MLICv2's
  token-mixer MLP or residual conv) or a dense projection (LiVeAction). Depthwise
  layers and norms before it are skipped: they act per channel and do not say how a
  channel is used.
Both come back as per-channel weight matrices ``(C, fan)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...errors import BadInputError


@dataclass(frozen=True)
class LatentLayers:
    channels: int
    analysis_weight: torch.Tensor  # (C, fan_in): row c makes latent channel c
    analysis_bias: torch.Tensor | None  # (C,)
    synthesis_weight: torch.Tensor  # (C, fan_out): row c is how g_s reads channel c
    analysis_name: str
    synthesis_name: str


def _in_out(m: nn.Module) -> tuple | None:
    """(in, out, groups) of a channel-mixing layer, else None."""
    if isinstance(m, nn.ConvTranspose2d):
        return m.in_channels, m.out_channels, m.groups
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return m.in_channels, m.out_channels, m.groups
    w = getattr(m, "weight", None)
    if isinstance(w, torch.Tensor) and w.dim() == 2 and hasattr(m, "in_features"):
        return m.in_features, m.out_features, 1
    return None


def _rows_out(m: nn.Module) -> torch.Tensor:
    """Weight as (out, fan_in)."""
    w = m.weight.detach()
    if isinstance(m, nn.ConvTranspose2d):  # (in, out, k, k)
        return w.transpose(0, 1).reshape(w.shape[1], -1)
    return w.reshape(w.shape[0], -1)


def _rows_in(m: nn.Module) -> torch.Tensor:
    """Weight as (in, fan_out)."""
    w = m.weight.detach()
    if isinstance(m, nn.ConvTranspose2d):  # (in, out, k, k)
        return w.reshape(w.shape[0], -1)
    return w.transpose(0, 1).reshape(w.shape[1], -1)


def find_latent_layers(g_a: nn.Module, g_s: nn.Module, channels: int) -> LatentLayers:
    """The analysis output and synthesis input layers of a ``channels``-channel latent."""
    last = None
    for name, m in g_a.named_modules():
        io = _in_out(m)
        if io and io[1] == channels and io[2] == 1:
            last = (name, m)
    first = None
    for name, m in g_s.named_modules():
        io = _in_out(m)
        if io and io[0] == channels and io[2] == 1:
            first = (name, m)
            break
    if last is None or first is None:
        raise BadInputError(f"no layer of the model produces/reads its {channels} latent "
                            "channels directly: ISCS needs a channel-dimension latent")
    bias = getattr(last[1], "bias", None)
    return LatentLayers(channels, _rows_out(last[1]),
                        None if bias is None else bias.detach().clone(),
                        _rows_in(first[1]), last[0], first[0])
