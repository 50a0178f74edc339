"""``mlicv2-tiny``: the MLICv2 tiny network as an lvc image codec (``LatentImageCodec``).

Weights: one file per quality (``weights.py``); the network is built from the config
in its manifest entry (so an ablation's MLIC++-tiny weights run through this codec
from another weights folder), the lambda there is the one SGA refines for.
``LVC_MLICV2_RANDOM=1`` selects seeded random weights of the tiny config.
"""

from __future__ import annotations

import torch

from ..latent_image import LatentImageCodec
from .coding import code_latents, prepare
from .model import MLICv2, MLICv2Config
from .weights import CODEC_ID, cached_model, fingerprint, load_into, random_model

LMBDAS = {1: 0.0035, 2: 0.0067, 3: 0.013}
"""Training lambda per quality (the rate-distortion trade-off SGA refines for); installed
weights carry their own in the manifest entry."""


def _load(quality: int):
    """(model, tables, lambda) for ``quality``, loaded once per weights file."""
    def make(entry):
        if entry is None:
            model, lmbda = random_model(MLICv2, quality, MLICv2Config.tiny()), LMBDAS[quality]
        else:
            model = load_into(MLICv2(MLICv2Config(**entry["config"])), entry)
            lmbda = entry["lmbda"]
        return model, prepare(model), lmbda

    return cached_model(CODEC_ID, quality, make)


class MLICv2Codec(LatentImageCodec):
    id = CODEC_ID
    refinable = True
    quality_range = (1, 3)
    default_quality = 2
    description = "MLICv2 tiny (multi-reference entropy model), lvc entropy streams"

    def fingerprint(self) -> bytes:
        return fingerprint(CODEC_ID)

    def load(self, quality: int):
        return _load(quality)

    def factor(self, handle) -> int:
        return 64

    def code_latents(self, handle, coder, x=None, size=None, y=None) -> torch.Tensor:
        model, tables, _ = handle
        return code_latents(model, tables, coder, x=x, size=size, y=y)

    def refine_latent(self, handle, x: torch.Tensor, iterations: int) -> torch.Tensor:
        """MLICv2+: SGA on this image's latent (``sga.py``) at the weights' lambda."""
        from .sga import refine

        model, _, lmbda = handle
        return refine(model, x, iterations, lmbda)

    def synthesise(self, handle, y_hat: torch.Tensor) -> torch.Tensor:
        return handle[0].g_s(y_hat)
