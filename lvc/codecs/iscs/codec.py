"""``mbt2018-mean-tiny-iscs`` and ``mbt2018-mean-tiny-slices``: the slice codecs as lvc
image codecs (``LatentImageCodec``).

Both code y in channel slices on the frozen ``mbt2018-mean-tiny`` host (``slices.py``);
the ISCS one in the ISCS order: the core's two slices, then every auxiliary channel,
conditioned on the core only, in one batched pass (layouts with several auxiliary
groups run them side by side, ``coding.py``); the other in the original order, one
slice after another. The decoded image does not depend on the worker count.
"""

from __future__ import annotations

import os

import torch

from ..latent_image import LatentImageCodec
from .coding import code_latents
from ..mlicv2.weights import fingerprint  # one weight-set fingerprint for lvc's manifests
from .weights import load

WORKERS = max(1, min(4, os.cpu_count() or 1))
"""Threads the networks of one decoding stage run on (each single-threaded)."""


class SliceCodec(LatentImageCodec):
    quality_range = (1, 3)
    default_quality = 2

    def fingerprint(self) -> bytes:
        return fingerprint(self.id)

    def load(self, quality: int):
        return load(self.id, quality)

    def factor(self, handle) -> int:
        return handle.host.model.downsampling_factor

    def code_latents(self, handle, coder, x=None, size=None, y=None) -> torch.Tensor:
        return code_latents(handle, coder, x=x, size=size, workers=WORKERS)

    def synthesise(self, handle, y_hat: torch.Tensor) -> torch.Tensor:
        return handle.host.model.g_s(y_hat)


class ISCSCodec(SliceCodec):
    id = "mbt2018-mean-tiny-iscs"
    description = "mbt2018-mean-tiny, ISCS channel order: core slices, then the rest in one pass"


class OriginalOrderCodec(SliceCodec):
    id = "mbt2018-mean-tiny-slices"
    description = "mbt2018-mean-tiny, original channel order in 5 sequential slices"
