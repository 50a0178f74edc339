"""MLICv2+: stochastic Gumbel annealing (SGA; Yang, Bamler & Mandt, 2020) of one image's
latent at encode time. Decoding is unchanged: the refined latent is coded as usual.

Each element of ``y - mu`` is softly rounded to its floor or ceiling: probabilities
proportional to ``exp(-atanh(distance) / tau)``, a Gumbel-softmax sample at temperature
``tau``, annealed from 0.5 down to 0.02 over the iterations, so the optimiser sees a
rate-distortion loss whose rounding becomes hard by the end. Adam on y only (z follows
as ``h_a(y)``, straight-through), loss ``lambda * 255^2 * MSE + bpp`` as in training.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F

from .model import MLICv2


def sga_round(v: torch.Tensor, tau: float) -> torch.Tensor:
    """Soft rounding of ``v`` to ``floor(v)`` or ``floor(v) + 1`` (differentiable in v)."""
    low = torch.floor(v.detach())
    eps = 1e-5
    d_low = (v - low).clamp(eps, 1 - eps)
    d_high = (low + 1 - v).clamp(eps, 1 - eps)
    logits = torch.stack([-torch.atanh(d_low), -torch.atanh(d_high)], -1) / tau
    w = F.gumbel_softmax(logits, tau=tau, hard=False)
    return low + w[..., 1]


def temperature(step: int, steps: int, start: float = 0.5, end: float = 0.02) -> float:
    return start * (end / start) ** (step / max(steps - 1, 1))


def rd_cost(model: MLICv2, x: torch.Tensor, lmbda: float, y=None, soft_round=None) -> torch.Tensor:
    """``lambda * 255^2 * MSE + bpp`` of image ``x`` in [0, 1] (hard rounding by default)."""
    out = model(x, y, soft_round)
    bits = sum(-torch.log2(lik).sum() for lik in out["likelihoods"].values())
    bpp = bits / (x.shape[0] * x.shape[2] * x.shape[3])
    return lmbda * 255 ** 2 * (out["x_hat"] - x).square().mean() + bpp


def refine(model: MLICv2, x: torch.Tensor, iterations: int, lmbda: float, lr: float = 5e-3,
           seed: int = 0) -> torch.Tensor:
    """The refined latent y of image ``x`` after ``iterations`` SGA steps (the model's
    weights are not changed)."""
    model.eval()
    with torch.no_grad():
        y0 = model.g_a(x)
    y = y0.clone().requires_grad_(True)
    opt = torch.optim.Adam([y], lr=lr)
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for step in range(iterations):
                tau = temperature(step, iterations)
                loss = rd_cost(model, x, lmbda, y, lambda v, t=tau: sga_round(v, t))
                opt.zero_grad()
                loss.backward()
                opt.step()
    finally:
        for p, flag in zip(model.parameters(), frozen):
            p.requires_grad_(flag)
    return y.detach()


__all__ = ["refine", "rd_cost", "sga_round", "temperature"]
