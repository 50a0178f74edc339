"""``mbt2018-mean-tiny``: the equal-budget baseline of ``mlicv2-tiny`` as an lvc codec.

compressai's mean-scale hyperprior (``MeanScaleHyperprior``, mbt2018-mean) at the tiny
model's N=96, M=160, trained by ``python -m lvc.train mlicv2 --model hyperprior`` with
the same data, crops, steps and lambdas; coded exactly as the zoo's ``mbt2018-mean``
(``lvc.codecs.zoo.codec``), only its weights come from lvc's manifest (``weights.py``).
"""

from __future__ import annotations

from ..zoo.codec import ZooCodec
from ..zoo.weights import ZooModel, wrap
from .weights import BASELINE_ID, cached_model, fingerprint, load_into, random_model


def _network(config: dict):
    from compressai.models import MeanScaleHyperprior

    return MeanScaleHyperprior(config["N"], config["M"])


def load(quality: int) -> ZooModel:
    """The baseline at ``quality`` (loaded once per weights file)."""
    from .model import MLICv2Config

    def make(entry):
        if entry is None:
            tiny = MLICv2Config.tiny()
            return wrap(random_model(_network, quality, {"N": tiny.N, "M": tiny.M}), "random")
        return wrap(load_into(_network(entry["config"]), entry), entry["file"])

    return cached_model(BASELINE_ID, quality, make)


class HyperpriorTinyCodec(ZooCodec):
    id = BASELINE_ID
    quality_range = (1, 3)
    default_quality = 2
    description = "mean-scale hyperprior at mlicv2-tiny's size and training budget (baseline)"

    def fingerprint(self) -> bytes:
        return fingerprint(BASELINE_ID)

    def load(self, quality: int) -> ZooModel:
        return load(quality)
