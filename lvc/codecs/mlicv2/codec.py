"""``mlicv2-tiny``: the MLICv2 tiny network as an lvc image codec (``LatentImageCodec``).

Weights: one file per quality (``weights.py``); the network is built from the config
in its manifest entry (so an ablation's MLIC++-tiny weights run through this codec
from another weights folder), the lambda there is the one SGA refines for.
``LVC_MLICV2_RANDOM=1`` selects seeded random weights of the tiny config.
"""

from __future__ import annotations

import hashlib
import threading

import torch

from ..latent_image import LatentImageCodec
from ..manifest import set_fingerprint
from .coding import code_latents, prepare
from .model import MLICv2, MLICv2Config
from .weights import CODEC_ID, installed_entry, load_into, use_random

LMBDAS = {1: 0.0035, 2: 0.0067, 3: 0.013}
"""Training lambda per quality (the rate-distortion trade-off SGA refines for); installed
weights carry their own in the manifest entry."""
_CACHE: dict = {}
_LOCK = threading.Lock()


def random_model(cls, quality: int, *args):
    """``cls(*args)`` with seeded random weights (the caller's RNG left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(quality)
        return cls(*args).eval()


def _load(quality: int):
    """(model, tables, lambda) for ``quality``, cached per weights file."""
    with _LOCK:
        if use_random():
            key = ("random", quality)
            if key not in _CACHE:
                model = random_model(MLICv2, quality, MLICv2Config.tiny())
                _CACHE[key] = (model, prepare(model), LMBDAS[quality])
            return _CACHE[key]
        entry = installed_entry(CODEC_ID, quality)
        key = (entry["file"], entry["sha256"])
        if key not in _CACHE:
            model = load_into(MLICv2(MLICv2Config(**entry["config"])), entry)
            _CACHE[key] = (model, prepare(model), entry["lmbda"])
        return _CACHE[key]


class MLICv2Codec(LatentImageCodec):
    id = CODEC_ID
    refinable = True
    quality_range = (1, 3)
    default_quality = 2
    description = "MLICv2 tiny (multi-reference entropy model), lvc entropy streams"

    def fingerprint(self) -> bytes:
        if use_random():
            return hashlib.sha256(f"random:{CODEC_ID}".encode()).digest()[:4]
        return set_fingerprint(CODEC_ID)

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
