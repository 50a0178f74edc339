"""LiVeAction's decoder on the CPU with int8 matrix products (exact int32 accumulation).

Why: the decoder's 1x1 convolutions are plain GEMMs that already ran at ~120 GFLOP/s
in float32 on two cores and took most of a Kodak decode (0.2 s of 0.3 s). The CPU
multiplies int8 matrices about 4x faster (``torch._int_mm``, oneDNN with AVX512-VNNI:
2.4 ms against 9.2 ms for 1536x384 by 384x1536 here), and an integer product is
*exact*, so its result cannot depend on the thread count, the kernel or the BLAS.

How: every weight matrix of the decoder's pointwise layers (attention ``qkv`` and
``proj``, MBConv ``expand`` and ``project``, dense projections) is stored as int8 with
one scale per output channel, ``|w| <= 63``: with 7-bit weights no pair of products
can saturate the 16-bit intermediate sums of CPUs without VNNI, so the int32 result is
the exact integer product on every x86 CPU. Activations are quantised on the fly with
one scale per position (``amax / 127`` over the channels), the product is computed in
integers, and the result is scaled back to float32. MBConv runs one GroupNorm group of
its expanded channels at a time (exact: a group's statistics stay inside it), which
keeps each chunk in cache; the project product is quantised per chunk.

Everything else (GroupNorm, depthwise, attention's small products, the inverse WPT)
is the float32 code of ``model.py``, which is thread-count independent with oneDNN
off, and GELU is the exact (erf) form (``gelu``); none of it uses oneDNN, so the
result is also the same with oneDNN on, and oneDNN is needed only for the speed of
``_int_mm``. Where it is off (another codec's
block running in a thread), missing or fails, the same integers come from a float64
product (exact: every sum is an integer below 2**53), slower.

The reconstruction differs from the float32 decoder's by rounding only (all 24 Kodak
images: 49-56 dB PSNR between the two; against the original 0.001 dB lower at q1,
0.011 at q5, 0.041 at q8, the worst image 0.13 dB);
``benchmarks/liveaction_speed.py`` prints both. The stream is untouched: the latents
are decoded by the integer entropy model before any of this runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import _ATTENTION_EPS, DenseLinear, LinearAttention, MBConv, depthwise3

_SQRT_HALF = 0.5 ** 0.5
WEIGHT_MAX = 63
"""7-bit weights: u8 x s8 pair sums stay inside int16 on CPUs without VNNI."""
ACTIVATION_MAX = 127


def integer_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` of int8 matrices as exact int32: oneDNN's int8 GEMM when PyTorch may use
    it, else a float64 product (the same integers, every partial sum < 2**53)."""
    if torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled:
        try:
            return torch._int_mm(a, b)
        except RuntimeError:  # no kernel: an address-space limit, or a PyTorch without a
            pass              # CPU _int_mm (NotImplementedError is a RuntimeError)
    return torch.mm(a.double(), b.double()).to(torch.int32)


class IntegerLinear:
    """A pointwise layer ``(O, I)`` as int8 weights with per-output-channel scales."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        w = weight.detach().reshape(weight.shape[0], -1).float()
        scale = w.abs().amax(1).clamp_min(torch.finfo(torch.float32).tiny) / WEIGHT_MAX
        self.weight = torch.round(w / scale[:, None]).to(torch.int8).contiguous()
        self.scale = scale[:, None].contiguous()
        self.bias = None if bias is None else bias.detach().float()[:, None].contiguous()

    def __call__(self, x) -> torch.Tensor:
        """``(I, P)`` float32, or its ``quantise``d form -> ``(O, P)`` float32."""
        codes, step = quantise(x) if isinstance(x, torch.Tensor) else x
        y = integer_product(self.weight, codes).to(torch.float32)
        y.mul_(self.scale).mul_(step)
        return y if self.bias is None else y.add_(self.bias)


def quantise(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(I, P)`` float32 -> int8 codes and the step of each position (column), ``amax /
    127``: one scale per position follows the activations' spread from place to place."""
    step = x.abs().amax(0).clamp_min_(torch.finfo(torch.float32).tiny).div_(ACTIVATION_MAX)
    return torch.round(x / step).to(torch.int8), step


def gelu(x: torch.Tensor) -> torch.Tensor:
    """The exact (erf) GELU in place of the tanh form the network was trained with:
    2.4x faster here (0.10 against 0.25 ms on 192 x 1536 values) and within 5e-4 of
    it, far below the int8 steps of the products around it. PyTorch hands a
    *contiguous* float tensor's erf GELU to oneDNN when oneDNN is on, with other
    rounding; on a transposed view it runs its own kernel (the same memory order, so no
    slower), which keeps the result independent of oneDNN's switch. A plane with a side
    of 1 stays contiguous when transposed: there the formula, with ``torch.erf``."""
    view = x.transpose(-1, -2)
    if view.is_contiguous():
        return x * 0.5 * (1.0 + torch.erf(x * _SQRT_HALF))
    return F.gelu(view).transpose(-1, -2)


def _flat(x: torch.Tensor) -> torch.Tensor:
    """(1, C, *spatial) -> (C, P)."""
    return x.reshape(x.shape[1], -1)


class IntegerAttention:
    """``LinearAttention`` with integer ``qkv`` and ``proj`` products."""

    def __init__(self, attention: LinearAttention) -> None:
        self.heads, self.head_dim, self.norm = attention.heads, attention.head_dim, attention.norm
        self.qkv = IntegerLinear(attention.qkv.weight)
        self.proj = IntegerLinear(attention.proj.weight)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(_flat(x)).reshape(3, self.heads, self.head_dim, -1).unbind(0)
        q, k = F.relu(q), F.relu(k)
        v = F.pad(v, (0, 0, 0, 1), value=1.0)                     # ones row -> normaliser
        out = torch.matmul(torch.matmul(v, k.transpose(-1, -2)), q)    # (h, d + 1, P)
        out = out[:, :-1] / (out[:, -1:] + _ATTENTION_EPS)
        y = self.proj(out.reshape(-1, out.shape[-1])).reshape(x.shape)
        return self.norm(y)


class IntegerMBConv:
    """``MBConv`` one GroupNorm group of its expanded channels at a time, with integer
    expand and project products (the project's input quantised per group)."""

    def __init__(self, block: MBConv) -> None:
        self.block = block
        groups, mid = block.norm1.num_groups, block.expand.out_channels
        step = mid // groups
        self.parts = [slice(lo, lo + step) for lo in range(0, mid, step)]
        self.expand = [IntegerLinear(block.expand.weight[p], block.expand.bias[p])
                       for p in self.parts]
        self.project = [IntegerLinear(block.project.weight[:, p]) for p in self.parts]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        b, spatial, flat = self.block, x.shape[2:], quantise(_flat(x))  # once for all groups
        out = None
        for part, expand, project in zip(self.parts, self.expand, self.project):
            h = expand(flat).reshape((1, -1) + spatial)
            h = gelu(F.group_norm(h, 1, b.norm1.weight[part], b.norm1.bias[part], b.norm1.eps))
            h = depthwise3(h, b.depthwise.weight[part], b.depthwise.bias[part])
            h = gelu(F.group_norm(h, 1, b.norm2.weight[part], b.norm2.bias[part], b.norm2.eps))
            h = project(_flat(h))
            out = h if out is None else out.add_(h)
        return gelu(b.norm3(out.reshape(x.shape)))


def _projection(layer):
    """An integer version of a dense projection; other layers (Monarch, identity) as is."""
    if not isinstance(layer, DenseLinear):
        return layer
    linear = IntegerLinear(layer.weight, layer.bias)
    return lambda x: linear(_flat(x)).reshape((1, -1) + tuple(x.shape[2:]))


class IntegerDecoder:
    """``model.decoder`` with integer pointwise products, for batches of one on the CPU."""

    def __init__(self, decoder) -> None:
        self.decoder = decoder
        self.proj_in, self.proj_out = _projection(decoder.proj_in), _projection(decoder.proj_out)
        self.blocks = [(IntegerAttention(b.attention), IntegerMBConv(b.local))
                       for b in decoder.blocks]

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        if q.shape[0] != 1:
            return torch.cat([self(part) for part in q.split(1)])
        x = self.proj_in(q)
        for attention, local in self.blocks:
            x = x + attention(x)
            x = x + local(x)
        return self.decoder.synthesis(self.proj_out(x))
