"""The LiVeAction network: lightweight encoder, int8 Laplace quantiser, heavier decoder.

Data flow (2-D, defaults: RGB, J = 4 levels, F = 2^J = 16, 12 latent channels)::

    x (N, 3, H, W) in [-1, 1]
      -> replicate-pad bottom/right to multiples of F
      -> encoder:   WPT (3 -> 768 channels at H/16 x W/16) -> compand
                    -> 4 x [Monarch 1x1 -> GN8 -> GELU -> Monarch 1x1 -> GN8 -> SE -> + skip]
                    -> Monarch projection 768 -> 12                      = z (continuous)
      -> quantiser: q = 254 * LaplaceCDF(z; 0, s_c) - 127 = 127 sign(z) (1 - exp(-|z|/s_c))
                    training: q + U(-1/2, 1/2);  inference: round -> int8 in [-127, 127]
      -> decoder:   Monarch projection 12 -> width
                    -> N x [x + LinearAttention(x); x + MBConv(x)]
                    -> (Monarch projection width -> 768 when width != 768)
                    -> decompand -> inverse WPT -> crop (-> clamp to [-1, 1] at inference)

What the decoder receives is the quantised value itself (the CDF domain, -127..127 as
float), as in the reference code, not the latent mapped back through the inverse CDF.

Following the reference (``livecodec``, UT-SysML/liveaction): factorised ("Monarch")
pointwise convolutions choose their groups by minimising the weight count; GroupNorm
uses 8 groups and eps 1e-7; the decoder's MBConv applies GroupNorm + GELU after each of
its three convolutions; linear attention uses ReLU features and a ones-padded value
row for the normaliser (eps 1e-5). The rate proxy is ``log2(std(q))`` over the whole
companded latent tensor (all channels, positions and batch), before noise.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import BadInputError, ModelMismatchError
from .wpt import compand, decompand, iwpt, wpt, wpt_channels

__all__ = ["LiVeActionConfig", "MonarchLinear", "DenseLinear", "SqueezeExcite", "EncoderBlock",
           "Encoder", "LaplaceQuantizer", "LinearAttention", "MBConv", "DecoderBlock", "Decoder",
           "LiVeAction", "liveaction_loss", "complexity"]

_Q_MAX = 127            # int8 latents live in [-127, 127]
_ATTENTION_EPS = 1e-5


@dataclass(frozen=True)
class LiVeActionConfig:
    """Architecture hyper-parameters; ``to_dict``/``from_dict`` round-trip through JSON.

    ``levels`` is J (downsampling factor F = 2^J per axis); the hidden (WPT) width is
    ``in_channels * 2^(ndim*J)``. ``decoder_width=None`` means the hidden width.
    ``projection`` is "monarch" (factorised, as the paper) or "dense" for the three
    projections between the hidden width and the latent (encoder ``proj``, decoder
    ``proj_in``/``proj_out``): dense ones can hold a PCA warm start exactly
    (``warmstart.py``) and add ``in*out/F^2`` MACs per pixel (288 for 768 -> 96).
    ``compand`` applies the power-law companding to the wavelet coefficients (images);
    ``input_gain`` multiplies the signal before the transform (and divides the
    reconstruction): audio in [-1, 1] has wavelet coefficients about 20x smaller than
    an image's, so without a gain its latent would be a fraction of one quantisation
    step; the audio models use no companding (it spreads variance to the quiet bands,
    so a truncated PCA loses the loud ones) and a gain instead (``signals.py``).
    """

    in_channels: int = 3
    levels: int = 4
    latent_channels: int = 12
    encoder_blocks: int = 4
    decoder_blocks: int = 8
    decoder_width: int | None = None
    mbconv_expansion: int = 6
    se_ratio: float = 0.25
    norm_groups: int = 8
    norm_eps: float = 1e-7
    attention_head_dim: int = 32
    laplace_scale_init: float = 42.0
    ndim: int = 2
    projection: str = "monarch"
    compand: bool = True
    input_gain: float = 1.0

    def __post_init__(self) -> None:
        if self.ndim not in (1, 2, 3):
            raise ValueError(f"ndim must be 1, 2 or 3, not {self.ndim}")
        if self.projection not in ("monarch", "dense"):
            raise ValueError(f"projection must be 'monarch' or 'dense', not {self.projection!r}")
        if self.levels < 1 or self.in_channels < 1 or self.latent_channels < 1:
            raise ValueError("levels, in_channels and latent_channels must be positive")
        for name, width in (("hidden width", self.hidden_width), ("decoder width", self.width)):
            if width % self.norm_groups:
                raise ValueError(f"{name} {width} is not divisible by "
                                 f"norm_groups={self.norm_groups}")
        if self.width % self.attention_head_dim:
            raise ValueError(f"decoder width {self.width} is not divisible by "
                             f"attention_head_dim={self.attention_head_dim}")

    @property
    def factor(self) -> int:
        """F: the downsampling factor per spatial axis (2^levels)."""
        return 2 ** self.levels

    @property
    def hidden_width(self) -> int:
        """Channels after the wavelet packet transform: in_channels * 2^(ndim*levels)."""
        return wpt_channels(self.in_channels, self.levels, self.ndim)

    @property
    def width(self) -> int:
        """The decoder's working width."""
        return self.decoder_width or self.hidden_width

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LiVeActionConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelMismatchError(f"unknown LiVeAction config fields {unknown}: "
                                     "weights from a newer version of lvc?")
        return cls(**data)


def _conv(ndim: int) -> type[nn.Module]:
    return (nn.Conv1d, nn.Conv2d, nn.Conv3d)[ndim - 1]


def _spatial_dims(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(2, x.dim()))


def _monarch_groups(in_features: int, out_features: int) -> int:
    """g1 minimising the weights ``in^2/g1 + in*out/g2`` with ``g1*g2 = in`` and
    ``g2 | out`` (smallest g1 on ties, as the reference). ``g1 = in`` always fits."""
    n, m = in_features, out_features
    return min((n * n // g1 + n * m // (n // g1), g1) for g1 in range(1, n + 1)
               if n % g1 == 0 and m % (n // g1) == 0)[1]


class MonarchLinear(nn.Module):
    """Factorised pointwise (1x1) convolution: block-diagonal, transpose, block-diagonal.

    Stage 1 is a grouped 1x1 conv ``in -> in`` with ``g1`` groups of ``k = in/g1``
    channels; the channels, viewed as ``(g1, k)``, are transposed to ``(k, g1)``;
    stage 2 is a grouped 1x1 conv ``in -> out`` with ``g2 = k`` groups, so each stage-2
    group mixes the j-th output of every stage-1 group. With ``g1 ~ sqrt(in)`` this is
    O(in^1.5) weights instead of in*out. The grouped products run as ``einsum`` over
    reshaped tensors (batched matmuls), much faster here than ``Conv2d(groups=...)``.
    Works on ``(N, C, *spatial)`` for any number of spatial axes.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False,
                 groups: int | None = None) -> None:
        super().__init__()
        g1 = groups or _monarch_groups(in_features, out_features)
        if in_features % g1 or out_features % (in_features // g1):
            raise ValueError(f"groups={g1} does not factor {in_features} -> {out_features}")
        g2 = in_features // g1
        self.in_features, self.out_features, self.groups = in_features, out_features, (g1, g2)
        self.weight1 = nn.Parameter(torch.empty(g1, g2, g2))                   # (group, out, in)
        self.weight2 = nn.Parameter(torch.empty(g2, out_features // g2, g1))
        self.bias1 = nn.Parameter(torch.empty(in_features)) if bias else None
        self.bias2 = nn.Parameter(torch.empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(+-1/sqrt(fan_in)) per stage, the default of ``nn.Conv2d``."""
        for weight, bias in ((self.weight1, self.bias1), (self.weight2, self.bias2)):
            bound = 1.0 / math.sqrt(weight.shape[-1])
            nn.init.uniform_(weight, -bound, bound)
            if bias is not None:
                nn.init.uniform_(bias, -bound, bound)

    def macs_per_position(self) -> int:
        g1, g2 = self.groups
        return (self.in_features * self.in_features // g1
                + self.in_features * self.out_features // g2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, spatial = x.shape[0], x.shape[2:]
        g1, g2 = self.groups
        y = torch.einsum("goi,ngip->ngop", self.weight1, x.reshape(n, g1, g2, -1))
        if self.bias1 is not None:
            y = y + self.bias1.view(1, g1, g2, 1)
        # stage-2 group = index within a stage-1 group; its inputs = the stage-1 groups
        y = torch.einsum("goi,nigp->ngop", self.weight2, y)
        if self.bias2 is not None:
            y = y + self.bias2.view(1, g2, -1, 1)
        return y.reshape(n, self.out_features, *spatial)

    def to_dense(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The equivalent dense ``(out, in)`` matrix and bias, built from the factors."""
        g1, g2 = self.groups
        first = torch.block_diag(*self.weight1)
        order = torch.arange(self.in_features, device=first.device).view(g1, g2).t().reshape(-1)
        mixed = torch.block_diag(*self.weight2) @ first[order]      # row j*g1+g <- g*g2+j
        if self.bias1 is None:
            return mixed, None
        return mixed, torch.block_diag(*self.weight2) @ self.bias1[order] + self.bias2

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, groups={self.groups}, "
                f"bias={self.bias1 is not None}")


class DenseLinear(nn.Module):
    """Dense pointwise (1x1) projection with bias, on ``(N, C, *spatial)``."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.weight, -bound, bound)

    def macs_per_position(self) -> int:
        return self.in_features * self.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, spatial = x.shape[0], x.shape[2:]
        y = torch.matmul(self.weight, x.reshape(n, self.in_features, -1))
        return (y + self.bias[:, None]).reshape(n, self.out_features, *spatial)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}"


def _projection(config: LiVeActionConfig, in_features: int, out_features: int) -> nn.Module:
    if config.projection == "dense":
        return DenseLinear(in_features, out_features)
    return MonarchLinear(in_features, out_features)


def _group_norm(config: LiVeActionConfig, channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(config.norm_groups, channels, eps=config.norm_eps)


class SqueezeExcite(nn.Module):
    """Channel gating: spatial mean -> Monarch (C -> C*ratio) -> GELU -> Monarch -> sigmoid."""

    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__()
        mid = int(channels * ratio)
        self.reduce = MonarchLinear(channels, mid, bias=True)
        self.act = nn.GELU(approximate="tanh")
        self.expand = MonarchLinear(mid, channels, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=_spatial_dims(x), keepdim=True)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(s))))


class EncoderBlock(nn.Module):
    """x + SE(GN(Monarch(GELU(GN(Monarch(x))))))."""

    def __init__(self, config: LiVeActionConfig) -> None:
        super().__init__()
        width = config.hidden_width
        self.conv1 = MonarchLinear(width, width)
        self.norm1 = _group_norm(config, width)
        self.act = nn.GELU(approximate="tanh")
        self.conv2 = MonarchLinear(width, width)
        self.norm2 = _group_norm(config, width)
        self.se = SqueezeExcite(width, config.se_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.se(self.norm2(self.conv2(self.act(self.norm1(self.conv1(x))))))


class Encoder(nn.Module):
    """WPT -> compand -> residual Monarch blocks -> Monarch projection to the latent.

    Spatial sizes must be multiples of F (``LiVeAction.encode`` pads).
    """

    def __init__(self, config: LiVeActionConfig) -> None:
        super().__init__()
        self.levels, self.ndim = config.levels, config.ndim
        self.blocks = nn.Sequential(*[EncoderBlock(config) for _ in range(config.encoder_blocks)])
        self.proj = _projection(config, config.hidden_width, config.latent_channels)
        self.compand, self.gain = config.compand, config.input_gain

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """The fixed front end: (gain,) WPT, (companding)."""
        y = wpt(x * self.gain if self.gain != 1.0 else x, self.levels, self.ndim)
        return compand(y) if self.compand else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.blocks(self.analysis(x)))


class LaplaceQuantizer(nn.Module):
    """Per-channel Laplace-CDF companding to [-127, 127], then noise or int8 rounding.

    ``compand(z) = 254 * LaplaceCDF(z; 0, s_c) - 127 = 127 sign(z) (1 - exp(-|z|/s_c))``
    with a learnable scale per channel, stored as ``log_scale``.
    """

    def __init__(self, channels: int, scale_init: float = 42.0) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.full((channels,), math.log(scale_init)))

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.exp()

    def compand(self, z: torch.Tensor) -> torch.Tensor:
        s = self.scale.view([1, -1] + [1] * (z.dim() - 2))
        return _Q_MAX * z.sign() * -torch.expm1(-z.abs() / s)

    def discretize(self, q: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        """Training: ``q + U(-1/2, 1/2)`` (float). Inference: ``round(q)`` as int8."""
        if self.training if training is None else training:
            return q + (torch.rand_like(q) - 0.5)
        return q.round().clamp(-_Q_MAX, _Q_MAX).to(torch.int8)

    def forward(self, z: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        return self.discretize(self.compand(z), training)

    @staticmethod
    def dequantize(q: torch.Tensor) -> torch.Tensor:
        """What the decoder receives: the quantised value as float32 (CDF domain)."""
        return q.to(torch.float32)


class LinearAttention(nn.Module):
    """Global multi-head ReLU linear attention, O(positions): proj(softmax-free attn) -> GN.

    Per head: ``out_p = V K^T relu(q_p) / (1^T K^T relu(q_p) + eps)`` with ``K = relu(k)``.
    """

    def __init__(self, config: LiVeActionConfig) -> None:
        super().__init__()
        width, conv = config.width, _conv(config.ndim)
        self.head_dim = config.attention_head_dim
        self.heads = width // self.head_dim
        self.qkv = conv(width, 3 * width, 1, bias=False)
        self.proj = conv(width, width, 1, bias=False)
        self.norm = _group_norm(config, width)

    def macs_per_position(self) -> int:
        width, d = self.heads * self.head_dim, self.head_dim
        return 4 * width * width + 2 * self.heads * d * (d + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        q, k, v = self.qkv(x).reshape(n, 3, self.heads, self.head_dim, -1).unbind(1)
        q, k = F.relu(q), F.relu(k)
        v = F.pad(v, (0, 0, 0, 1), value=1.0)             # extra row of ones -> normaliser
        out = torch.matmul(torch.matmul(v, k.transpose(-1, -2)), q)    # (n, h, d+1, P)
        out = out[:, :, :-1] / (out[:, :, -1:] + _ATTENTION_EPS)
        return self.norm(self.proj(out.reshape(x.shape)))


def depthwise3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Depthwise convolution with 3 taps per axis and padding 1 (any number of spatial
    axes), as 3**ndim multiply-adds of shifted views, for inference. Why not
    ``F.conv2d(groups=C)``: with oneDNN off (``stable_cpu``) PyTorch's native grouped
    convolution runs one tiny kernel per channel (6216 calls, 60% of a Kodak decode);
    these elementwise ops are 2-3x faster and, each output element summed in a fixed
    order, give the same result for any thread count."""
    ndim = x.dim() - 2
    padded = F.pad(x, (1, 1) * ndim)
    shape = (1, -1) + (1,) * ndim
    out = bias.view(shape).expand_as(x).clone() if bias is not None else torch.zeros_like(x)
    for offsets in itertools.product(range(3), repeat=ndim):
        window = padded[(slice(None), slice(None)) +
                        tuple(slice(o, o + n) for o, n in zip(offsets, x.shape[2:]))]
        out.addcmul_(window, weight[(slice(None), 0) + offsets].view(shape))
    return out


class MBConv(nn.Module):
    """1x1 expand (x6) -> GN -> GELU -> depthwise 3x3 -> GN -> GELU -> 1x1 project -> GN -> GELU.

    Without autograd (inference) the expanded channels are processed one GroupNorm
    group at a time: exact (each group's statistics stay inside its chunk) and it
    keeps the peak memory at 1/8 of the expanded tensor.
    """

    def __init__(self, config: LiVeActionConfig) -> None:
        super().__init__()
        width, conv = config.width, _conv(config.ndim)
        mid = width * config.mbconv_expansion
        self.expand = conv(width, mid, 1, bias=True)
        self.norm1 = _group_norm(config, mid)
        self.depthwise = conv(mid, mid, 3, padding=1, groups=mid, bias=True)
        self.norm2 = _group_norm(config, mid)
        self.project = conv(mid, width, 1, bias=False)
        self.norm3 = _group_norm(config, width)
        self.act = nn.GELU(approximate="tanh")
        self._conv = (F.conv1d, F.conv2d, F.conv3d)[config.ndim - 1]

    def macs_per_position(self) -> int:
        mid, width = self.expand.out_channels, self.expand.in_channels
        return 2 * width * mid + mid * math.prod(self.depthwise.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups, mid = self.norm1.num_groups, self.expand.out_channels
        chunks = 1 if torch.is_grad_enabled() else groups
        step, out = mid // chunks, None

        def norm_act(h: torch.Tensor, norm: nn.GroupNorm, part: slice) -> torch.Tensor:
            h = F.group_norm(h, groups // chunks, norm.weight[part], norm.bias[part], norm.eps)
            return self.act(h)

        expand, depthwise = self.expand, self.depthwise
        for lo in range(0, mid, step):
            part = slice(lo, lo + step)
            h = norm_act(self._conv(x, expand.weight[part], expand.bias[part]), self.norm1, part)
            if chunks == 1:  # training: autograd through the library convolution
                h = self._conv(h, depthwise.weight[part], depthwise.bias[part], padding=1,
                               groups=step)
            else:
                h = depthwise3(h, depthwise.weight[part], depthwise.bias[part])
            h = self._conv(norm_act(h, self.norm2, part), self.project.weight[:, part])
            out = h if out is None else out.add_(h)
        return self.act(self.norm3(out))


class DecoderBlock(nn.Module):
    """x + LinearAttention(x), then + MBConv(x) (EfficientViT-style block)."""

    def __init__(self, config: LiVeActionConfig) -> None:
        super().__init__()
        self.attention = LinearAttention(config)
        self.local = MBConv(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(x)
        return x + self.local(x)


class Decoder(nn.Module):
    """Monarch projection up -> blocks -> (projection to the hidden width) -> decompand -> IWPT."""

    def __init__(self, config: LiVeActionConfig) -> None:
        super().__init__()
        self.levels, self.ndim = config.levels, config.ndim
        self.proj_in = _projection(config, config.latent_channels, config.width)
        self.blocks = nn.Sequential(*[DecoderBlock(config) for _ in range(config.decoder_blocks)])
        self.proj_out = (nn.Identity() if config.width == config.hidden_width
                         else _projection(config, config.width, config.hidden_width))
        self.compand, self.gain = config.compand, config.input_gain

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.proj_out(self.blocks(self.proj_in(q))))

    def synthesis(self, y: torch.Tensor) -> torch.Tensor:
        """The fixed back end: (decompanding,) inverse WPT, (1 / gain)."""
        x = iwpt(decompand(y) if self.compand else y, self.levels, self.ndim)
        return x / self.gain if self.gain != 1.0 else x


class LiVeAction(nn.Module):
    """The codec network: ``encoder`` (g_a), ``quantizer``, ``decoder`` (g_s).

    Inputs are ``(N, in_channels, *spatial)`` in [-1, 1] of any size: they are padded
    by edge replication on the bottom/right (the high end of every axis) to multiples
    of F and the reconstruction is cropped back. Replication (rather than reflection)
    works for any size, even smaller than F, and flat padding costs few bits.
    """

    def __init__(self, config: LiVeActionConfig | None = None) -> None:
        super().__init__()
        self.config = config or LiVeActionConfig()
        self.encoder = Encoder(self.config)
        self.quantizer = LaplaceQuantizer(self.config.latent_channels,
                                          self.config.laplace_scale_init)
        self.decoder = Decoder(self.config)

    def latent_size(self, *size: int) -> tuple[int, ...]:
        """Latent spatial size for an input of spatial ``size`` (ceil(size / F))."""
        f = self.config.factor
        return tuple(-(-s // f) for s in size)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if x.dim() != cfg.ndim + 2 or x.shape[1] != cfg.in_channels:
            raise BadInputError(f"expected (N, {cfg.in_channels}, {cfg.ndim} spatial axes), "
                                f"got {tuple(x.shape)}")
        pads = [p for s in reversed(x.shape[2:]) for p in (0, -s % cfg.factor)]
        return F.pad(x, pads, mode="replicate") if any(pads) else x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous latent ``z`` (before quantisation), ``(N, latent, *ceil(size/F))``."""
        return self.encoder(self._pad(x))

    def quantize(self, z: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        """Noisy float (training) or int8 (inference) latent; default: ``self.training``."""
        return self.quantizer(z, training)

    def dequantize(self, q: torch.Tensor) -> torch.Tensor:
        return self.quantizer.dequantize(q)

    def decode(self, q: torch.Tensor, size: tuple[int, ...] | None = None,
               clamp: bool = True, decoder=None) -> torch.Tensor:
        """Reconstruct from int8 or float quantised latents; crop to ``size`` (the
        input's spatial size, default: the padded size); clamp to [-1, 1] if asked.
        ``decoder``: another implementation of ``self.decoder`` (``integer_synthesis``)."""
        x = (decoder or self.decoder)(q if q.is_floating_point() else self.dequantize(q))
        if size is not None:
            x = x[(slice(None), slice(None)) + tuple(slice(0, s) for s in size)]
        return x.clamp(-1.0, 1.0) if clamp else x

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training pass: ``x_hat`` (unclamped, cropped), ``latent_noisy`` (noisy in
        training mode, rounded in eval mode), ``latent_companded`` (the CDF-domain latent
        before noise, for the rate proxy)."""
        q = self.quantizer.compand(self.encode(x))
        noisy = self.dequantize(self.quantizer.discretize(q))
        return {"x_hat": self.decode(noisy, tuple(x.shape[2:]), clamp=False),
                "latent_noisy": noisy, "latent_companded": q}


def liveaction_loss(x: torch.Tensor, x_hat: torch.Tensor, latent_companded: torch.Tensor,
                    lam: float = 0.03, floor: float = 0.0) -> torch.Tensor:
    """``log10(MSE(x, x_hat)) + lam * log2(std(latent_companded))`` (std over the whole tensor).

    ``floor > 0`` uses ``log2(sqrt(std^2 + floor^2))`` instead: the same gradient when
    the spread is many quantisation steps, but bounded below, so a latent already
    inside one step (which costs almost no bits) is not pushed on towards zero; with
    nested channel dropout the unbounded ``log2(std)`` rewards collapsing the few
    channels of the lowest rate level without limit.
    """
    std = latent_companded.std()
    rate = torch.log2(std) if floor <= 0 else 0.5 * torch.log2(std * std + floor * floor)
    return torch.log10(F.mse_loss(x_hat, x)) + lam * rate


def spectral_loss(x: torch.Tensor, x_hat: torch.Tensor, sizes=(256, 1024),
                  floor: float = 1e-3) -> torch.Tensor:
    """Mean |log10(|STFT(x_hat)| + floor) - log10(|STFT(x)| + floor)| over Hann STFTs of
    ``sizes`` (hop 1/4), for 1-D signals ``(N, C, T)``.

    Why: an MSE-trained decoder at low rates leaves the quiet bands empty (the
    latents that carried them are dropped or rounded to zero), and speech recognisers
    read log spectra, where an empty band is a large error; a log-magnitude distance
    asks the decoder to keep the spectral envelope. ``floor`` (in the units of ``x``)
    stops bands far below the signal from counting.
    """
    flat, flat_hat = x.reshape(-1, x.shape[-1]), x_hat.reshape(-1, x_hat.shape[-1])
    total = x.new_zeros(())
    for n in sizes:
        window = torch.hann_window(n, device=x.device, dtype=x.dtype)

        def mag(v):
            return torch.stft(v, n, n // 4, window=window, return_complex=True).abs()

        total = total + (torch.log10(mag(flat_hat) + floor) - torch.log10(mag(flat) + floor)
                         ).abs().mean()
    return total / len(sizes)


def complexity(model: LiVeAction, *size: int) -> dict[str, Any]:
    """Parameters and multiply-accumulates per input pixel for an input of spatial ``size``
    (``height, width`` for images).

    MACs are counted with forward hooks on a weightless copy of the model (meta device,
    no arithmetic), so padding to multiples of F is included: Monarch and dense
    convolutions, the depthwise convolution and the attention products, plus the
    lifting WPT (about 4 MACs per sample, axis and level, plus one gain per sample).
    Normalisation, activations, companding and squeeze-excite gating are not counted.
    """
    cfg = model.config
    if len(size) != cfg.ndim:
        raise ValueError(f"expected {cfg.ndim} spatial sizes, got {size}")
    with torch.device("meta"):
        meta = LiVeAction(cfg)
    macs = {"encoder": 0, "decoder": 0}

    def hook(part: str):
        def count(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            macs[part] += output.numel() // output.shape[1] * module.macs_per_position()
        return count

    handles = [m.register_forward_hook(hook(part))
               for part in macs for m in getattr(meta, part).modules()
               if isinstance(m, (MonarchLinear, DenseLinear, LinearAttention, MBConv))]
    try:
        with torch.no_grad():
            x = torch.zeros(1, cfg.in_channels, *size, device="meta")
            padded = meta._pad(x)
            meta.decode(meta.quantizer.compand(meta.encode(x)))
    finally:
        for h in handles:
            h.remove()
    transform = padded.numel() * (4 * cfg.ndim * cfg.levels + 1)
    pixels = math.prod(size)

    def params(part: nn.Module) -> int:
        return sum(p.numel() for p in part.parameters())

    return {
        "size": tuple(size),
        "padded_size": tuple(padded.shape[2:]),
        "latent_shape": (cfg.latent_channels, *model.latent_size(*size)),
        "encoder_params": params(model.encoder),
        "quantizer_params": params(model.quantizer),
        "decoder_params": params(model.decoder),
        "wpt_macs_per_pixel": transform / pixels,
        "encoder_macs_per_pixel": (macs["encoder"] + transform) / pixels,
        "decoder_macs_per_pixel": (macs["decoder"] + transform) / pixels,
    }
