"""``mbt2018-mean-tiny``: the equal-budget baseline of ``mlicv2-tiny`` as an lvc codec.

compressai's mean-scale hyperprior (``MeanScaleHyperprior``, mbt2018-mean) at the tiny
model's N=96, M=160, trained by ``python -m lvc.train mlicv2 --model hyperprior`` with
the same data, crops, steps and lambdas; coded exactly as the zoo's ``mbt2018-mean``
(``lvc.codecs.zoo.codec``), only its weights come from lvc's manifest (``weights.py``).
"""

from __future__ import annotations

import hashlib
import threading

from ..manifest import set_fingerprint
from ..zoo.codec import ZooCodec
from ..zoo.weights import ZooModel, wrap
from .weights import BASELINE_ID, installed_entry, load_into, use_random

_CACHE: dict = {}
_LOCK = threading.Lock()


def _network(config: dict):
    from compressai.models import MeanScaleHyperprior

    return MeanScaleHyperprior(config["N"], config["M"])


def load(quality: int) -> ZooModel:
    """The baseline at ``quality`` (cached per weights file)."""
    from .codec import random_model
    from .model import MLICv2Config

    with _LOCK:
        if use_random():
            key = ("random", quality)
            if key not in _CACHE:
                tiny = MLICv2Config.tiny()
                model = random_model(_network, quality, {"N": tiny.N, "M": tiny.M})
                _CACHE[key] = wrap(model, "random")
            return _CACHE[key]
        entry = installed_entry(BASELINE_ID, quality)
        key = (entry["file"], entry["sha256"])
        if key not in _CACHE:
            _CACHE[key] = wrap(load_into(_network(entry["config"]), entry), entry["file"])
        return _CACHE[key]


class HyperpriorTinyCodec(ZooCodec):
    id = BASELINE_ID
    quality_range = (1, 3)
    default_quality = 2
    description = "mean-scale hyperprior at mlicv2-tiny's size and training budget (baseline)"

    def fingerprint(self) -> bytes:
        if use_random():
            return hashlib.sha256(f"random:{BASELINE_ID}".encode()).digest()[:4]
        return set_fingerprint(BASELINE_ID)

    def load(self, quality: int) -> ZooModel:
        return load(quality)
