"""CompressAI zoo weights: found in torch hub's cache, never downloaded, never unpickled.

Pretrained weights are used only when compressai's checkpoint file is already in
torch hub's cache, ``$TORCH_HOME/hub/checkpoints/<basename of the zoo URL>`` (where
``compressai.zoo`` would have downloaded it; ``torch.hub.get_dir()``). lvc never
downloads: a missing file is a one-line ``CodecUnavailableError`` naming the path
to put it at. Files are read with ``torch.load(weights_only=True)`` (no pickle code
runs) and their sha256 must start with the hash compressai puts in every file name
(``...-<8 hex>.pth.tar``, as torch hub's ``check_hash``), else ``ModelMismatchError``.

``LVC_ZOO_RANDOM=1`` selects randomly initialised models instead (seeded with
``torch.manual_seed(0)``, per id and quality): for tests and timing only, their
reconstructions are meaningless.

Fingerprints: the header's 4-byte fingerprint cannot depend on quality (the codec
interface asks for it by shape only), so it names the weight *set* of an id:
``sha256("compressai:<id>:<file names of every quality>")[:4]`` for the pretrained
zoo, where each file name carries its content's sha256 prefix and every file is
checked against it when loaded, and ``sha256("random:<id>")[:4]`` for random
weights. A file encoded with one set is refused (``ModelMismatchError``) by a
decoder using the other; the quality in the header then picks the checkpoint.

This module imports torch and compressai only when a model is loaded: the registry's
``probe_*`` functions run for ``codec list``, which must stay torch-free.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import threading
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ...errors import CodecUnavailableError, ModelMismatchError

RANDOM_ENV = "LVC_ZOO_RANDOM"
METRIC = "mse"

DEFAULT_FILES = {
    "bmshj2018-factorized": (4, "bmshj2018-factorized-prior-4-1ed4405a.pth.tar"),
    "bmshj2018-hyperprior": (4, "bmshj2018-hyperprior-4-de1b779c.pth.tar"),
    "mbt2018-mean": (4, "mbt2018-mean-4-6dba02a3.pth.tar"),
    "mbt2018": (4, "mbt2018-4-456e2af9.pth.tar"),
    "cheng2020-anchor": (3, "cheng2020-anchor-3-e49be189.pth.tar"),
    "cheng2020-attn": (3, "cheng2020_attn-mse-3-2d07bbdf.pth.tar"),
}
"""(default quality, its checkpoint name) per id (``compressai.zoo.image.model_urls``,
metric mse): what ``probe`` looks for without importing compressai (a test checks
they match compressai's table)."""

_HASH = re.compile(r"-([a-f0-9]{8,})\.")  # torch.hub.HASH_REGEX, at least 8 digits


def use_random() -> bool:
    """True when ``LVC_ZOO_RANDOM`` asks for random (test) weights."""
    return os.environ.get(RANDOM_ENV, "") not in ("", "0")


def checkpoints_dir() -> Path:
    """torch hub's checkpoint cache, ``torch.hub.get_dir()/checkpoints``; computed from
    the same environment variables when torch is not imported (``codec list``)."""
    if "torch" in sys.modules:
        return Path(sys.modules["torch"].hub.get_dir()) / "checkpoints"
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))
    return Path(home) / "hub" / "checkpoints"


def _missing(codec_id: str, quality: int, path: Path) -> str:
    return (f"{codec_id} quality {quality}: pretrained weights not cached at {path} "
            f"(lvc downloads nothing; {RANDOM_ENV}=1 gives random test weights)")


def probe(codec_id: str) -> str | None:
    """Registry availability check: None with ``LVC_ZOO_RANDOM=1`` or when the default
    quality's checkpoint is cached, else one line naming the expected file."""
    if use_random():
        return None
    quality, name = DEFAULT_FILES[codec_id]
    path = checkpoints_dir() / name
    return None if path.is_file() else _missing(codec_id, quality, path)


for _id in DEFAULT_FILES:  # probe_bmshj2018_factorized(), ...: the registry's probes
    globals()["probe_" + _id.replace("-", "_")] = partial(probe, _id)


# ---------------------------------------------------------------- compressai (lazy)
def zoo():
    """``compressai.zoo.image`` (imported quietly: its TorchScript use warns on import)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from compressai.zoo import image
    return image


def checkpoint_names(codec_id: str) -> dict:
    """quality -> checkpoint file name, from compressai's zoo URL table."""
    return {q: url.rsplit("/", 1)[-1] for q, url in zoo().model_urls[codec_id][METRIC].items()}


def _digest4(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:4]


def fingerprint(codec_id: str) -> bytes:
    """The header fingerprint of the weight set in use (see the module docstring)."""
    if use_random():
        return _digest4(f"random:{codec_id}")
    names = checkpoint_names(codec_id)
    return _digest4(f"compressai:{codec_id}:" + ",".join(names[q] for q in sorted(names)))


# ---------------------------------------------------------------- loading
@dataclass(frozen=True, eq=False)
class ZooModel:
    """A loaded model (eval mode, CDF tables updated) and lvc's integer tables for it."""

    model: Any  # compressai CompressionModel
    kind: str  # "factorized", "scale", "mean" or "ar" (autoregressive context model)
    bottleneck: Any  # FrequencyTables of the EntropyBottleneck (one per channel)
    gaussian: Any  # FrequencyTables of the GaussianConditional's scale table, or None
    source: str  # "random" or the checkpoint path


_CACHE: dict = {}
_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget loaded models (after the cache directory or ``LVC_ZOO_RANDOM`` changed)."""
    with _LOCK:
        _CACHE.clear()


def load_model(codec_id: str, quality: int) -> ZooModel:
    """The model for ``codec_id`` at ``quality`` (cached): random weights with
    ``LVC_ZOO_RANDOM=1``, else compressai's cached checkpoint (never downloaded)."""
    if use_random():
        key = ("random", codec_id, quality)
    else:
        name = checkpoint_names(codec_id)[quality]
        path = checkpoints_dir() / name
        if not path.is_file():
            raise CodecUnavailableError(_missing(codec_id, quality, path))
        key = (str(path), codec_id, quality)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _build(codec_id, quality, None if key[0] == "random" else path)
        return _CACHE[key]


def _check_hash(path: Path) -> None:
    m = _HASH.search(path.name)
    if m is None:
        return
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if not h.hexdigest().startswith(m.group(1)):
        raise ModelMismatchError(f"{path}: sha256 {h.hexdigest()[:8]}... does not match the "
                                 f"{m.group(1)} in its name (corrupt or replaced file)")


def _build(codec_id: str, quality: int, path: Path | None) -> ZooModel:
    import torch

    image = zoo()
    arch = image.model_architectures[codec_id]
    if path is None:
        with torch.random.fork_rng(devices=[]):  # leave the caller's RNG alone
            torch.manual_seed(0)
            model = arch(*image.cfgs[codec_id][quality])
    else:
        _check_hash(path)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model = arch.from_state_dict(image.load_pretrained(state))
        except Exception as e:
            raise ModelMismatchError(f"{path} is not a {codec_id} checkpoint ({e})") from None
    return wrap(model, "random" if path is None else str(path))


def wrap(model, source: str) -> ZooModel:
    """A ``ZooModel`` of a loaded compressai model: eval mode, CDFs updated, lvc's
    integer tables built (also how lvc's own compressai-architecture weights load)."""
    from ...entropy import FrequencyTables
    from ..latent_coding import gaussian_tables
    from ..torch_utils import stable_cpu

    model.eval()
    with stable_cpu():
        model.update(force=True)
    from compressai.models import (FactorizedPrior, JointAutoregressiveHierarchicalPriors,
                                   MeanScaleHyperprior)
    kind = ("ar" if isinstance(model, JointAutoregressiveHierarchicalPriors) else
            "mean" if isinstance(model, MeanScaleHyperprior) else
            "factorized" if isinstance(model, FactorizedPrior) else "scale")
    gc = getattr(model, "gaussian_conditional", None)
    gaussian = None if gc is None else gaussian_tables(gc)
    return ZooModel(model, kind, FrequencyTables.from_entropy_bottleneck(model.entropy_bottleneck),
                    gaussian, source)
