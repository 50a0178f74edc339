"""Reorder a trained model's latent channels without changing what it computes.

A permutation ``order`` (new channel i = old channel ``order[i]``) is applied to every
parameter on the latent channel axis: the rows of the analysis transform's last
layer, the per-channel parameters and input columns of the synthesis transform's
first block (and the rows written back into its residual stream), the input columns
of the hyper-analysis, and, for mean-scale hyperpriors, the rows of the scales and
means the hyper-synthesis predicts. The result reconstructs ``P y`` exactly as the
original reconstructed ``y`` (a test checks it per architecture).

What cannot be permuted, because it depends on which channels share a slice (MLICv2's
channel contexts), is left to the caller: the ISCS variant rebuilds it for its new
grouping and trains it.
"""

from __future__ import annotations

import torch
from torch import nn

from ...errors import BadInputError


def _rows(param: torch.Tensor, p: torch.Tensor) -> None:
    param.data = param.data[p].clone()


def _cols(param: torch.Tensor, p: torch.Tensor) -> None:
    param.data = param.data[:, p].clone()


def _is_token_mixer(block: nn.Module) -> bool:
    """MLICv2's MetaFormer block (recognised by its parts: codecs are not imported)."""
    return all(hasattr(block, n) for n in ("norm1", "mixer", "norm2", "fc_in", "fc_out"))


def _synthesis_first(block: nn.Module, p: torch.Tensor) -> None:
    """The first module of g_s, which reads the latent (and may write a residual)."""
    from compressai.layers import ResidualBlock

    if isinstance(block, nn.ConvTranspose2d):
        _rows(block.weight, p)  # (in, out, k, k)
    elif _is_token_mixer(block):
        for norm in (block.norm1, block.norm2):
            _rows(norm.weight, p)
            _rows(norm.bias, p)
        _rows(block.mixer.weight, p)
        _rows(block.mixer.bias, p)
        _cols(block.fc_in.weight, p)
        _rows(block.fc_out.weight, p)
        _rows(block.fc_out.bias, p)
    elif isinstance(block, ResidualBlock) and block.skip is None:
        _cols(block.conv1.weight, p)
        _rows(block.conv2.weight, p)
        _rows(block.conv2.bias, p)
    else:
        raise BadInputError(f"cannot permute the latent channels read by {type(block).__name__}")


def _synthesis_second(block: nn.Module, p: torch.Tensor) -> None:
    """The module after a latent-width residual block (MLICv2: an upsampling block)."""
    from compressai.layers import ResidualBlockUpsample

    if not isinstance(block, ResidualBlockUpsample):
        raise BadInputError(f"cannot permute the latent channels read by {type(block).__name__}")
    _cols(block.subpel_conv[0].weight, p)
    _cols(block.upsample[0].weight, p)


@torch.no_grad()
def permute_latent_channels(model: nn.Module, order) -> nn.Module:
    """Permute ``model``'s latent channels in place (compressai ``MeanScaleHyperprior``
    and ``ScaleHyperprior``; MLICv2, whose synthesis starts with a latent-width
    residual block); returns it."""
    from compressai.models import MeanScaleHyperprior, ScaleHyperprior

    p = torch.as_tensor(list(order), dtype=torch.long)
    last = model.g_a[-1]
    if sorted(p.tolist()) != list(range(last.out_channels)):
        raise BadInputError(f"not a permutation of {last.out_channels} channels")
    _rows(last.weight, p)
    if last.bias is not None:
        _rows(last.bias, p)
    _synthesis_first(model.g_s[0], p)
    if hasattr(model, "slice_contexts"):  # MLICv2: hyper-synthesis feeds whole contexts
        _synthesis_second(model.g_s[1], p)
        _cols(model.h_a[0].weight, p)
    elif isinstance(model, (MeanScaleHyperprior, ScaleHyperprior)):
        _cols(model.h_a[0].weight, p)
        out = model.h_s[-1]
        halves = out.out_channels // len(p)
        rows = torch.cat([p + i * len(p) for i in range(halves)])
        _rows(out.weight, rows)
        _rows(out.bias, rows)
    else:
        raise BadInputError(f"cannot permute the latent channels of {type(model).__name__}")
    return model
