"""Per-channel statistics from parameters only, the ISCS score, order and partition.

Statistics of latent channel c (``layers.LatentLayers``):

- ``synthesis_var``: variance of the synthesis first-layer weights reading channel c.
  A channel the decoder barely listens to cannot matter for reconstruction.
- ``synthesis_energy``: their mean square (variance plus squared mean).
- ``analysis_var``: variance of the analysis last-layer filter producing channel c.
- ``analysis_bias``: |bias| of that filter (0 when the layer has none).
- ``redundancy``: mean |Pearson correlation| of channel c's synthesis weight vector
  with every other channel's; high means its role is shared (auxiliary detail).

The ISCS score is the mean of the rank-normalised ``synthesis_var``, ``analysis_var``
and ``1 - redundancy`` (ranks make the scales comparable and the score invariant to a
layer's overall gain). The bias is reported but not in the score: a large bias shifts
a channel's mean, which the entropy model's means absorb, and says nothing about its
use by the decoder. ``measured`` importance (``importance.py``) checks the premise.

Order: channels by descending score, ties by index, so the same weights always give
the same permutation. Partition: the Salient-Core is the smallest prefix of that
order holding ``core_mass`` of the total synthesis energy (rounded up to the group
width), the rest is Salient-Auxiliary, cut into groups of ``group`` channels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from .layers import LatentLayers

STATISTICS = ("synthesis_var", "synthesis_energy", "analysis_var", "analysis_bias",
              "redundancy")


def _rank01(values: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1] (ties broken by index: stable)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks / max(len(values) - 1, 1)


def channel_statistics(layers: LatentLayers) -> dict:
    """name -> (C,) float64 array for every entry of ``STATISTICS``."""
    ws = layers.synthesis_weight.double().numpy()
    wa = layers.analysis_weight.double().numpy()
    corr = np.corrcoef(ws) if len(ws) > 1 else np.ones((1, 1))
    corr = np.nan_to_num(np.abs(corr), nan=0.0)
    np.fill_diagonal(corr, 0.0)
    bias = (np.zeros(len(wa)) if layers.analysis_bias is None
            else np.abs(layers.analysis_bias.double().numpy()))
    return {"synthesis_var": ws.var(axis=1), "synthesis_energy": np.mean(ws ** 2, axis=1),
            "analysis_var": wa.var(axis=1), "analysis_bias": bias,
            "redundancy": corr.sum(axis=1) / max(len(ws) - 1, 1)}


def iscs_score(stats: dict) -> np.ndarray:
    return (_rank01(stats["synthesis_var"]) + _rank01(stats["analysis_var"])
            + _rank01(-stats["redundancy"])) / 3


@dataclass
class ChannelTable:
    """Scores, order and partition of one model's latent channels (saved as JSON)."""

    model: str
    statistics: dict
    score: np.ndarray
    order: list  # channel indices, most salient first
    core: list  # Salient-Core channels (in order)
    groups: list = field(default_factory=list)  # Salient-Auxiliary groups (in order)
    measured: dict | None = None  # optional: {"psnr_drop": [...], "images": n, ...}

    def to_json(self) -> dict:
        return {"model": self.model, "channels": len(self.score),
                "order": self.order, "core": self.core, "auxiliary_groups": self.groups,
                "per_channel": [{"channel": c, "score": round(float(self.score[c]), 6),
                                 **{k: float(v[c]) for k, v in self.statistics.items()},
                                 **({"psnr_drop": float(self.measured["psnr_drop"][c])}
                                    if self.measured else {})}
                                for c in range(len(self.score))],
                **({"measured": {k: v for k, v in self.measured.items() if k != "psnr_drop"}}
                   if self.measured else {})}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1) + "\n"


def analyze(layers: LatentLayers, model: str = "", core_mass: float = 0.5,
            group: int = 16) -> ChannelTable:
    """The channel table of ``layers``: statistics, score, order, core and groups."""
    stats = channel_statistics(layers)
    score = iscs_score(stats)
    order = [int(c) for c in np.lexsort((np.arange(len(score)), -score))]
    energy = stats["synthesis_energy"][order]
    cum = np.cumsum(energy) / max(energy.sum(), 1e-30)
    k = int(np.searchsorted(cum, core_mass) + 1)
    k = min(len(order), -(-k // group) * group)
    rest = order[k:]
    return ChannelTable(model, stats, score, order, order[:k],
                        [rest[i:i + group] for i in range(0, len(rest), group)])
