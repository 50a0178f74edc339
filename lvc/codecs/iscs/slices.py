"""A channel-slice entropy model on a frozen mean-scale host, in two layouts.

The host (a trained compressai ``MeanScaleHyperprior``, e.g. ``mbt2018-mean-tiny``)
keeps its transforms and hyperprior; only the entropy parameters of y change. Its
latent channels are cut into slices coded one after another, and each slice's
(scale, mean) come from a small network over the hyper-synthesis output and the
already decoded slices it depends on (Minnen & Singh 2020's channel conditioning,
without latent residual prediction).

- ``sequential`` (the original ordering): channels in index order, ``n`` equal
  slices, slice i conditioned on slices 0..i-1. Decoding takes ``n`` steps.
- ``core`` (ISCS): channels permuted by the ISCS order; the Salient-Core comes first
  (coded in sequential slices when it is wider than one), then every auxiliary
  group is conditioned on the core only. Decoding takes the core's steps plus one:
  every auxiliary group at once (``stages()``), their networks side by side
  (``coding.py``).

Each slice network predicts a *correction* of the host's own (scale, mean) for its
channels (the last layer starts at zero), so fine-tuning starts at the host's rate
and only has to learn what the context adds. With frozen transforms and
straight-through rounding the distortion does not depend on these networks, so the
training loss is the rate alone (``rate_bits``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from compressai.entropy_models import GaussianConditional
from compressai.ops import quantize_ste
from torch import nn

from ...errors import BadInputError

WIDTHS = (96, 64)
"""Hidden widths of every slice network (3x3 convolutions; Minnen's 224/128 scaled to
a 160-channel latent)."""


@dataclass(frozen=True)
class SliceLayout:
    """Slices in coding order: their widths (contiguous channel ranges of the permuted
    latent) and, per slice, the earlier slices its parameters read."""

    sizes: tuple
    parents: tuple

    def __post_init__(self):
        if len(self.sizes) != len(self.parents) or not self.sizes:
            raise BadInputError("a slice layout needs one parent list per slice")
        for i, ps in enumerate(self.parents):
            if any(not 0 <= p < i for p in ps):
                raise BadInputError(f"slice {i} may only depend on earlier slices, not {ps}")

    @classmethod
    def sequential(cls, channels: int, slices: int) -> "SliceLayout":
        if channels % slices:
            raise BadInputError(f"{channels} channels do not split into {slices} equal slices")
        return cls((channels // slices,) * slices, tuple(tuple(range(i)) for i in range(slices)))

    @classmethod
    def core_first(cls, core: list, groups: list) -> "SliceLayout":
        """The ISCS layout: the core's slices (widths ``core``) one after another, then
        auxiliary groups (widths ``groups``) that each read the whole core only."""
        whole = tuple(range(len(core)))
        return cls((*core, *groups),
                   tuple(tuple(range(i)) for i in range(len(core))) + (whole,) * len(groups))

    @property
    def channels(self) -> int:
        return sum(self.sizes)

    def starts(self) -> list:
        return [sum(self.sizes[:i]) for i in range(len(self.sizes))]

    def widths(self) -> tuple:
        """(core, core slice width, auxiliary groups) it was made with: the last slice
        reads the whole core (in the sequential layout, every earlier slice)."""
        n_core = len(self.parents[-1])
        return sum(self.sizes[:n_core]), self.sizes[0], len(self.sizes) - n_core

    def stages(self) -> list:
        """Slices grouped by dependency depth: every slice of a stage can be decoded as
        soon as the earlier stages are."""
        depth: list = []
        for ps in self.parents:
            depth.append(1 + max((depth[p] for p in ps), default=-1))
        return [[i for i, d in enumerate(depth) if d == k] for k in range(max(depth) + 1)]

    def to_dict(self) -> dict:
        return {"sizes": list(self.sizes), "parents": [list(p) for p in self.parents]}

    @classmethod
    def from_dict(cls, d: dict) -> "SliceLayout":
        return cls(tuple(d["sizes"]), tuple(tuple(p) for p in d["parents"]))


def slice_net(in_ch: int, out_ch: int) -> nn.Sequential:
    a, b = WIDTHS
    net = nn.Sequential(nn.Conv2d(in_ch, a, 3, padding=1), nn.GELU(),
                        nn.Conv2d(a, b, 3, padding=1), nn.GELU(),
                        nn.Conv2d(b, out_ch, 3, padding=1))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


class SliceEntropyModel(nn.Module):
    """Per-slice (scale, mean) networks over ``hyper`` (the host's ``h_s(z_hat)``:
    scales then means of every channel, 2M channels) and the parent slices."""

    def __init__(self, layout: SliceLayout):
        super().__init__()
        self.layout = layout
        m = layout.channels
        self.nets = nn.ModuleList(
            slice_net(2 * m + sum(layout.sizes[p] for p in ps), 2 * size)
            for size, ps in zip(layout.sizes, layout.parents))
        self.gaussian_conditional = GaussianConditional(None)

    def params(self, idx: int, hyper: torch.Tensor, done: dict) -> tuple:
        """(scale, mean) of slice ``idx`` given the dequantized parent slices ``done``."""
        m, start, size = self.layout.channels, self.layout.starts()[idx], self.layout.sizes[idx]
        inputs = [hyper] + [done[p] for p in self.layout.parents[idx]]
        d_scale, d_mean = self.nets[idx](torch.cat(inputs, 1)).chunk(2, 1)
        return (hyper[:, start:start + size] + d_scale,
                hyper[:, m + start:m + start + size] + d_mean)

    def rate_bits(self, y: torch.Tensor, hyper: torch.Tensor) -> torch.Tensor:
        """Training: bits of ``y`` (noisy likelihoods); parents enter rounded around their
        means (straight-through), as the decoder will see them."""
        done, bits = {}, y.new_zeros(())
        for idx, (start, size) in enumerate(zip(self.layout.starts(), self.layout.sizes)):
            y_slice = y[:, start:start + size]
            scale, mean = self.params(idx, hyper, done)
            _, lik = self.gaussian_conditional(y_slice, scale, mean)
            bits = bits - torch.log2(lik).sum()
            done[idx] = quantize_ste(y_slice - mean) + mean
        return bits
