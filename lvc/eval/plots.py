"""RD plots as PNG (matplotlib, imported lazily, drawn with the Agg canvas)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BadInputError
from ..formats.files import atomic_output
from .anchors import has_metric, is_ms_ssim, points


def metric_label(metric: str) -> str:
    """Axis label: PSNR and MS-SSIM (plotted as -10 log10(1 - MS-SSIM)) in dB."""
    if is_ms_ssim(metric):
        return f"{metric.upper()} [dB, -10 log10(1 - MS-SSIM)]"
    if metric.startswith("psnr"):
        return f"{metric.upper()} [dB]"
    return metric


def rd_plot(curves: dict, metric: str, path, title=None, measured=(), rate: str = "bpp",
            ylabel: str | None = None) -> Path:
    """Plot ``metric`` against ``rate`` (bpp, or kbps for audio) for every curve that has
    both; write a PNG atomically.

    Curves named in ``measured`` are drawn solid with markers, the others (published
    anchors) dashed. MS-SSIM metrics are shown in dB. An existing file is replaced.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drawn = [(name, c) for name, c in curves.items() if has_metric(c, metric, rate)]
    if not drawn:
        raise BadInputError(f"no curve has {metric!r} to plot")
    fig = Figure(figsize=(7, 5), dpi=120)  # no pyplot: no global backend or figure state
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, c in drawn:
        bpp, values = points(c, metric, rate)
        ok = np.isfinite(bpp) & np.isfinite(values)
        order = np.argsort(bpp[ok], kind="stable")
        x, y = bpp[ok][order], values[ok][order]
        if name in measured:
            ax.plot(x, y, "-o", linewidth=1.8, markersize=4, label=name, zorder=3)
        else:
            ax.plot(x, y, "--", linewidth=1.2, label=name)
    ax.set_xlabel("bits per pixel (bpp)" if rate == "bpp" else rate)
    ax.set_ylabel(ylabel or metric_label(metric))
    ax.set_title(title or f"Rate-distortion: {metric}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    with atomic_output(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
