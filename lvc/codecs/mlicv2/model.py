"""MLICv2 (Jiang et al., 2025) on the MLIC++ base, every v2 addition behind a switch.

Work in progress (issue 6): the network and its training forward pass. Real
bitstreams, training runs and shipped weights come next.

MLIC++ base (``MLICv2Config.base()``): analysis/synthesis transforms with stride-2
residual blocks (x16), a hyperprior to 1/64 resolution (EntropyBottleneck on z,
``h_s`` giving scale and mean features), the latent split into equal slices, each
slice coded in two checkerboard passes (anchors, then non-anchors) with four contexts:

- local: window attention (5x5) from every position to the decoded anchors of the slice;
- channel: convolutions over the previous slices;
- global inter-slice: linear attention across the previous slices;
- global intra-slice: linear attention that reads, in the previous slice, how
  non-anchors relate to anchors and applies it to the current anchors.

Entropy parameters come from a 1x1-conv MLP per slice and pass; after each pass a
latent residual prediction ``0.5 * tanh(...)`` corrects the rounding. Symbols are
``round(y - mu)``.

MLICv2 switches (``MLICv2Config.full()`` turns all on):

- ``token_mixer``: MetaFormer blocks (depthwise-conv token mixer + gated MLP, LayerNorm)
  instead of the transforms' residual blocks;
- ``hyper_global``: a linear-attention context over the hyperprior features, so the
  first slice has a global context too;
- ``reweight``: learned channel re-weighting (squeeze-excite style) of every context;
- ``rope``: 2-D rotary positional embedding on queries and keys of the attention
  contexts;
- ``selective``: elements whose predicted scale is below ``selective`` are not coded
  and take their mean (0 disables it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import (ResidualBlock, ResidualBlockUpsample, ResidualBlockWithStride,
                               conv3x3, subpel_conv3x3)
from compressai.ops import quantize_ste
from torch import nn


@dataclass(frozen=True)
class MLICv2Config:
    N: int = 192
    M: int = 320
    slices: int = 10
    window: int = 5
    token_mixer: bool = True
    hyper_global: bool = True
    reweight: bool = True
    rope: bool = True
    selective: float = 0.0
    context_width: float = 1.0
    """Scales the fixed widths of the entropy-parameter MLPs (320/256/128), the latent
    residual predictors (224/128) and the channel contexts (192/128)."""

    def __post_init__(self):
        if self.M % self.slices or (self.M // self.slices) % 2:
            raise ValueError("M must split into `slices` equal slices of an even width")

    @property
    def slice_ch(self) -> int:
        return self.M // self.slices

    @classmethod
    def full(cls) -> "MLICv2Config":
        return cls()

    @classmethod
    def base(cls, **kw) -> "MLICv2Config":
        """MLIC++: every v2 addition off."""
        return cls(token_mixer=False, hyper_global=False, reweight=False, rope=False,
                   selective=0.0, **kw)

    @classmethod
    def tiny(cls, **kw) -> "MLICv2Config":
        """The CPU-trainable size: N=96, M=160, 5 slices of 32, context widths halved."""
        return cls(**{"N": 96, "M": 160, "slices": 5, "context_width": 0.5, **kw})

    def width(self, base: int) -> int:
        return max(8, int(round(base * self.context_width / 8)) * 8)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- checkerboard
def anchor_mask(h: int, w: int, device=None) -> torch.Tensor:
    """(1, 1, h, w) float mask of the anchors ((i + j) even)."""
    i = torch.arange(h, device=device)[:, None]
    j = torch.arange(w, device=device)[None, :]
    return ((i + j) % 2 == 0).float()[None, None]


# ---------------------------------------------------------------- transform blocks
class TokenMixerBlock(nn.Module):
    """MetaFormer block: x + DWConv7(LN(x)); x + GatedMLP(LN(x))."""

    def __init__(self, dim: int, expansion: int = 2):
        super().__init__()
        self.norm1 = nn.GroupNorm(1, dim)  # LayerNorm over channels and positions
        self.mixer = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm2 = nn.GroupNorm(1, dim)
        self.fc_in = nn.Conv2d(dim, 2 * expansion * dim, 1)
        self.fc_out = nn.Conv2d(expansion * dim, dim, 1)

    def forward(self, x):
        x = x + self.mixer(self.norm1(x))
        a, b = self.fc_in(self.norm2(x)).chunk(2, 1)
        return x + self.fc_out(F.gelu(a) * b)


def _block(dim: int, cfg: MLICv2Config) -> nn.Module:
    return TokenMixerBlock(dim) if cfg.token_mixer else ResidualBlock(dim, dim)


def analysis(cfg: MLICv2Config) -> nn.Module:
    n, m = cfg.N, cfg.M
    return nn.Sequential(ResidualBlockWithStride(3, n, 2), _block(n, cfg),
                         ResidualBlockWithStride(n, n, 2), _block(n, cfg),
                         ResidualBlockWithStride(n, n, 2), _block(n, cfg),
                         conv3x3(n, m, stride=2))


def synthesis(cfg: MLICv2Config) -> nn.Module:
    n, m = cfg.N, cfg.M
    return nn.Sequential(_block(m, cfg), ResidualBlockUpsample(m, n, 2), _block(n, cfg),
                         ResidualBlockUpsample(n, n, 2), _block(n, cfg),
                         ResidualBlockUpsample(n, n, 2), _block(n, cfg),
                         subpel_conv3x3(n, 3, 2))


def hyper_analysis(cfg: MLICv2Config) -> nn.Module:
    n, m = cfg.N, cfg.M
    return nn.Sequential(conv3x3(m, n), nn.GELU(), conv3x3(n, n), nn.GELU(),
                         conv3x3(n, n, stride=2), nn.GELU(), conv3x3(n, n), nn.GELU(),
                         conv3x3(n, n, stride=2))


def hyper_synthesis(cfg: MLICv2Config) -> nn.Module:
    n, m = cfg.N, cfg.M
    return nn.Sequential(conv3x3(n, m), nn.GELU(), subpel_conv3x3(m, m, 2), nn.GELU(),
                         conv3x3(m, m * 3 // 2), nn.GELU(),
                         subpel_conv3x3(m * 3 // 2, m * 3 // 2, 2), nn.GELU(),
                         conv3x3(m * 3 // 2, m * 2))


# ---------------------------------------------------------------- contexts
def rope_2d(x: torch.Tensor) -> torch.Tensor:
    """2-D rotary embedding of features ``x`` (B, C, H, W): the first half of the
    channels rotate with the row, the second half with the column (C % 4 == 0)."""
    b, c, h, w = x.shape
    quarter = c // 4
    steps = torch.arange(quarter, device=x.device, dtype=x.dtype) / max(quarter, 1)
    freq = 1.0 / (100.0 ** steps)
    out = []
    for part, pos in ((x[:, : c // 2], torch.arange(h, device=x.device, dtype=x.dtype)[:, None]),
                      (x[:, c // 2:], torch.arange(w, device=x.device, dtype=x.dtype)[None, :])):
        angle = freq[:, None, None] * pos[None]  # (quarter, h or 1, w or 1)
        a, b2 = part[:, :quarter], part[:, quarter:]
        out += [a * angle.cos() - b2 * angle.sin(), a * angle.sin() + b2 * angle.cos()]
    return torch.cat(out, 1)


class Reweight(nn.Module):
    """Channel re-weighting of a context (squeeze-excite): v2's channel reweighting."""

    def __init__(self, dim: int):
        super().__init__()
        self.fc = nn.Sequential(nn.Conv2d(dim, max(dim // 4, 4), 1), nn.GELU(),
                                nn.Conv2d(max(dim // 4, 4), dim, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.fc(x.mean((2, 3), keepdim=True))


def _maybe_reweight(dim: int, cfg: MLICv2Config) -> nn.Module:
    return Reweight(dim) if cfg.reweight else nn.Identity()


class LocalContext(nn.Module):
    """Window attention from every position to the decoded anchors in its
    ``window x window`` neighbourhood; output 2C channels."""

    def __init__(self, dim: int, cfg: MLICv2Config, heads: int = 2):
        super().__init__()
        self.dim, self.heads, self.window, self.rope = dim, heads, cfg.window, cfg.rope
        self.norm = nn.GroupNorm(1, dim)
        self.qkv = nn.Conv2d(dim, 3 * dim, 1)
        self.bias = nn.Parameter(torch.zeros(heads, cfg.window * cfg.window))
        self.proj = nn.Conv2d(dim, 2 * dim, 1)
        self.mlp = nn.Sequential(nn.Conv2d(2 * dim, 4 * dim, 1), nn.GELU(),
                                 nn.Conv2d(4 * dim, 2 * dim, 1))
        self.out = _maybe_reweight(2 * dim, cfg)

    def forward(self, anchors: torch.Tensor) -> torch.Tensor:
        b, c, h, w = anchors.shape
        k2, pad = self.window ** 2, self.window // 2
        q, k, v = self.qkv(self.norm(anchors)).chunk(3, 1)
        if self.rope:
            q, k = rope_2d(q), rope_2d(k)
        mask = anchor_mask(h, w, anchors.device)
        unfold = (lambda t: F.unfold(t, self.window, padding=pad))
        kw = unfold(k).view(b, self.heads, c // self.heads, k2, h * w)
        vw = unfold(v).view(b, self.heads, c // self.heads, k2, h * w)
        allowed = unfold(mask).view(1, 1, k2, h * w) > 0
        qh = q.reshape(b, self.heads, c // self.heads, 1, h * w)
        logits = (qh * kw).sum(2) / (c // self.heads) ** 0.5 + self.bias[None, :, :, None]
        logits = logits.masked_fill(~allowed, -1e4)
        attn = logits.softmax(2)  # (b, heads, k2, hw)
        x = (attn[:, :, None] * vw).sum(3).reshape(b, c, h, w)
        x = self.proj(x)
        return self.out(x + self.mlp(x))


class ChannelContext(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, cfg: MLICv2Config):
        super().__init__()
        width = cfg.width(192)
        self.net = nn.Sequential(nn.Conv2d(in_dim, width, 3, padding=1), nn.GELU(),
                                 nn.Conv2d(width, width * 2 // 3, 3, padding=1), nn.GELU(),
                                 nn.Conv2d(width * 2 // 3, out_dim, 3, padding=1))
        self.out = _maybe_reweight(out_dim, cfg)

    def forward(self, x):
        return self.out(self.net(x))


def _qkv(dim: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(dim, dim, 1), nn.Conv2d(dim, dim, 3, padding=1, groups=dim))


def linear_attention(q, k, v, heads: int) -> torch.Tensor:
    """Efficient (softmax-kernel) linear attention over all positions, per head."""
    b, c, h, w = q.shape
    d = c // heads
    q = q.reshape(b, heads, d, h * w).softmax(2)
    k = k.reshape(b, heads, d, h * w).softmax(3)
    v = v.reshape(b, heads, d, h * w)
    ctx = k @ v.transpose(2, 3)  # (b, heads, d, d)
    return (ctx.transpose(2, 3) @ q).reshape(b, c, h, w)


class GlobalContext(nn.Module):
    """Linear attention of ``source`` features with themselves (inter-slice, and the
    hyperprior-guided context of v2), or, given ``values``, from the previous slice's
    anchor/non-anchor relation to the current anchors (intra-slice)."""

    def __init__(self, dim: int, out_dim: int, cfg: MLICv2Config, heads: int | None = None):
        super().__init__()
        self.heads = heads or max(dim // 32, 1)
        self.q, self.k, self.v = _qkv(dim), _qkv(dim), _qkv(dim)
        self.rope = cfg.rope and dim % (4 * self.heads) == 0
        self.reproject = nn.Conv2d(dim, out_dim, 5, padding=2)
        self.mlp = nn.Sequential(nn.Conv2d(out_dim, 2 * out_dim, 1), nn.GELU(),
                                 nn.Conv2d(2 * out_dim, 2 * out_dim, 3, padding=1,
                                           groups=2 * out_dim),
                                 nn.GELU(), nn.Conv2d(2 * out_dim, out_dim, 1))
        self.out = _maybe_reweight(out_dim, cfg)

    def forward(self, source: torch.Tensor, values: torch.Tensor | None = None) -> torch.Tensor:
        if values is None:
            q, k, v = self.q(source), self.k(source), self.v(source)
        else:  # intra: queries = previous non-anchors, keys = previous anchors
            mask = anchor_mask(*source.shape[-2:], source.device)
            q, k, v = self.q(source * (1 - mask)), self.k(source * mask), self.v(values)
        if self.rope:
            q, k = rope_2d(q), rope_2d(k)
        x = self.reproject(linear_attention(q, k, v, self.heads))
        return self.out(x + self.mlp(x))


def lrp_net(in_dim: int, out_dim: int, cfg: MLICv2Config) -> nn.Module:
    """MLIC++'s latent residual prediction: 3x3 convs ``in -> 224 -> 128 -> out`` with GELU
    (the caller applies ``0.5 * tanh``); with these widths the MLIC++ total is its
    published 83.5 M parameters."""
    a, b = cfg.width(224), cfg.width(128)
    return nn.Sequential(conv3x3(in_dim, a), nn.GELU(), conv3x3(a, b), nn.GELU(),
                         conv3x3(b, out_dim))


def mlp1x1(in_dim: int, out_dim: int, widths=(320, 256, 128)) -> nn.Module:
    layers, last = [], in_dim
    for width in widths:
        layers += [nn.Conv2d(last, width, 1), nn.GELU()]
        last = width
    return nn.Sequential(*layers, nn.Conv2d(last, out_dim, 1))


# ---------------------------------------------------------------- the model
class MLICv2(nn.Module):
    """The network and its training forward pass (likelihoods for the rate term)."""

    def __init__(self, cfg: MLICv2Config = MLICv2Config()):
        super().__init__()
        self.cfg = cfg
        n, m, s, c = cfg.N, cfg.M, cfg.slices, cfg.slice_ch
        self.g_a, self.g_s = analysis(cfg), synthesis(cfg)
        self.h_a, self.h_s = hyper_analysis(cfg), hyper_synthesis(cfg)
        self.entropy_bottleneck = EntropyBottleneck(n)
        self.gaussian_conditional = GaussianConditional(None)
        self.local = nn.ModuleList(LocalContext(c, cfg) for _ in range(s))
        self.channel = nn.ModuleList(ChannelContext(c * i, 4 * c, cfg) if i else nn.Identity()
                                     for i in range(s))
        self.inter = nn.ModuleList(GlobalContext(c * i, 2 * c, cfg) if i else nn.Identity()
                                   for i in range(s))
        self.intra = nn.ModuleList(GlobalContext(c, 2 * c, cfg, heads=2) if i else nn.Identity()
                                   for i in range(s))
        self.hyper_global = GlobalContext(2 * m, 2 * c, cfg) if cfg.hyper_global else None
        first = 2 * c if cfg.hyper_global else 0
        widths = tuple(cfg.width(w) for w in (320, 256, 128))
        self.params_anchor = nn.ModuleList(
            mlp1x1(2 * m + (6 * c if i else first), 2 * c, widths) for i in range(s))
        self.params_nonanchor = nn.ModuleList(
            mlp1x1(2 * m + (10 * c if i else 2 * c + first), 2 * c, widths) for i in range(s))
        self.lrp_anchor = nn.ModuleList(lrp_net(m + (i + 1) * c, c, cfg) for i in range(s))
        self.lrp_nonanchor = nn.ModuleList(lrp_net(m + (i + 1) * c, c, cfg) for i in range(s))

    def slice_contexts(self, idx: int, previous: list, hyper: torch.Tensor) -> list:
        """Context features for slice ``idx``'s anchors (those not needing its anchors)."""
        if idx == 0:
            return [self.hyper_global(hyper)] if self.hyper_global is not None else []
        prev = torch.cat(previous, 1)
        return [self.inter[idx](prev), self.channel[idx](prev)]

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, soft_round=None) -> dict:
        """Training pass; ``y`` replaces ``g_a(x)`` and ``soft_round`` (a function of
        ``y - mu``) the straight-through rounding of y, for SGA refinement (``sga.py``)."""
        def rounded_around(v, mean):
            return (soft_round or quantize_ste)(v - mean) + mean

        y = self.g_a(x) if y is None else y
        z = self.h_a(y)
        _, z_likelihoods = self.entropy_bottleneck(z)
        offset = self.entropy_bottleneck._get_medians()
        z_hat = quantize_ste(z - offset) + offset
        hyper = self.h_s(z_hat)
        hyper_means = hyper.chunk(2, 1)[1]
        mask = anchor_mask(*y.shape[-2:], y.device)
        done, likelihoods = [], []
        for idx, y_slice in enumerate(y.chunk(self.cfg.slices, 1)):
            ctx = self.slice_contexts(idx, done, hyper)
            scale_a, mean_a = self.params_anchor[idx](torch.cat(ctx + [hyper], 1)).chunk(2, 1)
            anchors = rounded_around(y_slice, mean_a) * mask
            anchors = anchors + mask * self._lrp(self.lrp_anchor[idx], hyper_means, done, anchors)
            local = [self.local[idx](anchors)]
            if idx:
                local.append(self.intra[idx](done[-1], anchors))
            params = self.params_nonanchor[idx](torch.cat(local + ctx + [hyper], 1))
            scale_n, mean_n = params.chunk(2, 1)
            scales = scale_a * mask + scale_n * (1 - mask)
            means = mean_a * mask + mean_n * (1 - mask)
            _, lik = self.gaussian_conditional(y_slice, scales, means)
            rounded = rounded_around(y_slice, means)
            if self.cfg.selective > 0:  # tiny scales: not coded, the mean is used
                skip = scales.abs() < self.cfg.selective
                lik = torch.where(skip, torch.ones_like(lik), lik)
                rounded = torch.where(skip, means, rounded)
            y_hat = anchors + rounded * (1 - mask)
            lrp = self._lrp(self.lrp_nonanchor[idx], hyper_means, done, y_hat)
            y_hat = y_hat + (1 - mask) * lrp
            done.append(y_hat)
            likelihoods.append(lik)
        return {"x_hat": self.g_s(torch.cat(done, 1)),
                "likelihoods": {"y": torch.cat(likelihoods, 1), "z": z_likelihoods}}

    @staticmethod
    def _lrp(net, hyper_means, done, current):
        return 0.5 * torch.tanh(net(torch.cat([hyper_means] + done + [current], 1)))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
