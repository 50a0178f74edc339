"""The conditional denoiser of the dual-representation codec: a small pixel-space U-Net.

Input: the noisy image ``x_t`` and the explicit reconstruction ``c`` (the base codec's
decoded image, upsampled to full size; zeros for the implicit-only variant), both in
[-1, 1], plus the timestep. Output: an estimate of the clean image, predicted as a
residual on ``c`` (the explicit branch already holds the semantics; the network adds
texture), which DiffC (``diffc.py``) needs as ``x0_hat`` for its prior.

Two resolutions below the input (strided convolutions), residual blocks with group
norm, SiLU and an additive timestep embedding; about 1.2 M parameters at width 32 so
it trains on a CPU. ``x0_fn`` wraps it for ``diffc`` (float64 numpy in and out),
in ``stable_cpu`` inference (thread-count independent results).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class UNetConfig:
    width: int = 32
    mults: tuple = (1, 2, 4)
    blocks: int = 1  # residual blocks per resolution
    time_dim: int = 128

    def to_dict(self) -> dict:
        return {**asdict(self), "mults": list(self.mults)}

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        d = dict(d)
        d["mults"] = tuple(d.get("mults", (1, 2, 4)))
        return cls(**d)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (N,) -> (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, time_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(time_dim, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class CondUNet(nn.Module):
    """x0_hat = c + U-Net([x_t, c], t)."""

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = config
        w, td = config.width, config.time_dim
        chans = [w * m for m in config.mults]
        self.time = nn.Sequential(nn.Linear(td, td), nn.SiLU(), nn.Linear(td, td))
        self.stem = nn.Conv2d(6, chans[0], 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        for i, c in enumerate(chans):
            cin = chans[max(i - 1, 0)] if i else chans[0]
            self.down.append(nn.ModuleList(
                [ResBlock(cin if b == 0 else c, c, td) for b in range(config.blocks)]))
            if i < len(chans) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        self.mid = ResBlock(chans[-1], chans[-1], td)
        self.up = nn.ModuleList()
        for i in reversed(range(len(chans) - 1)):
            self.up.append(ResBlock(chans[i + 1] + chans[i], chans[i], td))
        self.out = nn.Sequential(nn.GroupNorm(8, chans[0]), nn.SiLU(),
                                 nn.Conv2d(chans[0], 3, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    @property
    def factor(self) -> int:
        """Input sides must be multiples of this (pad otherwise)."""
        return 2 ** (len(self.config.mults) - 1)

    def forward(self, x_t: torch.Tensor, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time(timestep_embedding(t, self.config.time_dim))
        h = self.stem(torch.cat([x_t, cond], 1))
        skips = []
        for i, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h, emb)
            if i < len(self.downsample):
                skips.append(h)
                h = self.downsample[i](h)
        h = self.mid(h, emb)
        for block in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], 1), emb)
        return cond + self.out(h)


TILE = 512
"""Images with a side above this are denoised in TILE x TILE tiles (each computed with a
MARGIN of context on every side, then cropped), so memory stays bounded."""
MARGIN = 32


def _boxes(n: int) -> list:
    """(start, stop) of the tiles along a side of n pixels (one tile when n <= TILE)."""
    return [(a, min(a + TILE, n)) for a in range(0, n, TILE)] if n > TILE else [(0, n)]


def x0_fn(model: nn.Module, cond: np.ndarray):
    """``diffc`` denoiser: float64 (3, H, W) numpy -> x0 estimate; each (tile of the)
    image is padded to the model's factor by edge replication and cropped back."""
    from ..torch_utils import stable_cpu

    f = getattr(model, "factor", 1)
    h, w = cond.shape[-2:]
    c_all = torch.from_numpy(np.ascontiguousarray(cond, np.float32))[None]

    def run(xt: torch.Tensor, c: torch.Tensor, t: int) -> torch.Tensor:
        th, tw = xt.shape[-2:]
        ph, pw = -th % f, -tw % f
        if ph or pw:
            xt = F.pad(xt, (0, pw, 0, ph), mode="replicate")
            c = F.pad(c, (0, pw, 0, ph), mode="replicate")
        with stable_cpu():
            return model(xt, c, torch.tensor([int(t)]))[..., :th, :tw]

    def fn(x: np.ndarray, t: int) -> np.ndarray:
        xt = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None]
        out = torch.empty_like(xt)
        for y0, y1 in _boxes(h):
            for x0, x1 in _boxes(w):
                a0, a1 = max(0, y0 - MARGIN), min(h, y1 + MARGIN)
                b0, b1 = max(0, x0 - MARGIN), min(w, x1 + MARGIN)
                tile = run(xt[..., a0:a1, b0:b1], c_all[..., a0:a1, b0:b1], t)
                out[..., y0:y1, x0:x1] = tile[..., y0 - a0:y1 - a0, x0 - b0:x1 - b0]
        return out[0].double().numpy()

    return fn
