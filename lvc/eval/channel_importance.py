"""Measured channel importance: the PSNR lost when one latent channel is replaced by
its mean, the check of ISCS's premise that parameters alone tell which channels matter.

For each image the latent ``y_hat`` is computed once (the codec's analysis and
rounding); for each channel c the image is reconstructed with channel c set to its
spatial mean (its "DC": what the decoder would see if the channel carried nothing),
and the PSNR drop against the intact reconstruction is averaged over images.
Reconstructions of several channels run as one batch. (An evaluation, so it lives in
``lvc.eval``; the parameter-only side is ``lvc.codecs.iscs``.)
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..errors import BadInputError
from .rd import list_images, load_rgb


def center_crops(dataset, limit: int, crop: int, factor: int) -> list:
    """(1, 3, h, w) tensors in [0, 1]: center crops of side ``crop`` (0: whole images),
    cut to multiples of ``factor``, of the first ``limit`` images of ``dataset``."""
    out = []
    for path in list_images(dataset)[:limit]:
        a = load_rgb(path)
        h, w = a.shape[:2]
        ch, cw = (min(crop, h), min(crop, w)) if crop else (h, w)
        ch, cw = ch - ch % factor, cw - cw % factor
        if not ch or not cw:
            raise BadInputError(f"{path.name} is smaller than the model's {factor}-pixel step")
        a = a[(h - ch) // 2:(h - ch) // 2 + ch, (w - cw) // 2:(w - cw) // 2 + cw]
        out.append(torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 255)
    if not out:
        raise BadInputError(f"no images in {dataset}")
    return out


def _psnr(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-batch-item PSNR of images in [0, 1]."""
    mse = (x.clamp(0, 1) - ref).square().flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(1e-12))


@torch.no_grad()
def psnr_drop(encode: Callable, decode: Callable, images: list, batch: int = 8) -> np.ndarray:
    """(C,) mean PSNR drop (dB) when each channel is set to its mean.

    ``encode(x)`` -> latent (1, C, h, w) from an image (1, 3, H, W) in [0, 1];
    ``decode(y)`` -> reconstruction (B, 3, H, W) in [0, 1] of a batch of latents."""
    total = None
    for x in images:
        y = encode(x)
        channels = y.shape[1]
        base = _psnr(decode(y), x)[0]
        drops = torch.zeros(channels, dtype=torch.float64)
        means = y.mean(dim=(2, 3))[0]
        for start in range(0, channels, batch):
            idx = list(range(start, min(start + batch, channels)))
            ys = y.repeat(len(idx), 1, 1, 1)
            for i, c in enumerate(idx):
                ys[i, c] = means[c]
            drops[idx] = (base - _psnr(decode(ys), x.expand(len(idx), -1, -1, -1))).double()
        total = drops if total is None else total + drops
    return (total / len(images)).numpy()


def spearman(a, b) -> float:
    """Spearman's rank correlation; NaN when either side is constant (no ranking)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a), np.asarray(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    rho = spearmanr(a, b).statistic
    return float(rho) if math.isfinite(rho) else float("nan")
