"""Image quality metrics: PSNR (RGB and BT.601 luma), MS-SSIM, and LPIPS/DISTS when present.

Conventions (those of CompressAI's RD curves, so our numbers overlay published ones):
- metrics are computed on the colour channels; an alpha channel is ignored;
- uint8 images have peak 255, uint16 images peak 65535 (other dtypes are taken
  to be on the 0..255 scale);
- ``psnr-rgb`` is the PSNR of the MSE over all colour samples, ``psnr-y`` that of
  the full-range BT.601 luma (JPEG/JFIF), for gray images both are the same;
- ``ms-ssim-rgb`` is pytorch_msssim's MS-SSIM (data range 255, 11x11 Gaussian window,
  standard five-scale weights) averaged over the colour channels.

torch is imported only inside the functions that need it, so importing this module
(and ``codec list``) stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import os
import sys

import numpy as np

from ..errors import BadInputError, LVCError

METRIC_NAMES = ("psnr", "ms-ssim", "lpips", "dists")
PERCEPTUAL = ("lpips", "dists")

# Wang, Simoncelli & Bovik (2003) scale weights, finest scale first, as pytorch_msssim.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WIN = 11  # pytorch_msssim's default Gaussian window


def _pair(ref, dec) -> tuple:
    ref, dec = np.asarray(ref), np.asarray(dec)
    if ref.shape != dec.shape:
        raise BadInputError(f"images differ in shape: {ref.shape} vs {dec.shape}")
    return ref, dec


def _colour(img: np.ndarray) -> np.ndarray:
    """The colour planes: HxW gray or HxWx3 RGB (alpha and singleton channels dropped)."""
    if img.ndim == 3 and img.shape[2] in (1, 2):
        return img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        return img[:, :, :3]
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3):
        return img
    raise BadInputError(f"an image must be HxW or HxWxC with C in 1..4, got shape {img.shape}")


def peak_of(img: np.ndarray) -> float:
    """The largest sample value of the image's dtype: 65535 for uint16, else 255."""
    return 65535.0 if img.dtype == np.uint16 else 255.0


def psnr(ref, dec, peak: float = 255.0) -> float:
    """PSNR in dB from the float64 MSE over all samples; ``inf`` for identical images."""
    ref, dec = _pair(ref, dec)
    mse = float(np.mean((ref.astype(np.float64) - dec.astype(np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * math.log10(peak * peak / mse)


def rgb_to_y(img) -> np.ndarray:
    """Full-range BT.601 luma (JPEG/JFIF): Y = 0.299 R + 0.587 G + 0.114 B, float64.

    Gray images (HxW or HxWx1) are returned as float64; alpha is ignored.
    """
    img = _colour(np.asarray(img)).astype(np.float64)
    if img.ndim == 2:
        return img
    return img @ np.array([0.299, 0.587, 0.114])


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales an image of this size allows (0 to 5).

    The coarsest scale must still hold the 11-pixel window: pytorch_msssim asks for a
    smaller side above 160 px for five scales, so n scales need a side above 10 * 2**(n-1).
    """
    side = min(height, width)
    if side < _WIN:
        return 0
    n = 1
    while n < len(MS_SSIM_WEIGHTS) and side > (_WIN - 1) * 2 ** n:
        n += 1
    return n


def ms_ssim(ref, dec) -> float:
    """MS-SSIM of two images (RGB or gray; alpha ignored), 1.0 for identical images.

    Computed with ``pytorch_msssim`` on float64 tensors scaled to [0, 255] with
    ``data_range=255``, averaged over the colour channels. Images whose smaller side is
    at most 160 px are too small for the standard five scales: they use as many scales
    as fit (see ``ms_ssim_scales``) with the standard weights truncated and renormalised
    to sum to one (one scale is plain SSIM). Such values are not comparable with
    five-scale MS-SSIM. Images smaller than 11 px give NaN.
    """
    ref, dec = _pair(ref, dec)
    scale = 255.0 / peak_of(ref)
    ref, dec = _colour(ref), _colour(dec)
    levels = ms_ssim_scales(ref.shape[0], ref.shape[1])
    if levels == 0:
        return float("nan")
    import torch
    import pytorch_msssim

    def tensor(a):
        a = a.astype(np.float64) * scale
        a = a[None, None] if a.ndim == 2 else a.transpose(2, 0, 1)[None]
        return torch.from_numpy(np.ascontiguousarray(a))

    with torch.no_grad():
        x, y = tensor(ref), tensor(dec)
        if levels == len(MS_SSIM_WEIGHTS):
            return float(pytorch_msssim.ms_ssim(x, y, data_range=255.0))
        weights = torch.tensor(MS_SSIM_WEIGHTS[:levels], dtype=x.dtype)
        return float(_ms_ssim_truncated(x, y, weights / weights.sum()))


def _ms_ssim_truncated(x, y, weights):
    """pytorch_msssim.ms_ssim for fewer than five scales.

    ``ms_ssim`` asserts a 161 px side whatever ``weights`` says, so this runs its loop
    (the same per-scale ``_ssim``, ReLU, 2x2 average pooling with odd-size padding and
    weighted product) without that assertion. A test checks it against the library at
    five scales.
    """
    import torch
    import torch.nn.functional as F
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    win = _fspecial_gauss_1d(_WIN, 1.5).repeat([x.shape[1], 1, 1, 1])
    terms = []
    for i in range(len(weights)):
        ssim_c, cs = _ssim(x, y, data_range=255.0, win=win, size_average=False)
        if i < len(weights) - 1:
            terms.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=padding)
            y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    stacked = torch.stack(terms + [torch.relu(ssim_c)], dim=0)
    return torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean()


# ------------------------------------------------------------------ LPIPS / DISTS
def _hub_checkpoint(weights_enum: str) -> str:
    """Path in the local torch hub cache where torchvision keeps these weights."""
    import torch
    import torchvision.models as tvm

    url = getattr(tvm, weights_enum).IMAGENET1K_V1.url
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def _package_dir(name: str) -> str | None:
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    return os.path.dirname(spec.origin or "")


def _perceptual_problem(name: str) -> str | None:
    package, backbone, own = {
        "lpips": ("lpips", "AlexNet_Weights", ["weights/v0.1/alex.pth"]),
        # DISTS_pytorch installs its weights.pt under sys.prefix (older releases) or
        # next to the module.
        "dists": ("DISTS_pytorch", "VGG16_Weights", ["weights.pt", os.path.join(sys.prefix, "weights.pt")]),
    }[name]
    where = _package_dir(package)
    if where is None:
        return f"needs the Python package '{package}' (pip install {package})"
    if importlib.util.find_spec("torchvision") is None:
        return "needs the Python package 'torchvision'"
    if not any(os.path.isfile(os.path.join(where, f)) for f in own):
        return f"the {package} package has no weight file ({own[0]})"
    checkpoint = _hub_checkpoint(backbone)
    if not os.path.isfile(checkpoint):
        return (f"backbone weights {os.path.basename(checkpoint)} are not in the torch hub "
                f"cache ({os.path.dirname(checkpoint)}); lvc never downloads them")
    return None


def perceptual_status() -> dict:
    """{"lpips": reason or None, "dists": reason or None}; None means usable here.

    Only checks that the package is installed and that its weights (the package's own
    file and the torchvision backbone in ``torch.hub.get_dir()/checkpoints``) exist on
    disk; it never builds a model and never downloads anything.
    """
    return {name: _perceptual_problem(name) for name in PERCEPTUAL}


@contextlib.contextmanager
def _no_downloads():
    """Make torch.hub refuse to download while a perceptual model is built."""
    import torch.hub

    def refuse(url, *args, **kwargs):
        raise LVCError(f"refusing to download {url}: lvc never downloads weights")

    saved = torch.hub.download_url_to_file
    torch.hub.download_url_to_file = refuse
    try:
        yield
    finally:
        torch.hub.download_url_to_file = saved


@functools.lru_cache(maxsize=None)
def _perceptual_model(name: str):
    problem = _perceptual_problem(name)
    if problem:
        raise LVCError(f"{name} is unavailable: {problem}")
    try:
        with _no_downloads():
            if name == "lpips":
                import lpips

                model = lpips.LPIPS(net="alex", verbose=False)
            else:
                from DISTS_pytorch import DISTS

                model = DISTS()
    except LVCError:
        raise
    except Exception as e:  # a broken install is one clear error, not a traceback
        raise LVCError(f"{name}: could not build the model ({type(e).__name__}: {e})") from e
    return model.eval()


def perceptual(name: str, ref, dec) -> float:
    """LPIPS (AlexNet, v0.1) or DISTS between two images (lower is closer)."""
    import torch

    ref, dec = _pair(ref, dec)
    peak = peak_of(ref)
    model = _perceptual_model(name)

    def tensor(a):  # 1x3xHxW float32 in [0, 1]
        a = _colour(a).astype(np.float32) / peak
        a = np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]

    with torch.no_grad():
        if name == "lpips":
            return float(model(tensor(ref), tensor(dec), normalize=True).item())
        return float(model(tensor(ref), tensor(dec)).item())


# ------------------------------------------------------------------ all at once
def image_metrics(ref, dec, names=("psnr", "ms-ssim")) -> dict:
    """The requested metrics of ``dec`` against ``ref``.

    ``names`` from ``METRIC_NAMES``: "psnr" gives ``psnr-rgb`` and ``psnr-y``,
    "ms-ssim" gives ``ms-ssim-rgb``, "lpips"/"dists" give ``lpips``/``dists`` only when
    ``perceptual_status()`` says they are usable (otherwise they are left out).
    Raises BadInputError for unknown names or images of different shapes.
    """
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown:
        raise BadInputError(f"unknown metric {unknown[0]!r} (known: {', '.join(METRIC_NAMES)})")
    ref, dec = _pair(ref, dec)
    peak = peak_of(ref)
    out = {}
    if "psnr" in names:
        out["psnr-rgb"] = psnr(_colour(ref), _colour(dec), peak)
        out["psnr-y"] = psnr(rgb_to_y(ref), rgb_to_y(dec), peak)
    if "ms-ssim" in names:
        out["ms-ssim-rgb"] = ms_ssim(ref, dec)
    for name in PERCEPTUAL:
        if name in names and _perceptual_problem(name) is None:
            out[name] = perceptual(name, ref, dec)
    return out
