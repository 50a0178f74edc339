"""Wavelet packet transform (CDF 9/7 = bior4.4, periodic boundary) and companding.

The one-level transform is the lifting factorisation of the CDF 9/7 biorthogonal
wavelet (Daubechies & Sweldens, 1998): two predict and two update steps on the
even/odd samples, then one gain per band. With periodic extension every lifting
step is invertible by subtracting what it added, so the inverse is exact for any
float rounding of the constants (reconstruction error is float rounding only). The
gains make the filters those of PyWavelets' ``bior4.4``: the low-pass analysis filter
is ``dec_lo`` (sums to sqrt 2) centred on the even samples, the high-pass is
``dec_hi`` centred on the odd samples. The lifting costs about 4 multiply-adds per
input sample per axis and level, half of filtering with the 9- and 7-tap filters. The
packet transforms run the lifting in place without autograd; their gradients are the
adjoint transforms, computed the same way with transposed lifting steps.

Everything is written along one axis (``dwt1d``/``idwt1d``), so the same code serves
1-D (audio, ``(N, C, L)``), 2-D (images, ``(N, C, H, W)``) and 3-D (volumes,
``(N, C, D, H, W)``) signals.

Full wavelet packet transform (``wpt``): every level splits *every* channel (every
subband of the previous level) along each spatial axis, last axis first (W, then H,
then D), and stacks the two halves as channels: ``(N, C, *S) -> (N, C*2^ndim, *S/2)``
per level, ``(N, C*2^(ndim*J), *S/2^J)`` after ``J`` levels. Channel order: input
channel outermost, then the level-1 band, then level 2, ..., so

    channel = c * 2^(ndim*J) + b_1 * 2^(ndim*(J-1)) + ... + b_J

where the band of one level is ``b = 2*b_W + b_H`` in 2-D (``b_D`` least significant
in 3-D), ``0`` meaning low-pass and ``1`` high-pass along that axis. In 2-D a level
gives, per channel, ``[LL, (W low, H high), (W high, H low), HH]``, the same order as
the reference code (pytorch_wavelets filters rows, then columns); channel
``c * 4^J`` is the pure low-pass (approximation) band of input channel ``c``.
Sizes along the transformed axes must be divisible by ``2^J``; pad before.

Companding (``compand``/``decompand``): ``12.8 * sign(x) * ((|x| + 0.1)^0.4 - 0.1^0.4)``
and its exact inverse, applied to the coefficients of an image in [-1, 1].
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

__all__ = ["LOW_GAIN", "HIGH_GAIN", "dwt1d", "idwt1d", "wpt", "iwpt", "wpt_channels",
           "compand", "decompand"]

# CDF 9/7 lifting constants: predict, update, predict, update, and the band gain.
_ALPHA = -1.586134342059924
_BETA = -0.052980118572961
_GAMMA = 0.882911075530934
_DELTA = 0.443506852043971
_ZETA = 1.149604398860241

LOW_GAIN = _ZETA            # low band: unit lifting output * LOW_GAIN = bior4.4 dec_lo output
HIGH_GAIN = -1.0 / _ZETA    # high band: sign and scale of bior4.4 dec_hi

# A lifting step (writes the odd band?, coefficient, neighbour is k+1?): the predict
# steps add to odd sample k the even samples k and k+1; the update steps add to even
# sample k the odd samples k-1 and k.
_ANALYSIS = ((True, _ALPHA, True), (False, _BETA, False),
             (True, _GAMMA, True), (False, _DELTA, False))
_SYNTHESIS = tuple((odd, -coef, nxt) for odd, coef, nxt in reversed(_ANALYSIS))


def _transposed(steps: tuple) -> tuple:
    """Steps of the transposed (adjoint) operator: reversed, with source and target
    bands swapped, which also swaps the neighbour side."""
    return tuple((not odd, coef, not nxt) for odd, coef, nxt in reversed(steps))


def _lift(even: torch.Tensor, odd: torch.Tensor, dim: int, steps: tuple) -> None:
    """Run lifting ``steps`` in place on the two (unscaled) polyphase bands, adding
    shifted views instead of rolled copies."""
    n = even.shape[dim]
    for to_odd, coef, nxt in steps:
        src, dst = (even, odd) if to_odd else (odd, even)
        dst.add_(src, alpha=coef)                                # neighbour k
        d0, s0 = (0, 1) if nxt else (1, 0)                       # neighbour k+1 or k-1 ...
        dst.narrow(dim, d0, n - 1).add_(src.narrow(dim, s0, n - 1), alpha=coef)
        dw, sw = (n - 1, 0) if nxt else (0, n - 1)               # ... wrapping around
        dst.narrow(dim, dw, 1).add_(src.narrow(dim, sw, 1), alpha=coef)


def _split(x: torch.Tensor, dim: int, band_dim: int, steps: tuple = _ANALYSIS) -> torch.Tensor:
    """De-interleave even/odd samples along ``dim`` into a new size-2 axis ``band_dim``
    (``<= dim``) and lift them: with ``_ANALYSIS``, the unscaled one-level transform
    (index 0 low band, 1 high band). ``x`` is not modified.
    """
    n = x.shape[dim]
    if n % 2:
        raise ValueError(f"axis {dim} has odd length {n}; pad it to an even length first")
    halved = list(x.shape)
    halved[dim] = n // 2
    out = x.new_empty(halved[:band_dim] + [2] + halved[band_dim:])
    out.copy_(x.unflatten(dim, (n // 2, 2)).movedim(dim + 1, band_dim))
    _lift(out.select(band_dim, 0), out.select(band_dim, 1), dim, steps)
    return out


def _merge(y: torch.Tensor, dim: int, band_dim: int, steps: tuple = _SYNTHESIS) -> torch.Tensor:
    """Lift the two bands of ``y`` (in place: ``y`` must be scratch) and interleave
    them along ``dim``; with ``_SYNTHESIS`` the inverse of ``_split``."""
    even, odd = y.select(band_dim, 0), y.select(band_dim, 1)
    _lift(even, odd, dim, steps)
    return torch.stack([even, odd], dim + 1).flatten(dim, dim + 1)


def dwt1d(x: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """One-level periodic bior4.4 analysis of ``x`` along ``dim`` -> ``(low, high)``.

    Each output has ``x``'s shape with ``dim`` halved (its length must be even).
    """
    dim = dim % x.dim()
    bands = _split(x, dim, 0)
    return bands[0] * LOW_GAIN, bands[1] * HIGH_GAIN


def idwt1d(low: torch.Tensor, high: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Exact inverse of ``dwt1d``: interleaves the synthesised samples along ``dim``."""
    dim = dim % low.dim()
    return _merge(torch.stack([low / LOW_GAIN, high / HIGH_GAIN]), dim, 0)


def wpt_channels(channels: int, levels: int, ndim: int = 2) -> int:
    """Number of channels after a ``levels``-level packet transform of ``ndim`` axes."""
    return channels * 2 ** (ndim * levels)


def _check(x: torch.Tensor, levels: int, ndim: int | None) -> tuple[int, ...]:
    """Validate and return the spatial axes in processing order (last axis first)."""
    ndim = x.dim() - 2 if ndim is None else ndim
    if ndim not in (1, 2, 3) or x.dim() != ndim + 2:
        raise ValueError(f"expected (N, C, *{ndim} spatial axes) with ndim in 1..3, "
                         f"got shape {tuple(x.shape)}")
    if levels < 0:
        raise ValueError("levels must be >= 0")
    return tuple(range(x.dim() - 1, 1, -1))


def _gains(x: torch.Tensor, levels: int, axes: tuple[int, ...], power: int) -> torch.Tensor:
    """Band gains (to ``power`` +-1) for the channels of packet tensor ``x``, broadcastable.

    Band gain = product over levels and axes of LOW_GAIN or HIGH_GAIN; built by
    appending each split as the least significant bit, as the channel order does.
    """
    gains, pair = x.new_ones(1), x.new_tensor([LOW_GAIN, HIGH_GAIN]) ** power
    for _ in range(levels * len(axes)):
        gains = (gains[:, None] * pair).flatten()
    return gains.repeat(x.shape[1] // gains.numel()).view([1, -1] + [1] * len(axes))


# The band gains are applied once, at the end of the analysis and the start of the
# synthesis: they commute with the per-channel lifting of the other levels.
def _packet_analysis(x, levels, axes, steps, power):
    for _ in range(levels):
        for axis in axes:
            x = _split(x, axis, 2, steps).flatten(1, 2)
    return x * _gains(x, levels, axes, power)


def _packet_synthesis(y, levels, axes, steps, power):
    y = y * _gains(y, levels, axes, power)       # also the scratch copy _merge needs
    for _ in range(levels):
        for axis in reversed(axes):
            y = _merge(y.unflatten(1, (-1, 2)), axis, 2, steps)
    return y


class _WPT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, levels, axes):
        ctx.levels, ctx.axes = levels, axes
        return _packet_analysis(x, levels, axes, _ANALYSIS, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return _packet_synthesis(grad, ctx.levels, ctx.axes, _transposed(_ANALYSIS), 1), None, None


class _IWPT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y, levels, axes):
        ctx.levels, ctx.axes = levels, axes
        return _packet_synthesis(y, levels, axes, _SYNTHESIS, -1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return _packet_analysis(grad, ctx.levels, ctx.axes, _transposed(_SYNTHESIS), -1), None, None


def wpt(x: torch.Tensor, levels: int, ndim: int | None = None) -> torch.Tensor:
    """Full wavelet packet analysis: ``(N, C, *S) -> (N, C*2^(ndim*J), *S/2^J)``.

    ``ndim`` (1, 2 or 3) is the number of trailing spatial axes, by default
    ``x.dim() - 2``. Every spatial size must be divisible by ``2^levels``. Channel
    order as in the module docstring. Differentiable (the gradient is the adjoint).
    """
    axes = _check(x, levels, ndim)
    for axis in axes:
        if x.shape[axis] % 2 ** levels:
            raise ValueError(f"spatial size {x.shape[axis]} is not divisible by 2^{levels}")
    return _WPT.apply(x, levels, axes)


def iwpt(y: torch.Tensor, levels: int, ndim: int | None = None) -> torch.Tensor:
    """Exact inverse of ``wpt``: ``(N, C*2^(ndim*J), *S) -> (N, C, *S*2^J)``."""
    axes = _check(y, levels, ndim)
    bands = 2 ** (len(axes) * levels)
    if y.shape[1] % bands:
        raise ValueError(f"{y.shape[1]} channels is not a multiple of 2^(ndim*levels) = {bands}")
    return _IWPT.apply(y, levels, axes)


_COMPAND_SCALE = 12.8
_COMPAND_EPS = 0.1
_COMPAND_POWER = 0.4


def compand(x: torch.Tensor) -> torch.Tensor:
    """``12.8 * sign(x) * ((|x| + 0.1)^0.4 - 0.1^0.4)``: odd, monotone, compresses peaks."""
    eps_p = _COMPAND_EPS ** _COMPAND_POWER
    if torch.is_grad_enabled():
        return _COMPAND_SCALE * x.sign() * ((x.abs() + _COMPAND_EPS) ** _COMPAND_POWER - eps_p)
    # inference: the same operations in place on one new tensor (the same numbers)
    y = x.abs().add_(_COMPAND_EPS).pow_(_COMPAND_POWER).sub_(eps_p)
    return y.mul_(x.sign().mul_(_COMPAND_SCALE))


def decompand(y: torch.Tensor) -> torch.Tensor:
    """Exact inverse of ``compand``."""
    eps_p = _COMPAND_EPS ** _COMPAND_POWER
    y = y / _COMPAND_SCALE
    if torch.is_grad_enabled():
        return y.sign() * ((y.abs() + eps_p) ** (1.0 / _COMPAND_POWER) - _COMPAND_EPS)
    x = y.abs().add_(eps_p).pow_(1.0 / _COMPAND_POWER).sub_(_COMPAND_EPS)  # as in compand
    return x.mul_(y.sign_())
