"""``mlicv2-tiny``: the MLICv2 tiny network as an lvc image codec (``LatentImageCodec``).

Weights: one safetensors file per quality, listed in the weights manifest as
``{"codec": "mlicv2-tiny", "quality": q, "file": ..., "sha256": ..., "lmbda": ...}``;
none is shipped yet (training needs a GPU, see ``train.py``), so the codec reports
itself unavailable unless ``LVC_MLICV2_RANDOM=1`` selects seeded random weights (for
tests and timing; their header fingerprint differs, so the two never mix).
"""

from __future__ import annotations

import hashlib
import threading

import torch

from ...errors import CodecUnavailableError, ModelMismatchError
from ..latent_image import LatentImageCodec
from ..manifest import file_sha256, fingerprint_of, manifest_entry, read_manifest, weights_dir
from .coding import code_latents, prepare
from .model import MLICv2, MLICv2Config
from .weights import CODEC_ID, probe, use_random

LMBDAS = {1: 0.0035, 2: 0.0067, 3: 0.013}
"""Training lambda per quality (the rate-distortion trade-off SGA refines for); installed
weights carry their own in the manifest entry."""
_CACHE: dict = {}
_LOCK = threading.Lock()


def _load(quality: int):
    """(model, tables, lambda) for ``quality``, cached."""
    if use_random():
        key = ("random", quality)
    else:
        entry = manifest_entry(CODEC_ID, quality=quality)
        if entry is None:
            raise CodecUnavailableError(probe() or f"{CODEC_ID}: no weights for quality {quality}")
        key = (str(weights_dir() / entry["file"]), entry["sha256"])
    with _LOCK:
        if key not in _CACHE:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(quality)
                model = MLICv2(MLICv2Config.tiny()).eval()
            if key[0] != "random":
                from safetensors.torch import load_file

                if file_sha256(key[0]) != key[1]:
                    raise ModelMismatchError(f"{key[0]} does not match its manifest sha256")
                model.load_state_dict(load_file(key[0]))
            lmbda = LMBDAS[quality] if key[0] == "random" else entry["lmbda"]
            _CACHE[key] = (model, prepare(model), lmbda)
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
        entries = sorted((e.get("quality"), e.get("sha256")) for e in read_manifest()["weights"]
                         if e.get("codec") == CODEC_ID)
        return fingerprint_of(hashlib.sha256(repr(entries).encode()).hexdigest())

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
