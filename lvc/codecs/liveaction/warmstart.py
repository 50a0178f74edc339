"""Start LiVeAction training from a linear transform codec instead of from noise.

Why: on two CPU cores a few thousand steps is the whole budget, and from a random
start the network spends them rediscovering a low-pass filter (training PSNR stays
near that of keeping 8 principal components, whatever the channel count). So:

- every residual branch (encoder blocks, decoder attention and MBConv) starts at zero
  (its last GroupNorm's gain and shift), so both networks begin as identities
  (the "zero-init residual" trick);
- the projections start as a PCA (Karhunen-Loeve transform) of the companded wavelet
  packet coefficients of training crops, components in decreasing variance, which is
  also the order nested channel dropout asks for: encoder ``z = P^T (y - mean)``,
  decoder ``y = P (step * q) + mean`` through a random orthonormal embedding into the
  decoder width;
- the Laplace scales are set to ``127 * step`` so a latent unit is one quantisation
  step of ``step`` in PCA coordinates for every channel (equal steps are what
  reverse water-filling asks of a transform code at high rate).

At step 0 the model is then a 16x16 KLT codec; training makes it nonlinear.
Needs dense projections (``projection="dense"``): a Monarch matrix cannot hold a PCA.
"""

from __future__ import annotations

import math

import torch

from .model import DecoderBlock, EncoderBlock, LiVeAction


def zero_residual_branches(model: LiVeAction) -> None:
    """Make every residual branch output zero (blocks start as identities)."""
    for module in model.modules():
        if isinstance(module, EncoderBlock):
            norms = [module.norm2]
        elif isinstance(module, DecoderBlock):
            norms = [module.attention.norm, module.local.norm3]
        else:
            continue
        for norm in norms:
            torch.nn.init.zeros_(norm.weight)
            torch.nn.init.zeros_(norm.bias)


@torch.no_grad()
def pca_init(model: LiVeAction, batches, step: float = 1.0, seed: int = 0) -> torch.Tensor:
    """Set the projections and Laplace scales from the PCA of the encoder's fixed front
    end (``Encoder.analysis``) on ``batches`` (an iterable of ``(N, C, *axes)`` tensors
    in [-1, 1]); returns the eigenvalues (descending)."""
    cfg = model.config
    if cfg.projection != "dense":
        raise ValueError("a PCA warm start needs projection='dense'")
    k, width, hidden = cfg.latent_channels, cfg.width, cfg.hidden_width
    total, outer, count = torch.zeros(hidden, dtype=torch.float64), None, 0
    for x in batches:
        y = model.encoder.analysis(x).transpose(0, 1).reshape(hidden, -1).double()
        total += y.sum(1)
        outer = y @ y.T if outer is None else outer + y @ y.T
        count += y.shape[1]
    mean = total / count
    cov = outer / count - torch.outer(mean, mean)
    eigenvalues, vectors = torch.linalg.eigh(cov)
    eigenvalues, vectors = eigenvalues.flip(0), vectors.flip(1)
    basis = vectors[:, :k].float()                      # (hidden, k), orthonormal columns
    mean = mean.float()
    model.encoder.proj.weight.copy_(basis.T)
    model.encoder.proj.bias.copy_(-basis.T @ mean)
    model.quantizer.log_scale.fill_(math.log(127.0 * step))
    if width == hidden:                          # no proj_out: proj_in maps to the WPT
        model.decoder.proj_in.weight.copy_(step * basis)
        model.decoder.proj_in.bias.copy_(mean)
    else:
        generator = torch.Generator().manual_seed(seed)
        embed, _ = torch.linalg.qr(torch.randn(width, k, generator=generator))
        model.decoder.proj_in.weight.copy_(step * embed)
        model.decoder.proj_in.bias.zero_()
        model.decoder.proj_out.weight.copy_(basis @ embed.T)
        model.decoder.proj_out.bias.copy_(mean)
    zero_residual_branches(model)
    return eigenvalues.float()
