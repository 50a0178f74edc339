"""Where ``mlicv2-tiny`` and its baseline ``mbt2018-mean-tiny`` get their weights.

Shipped weights: one safetensors file per codec and quality in ``assets/weights``
(``<codec>-q<quality>.safetensors``, float16 tensors), listed in the manifest as
``{"codec": ..., "quality": q, "file": ..., "sha256": ..., "model": <training model>,
"config": {...}, "lmbda": ..., "training": {...}}``; ``export`` writes them from a
training run. ``LVC_MLICV2_RANDOM=1`` selects seeded random weights for both codecs
instead (tests, timing; their header fingerprint differs, so the two never mix).

Import is torch-free (``codec list`` runs the probes); torch loads with the weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

from ...errors import BadInputError, CodecUnavailableError, ModelMismatchError
from ..manifest import (file_sha256, manifest_entry, read_manifest, set_fingerprint,
                        update_manifest, verified_sha256, weights_dir)

CODEC_ID = "mlicv2-tiny"
BASELINE_ID = "mbt2018-mean-tiny"
CODEC_OF_MODEL = {"mlicv2-tiny": CODEC_ID, "mlicv2-tiny-base": CODEC_ID, "hyperprior": BASELINE_ID}
"""Training model name (``train.MODELS``) -> the codec its weights serve (the MLIC++
ablation runs through ``mlicv2-tiny``: its config travels in the manifest entry)."""
RANDOM_ENV = "LVC_MLICV2_RANDOM"
_CACHE: dict = {}
_LOCK = threading.RLock()  # re-entrant: a slice codec loads its host inside its own load


def use_random() -> bool:
    return os.environ.get(RANDOM_ENV, "") not in ("", "0")


def probe(codec_id: str = CODEC_ID) -> str | None:
    """None when the codec can run: random weights asked for, or weights installed."""
    if use_random():
        return None
    try:
        entries = [e for e in read_manifest()["weights"] if e.get("codec") == codec_id]
    except ModelMismatchError as e:
        return str(e)
    return None if entries else (f"no trained {codec_id} weights are installed yet "
                                 f"(train with python -m lvc.train mlicv2; {RANDOM_ENV}=1 "
                                 "selects random test weights)")


def probe_baseline() -> str | None:
    return probe(BASELINE_ID)


def fingerprint(codec_id: str) -> bytes:
    """Header fingerprint of the weight set in use (random, or every installed quality)."""
    if use_random():
        return hashlib.sha256(f"random:{codec_id}".encode()).digest()[:4]
    return set_fingerprint(codec_id)


def random_model(cls, quality: int, *args):
    """``cls(*args)`` with seeded random weights (the caller's RNG left alone)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(quality)
        return cls(*args).eval()


def cached_model(codec_id: str, quality: int, make):
    """``make(entry)`` once per weights file: ``entry`` is the installed manifest entry
    of ``codec_id`` at ``quality``, or None for random weights (``LVC_MLICV2_RANDOM``)."""
    with _LOCK:
        entry = None if use_random() else installed_entry(codec_id, quality)
        key = ((codec_id, quality, "random") if entry is None
               else (codec_id, entry["file"], entry["sha256"]))
        if key not in _CACHE:
            _CACHE[key] = make(entry)
        return _CACHE[key]


def clear_cache() -> None:
    """Forget loaded models (after the weights folder or ``LVC_MLICV2_RANDOM`` changed)."""
    with _LOCK:
        _CACHE.clear()


def installed_entry(codec_id: str, quality: int, directory=None) -> dict:
    """The manifest entry of ``codec_id`` at ``quality`` (``CodecUnavailableError``
    when none is installed)."""
    entry = manifest_entry(codec_id, directory, quality=quality)
    if entry is None:
        raise CodecUnavailableError(probe(codec_id) or
                                    f"{codec_id}: no weights for quality {quality}")
    return entry


def load_into(model, entry: dict, directory=None):
    """Load the weights file of manifest ``entry`` into ``model`` (eval mode) and
    return it: ``ModelMismatchError`` when the file is missing, not the one the manifest
    lists, or not weights of this network."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(directory or weights_dir()) / entry["file"]
    if not path.is_file():
        raise CodecUnavailableError(f"{entry['codec']}: weights file {path} is missing")
    verified_sha256(path, entry)
    try:
        state = {k: v.float() if v.is_floating_point() else v
                 for k, v in load_file(str(path)).items()}
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError, KeyError) as e:
        raise ModelMismatchError(f"{path} does not hold {entry['codec']} weights ({e})") \
            from None
    return model.eval()


def export(checkpoint, quality: int, directory=None, codec_id: str | None = None) -> dict:
    """Ship a training run's checkpoint as ``<codec>-q<quality>.safetensors`` (float16)
    plus its manifest entry (replacing the codec's entry for that quality); returns it."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from ...formats.files import atomic_output
    from .train import build

    from safetensors import SafetensorError

    try:
        with safe_open(str(checkpoint), "pt") as f:
            info = json.loads(f.metadata()["lvc"])
            state = {k[6:]: f.get_tensor(k) for k in f.keys() if k.startswith("model.")}
        codec_id = codec_id or CODEC_OF_MODEL[info["model"]]
    except (SafetensorError, KeyError, TypeError, ValueError) as e:
        raise BadInputError(f"{checkpoint} is not an mlicv2 training checkpoint ({e})") from None
    if "kodak" in " ".join(map(str, info.get("data", []))).lower():
        raise BadInputError("refusing to ship weights trained on Kodak (the evaluation set)")
    stored = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous()
              for k, v in state.items()}
    if not all(torch.isfinite(v).all() for v in stored.values() if v.is_floating_point()):
        raise BadInputError(f"{checkpoint}: a weight overflows float16")
    directory = Path(directory or weights_dir())
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{codec_id}-q{quality}.safetensors"
    with atomic_output(out, overwrite=True) as tmp:
        save_file(stored, str(tmp), metadata={"lvc": json.dumps({"codec": codec_id,
                                                                 "quality": quality})})
    out.chmod(0o644)
    entry = {
        "codec": codec_id, "quality": quality, "file": out.name, "sha256": file_sha256(out),
        "bytes": out.stat().st_size, "storage": "float16", "model": info["model"],
        "config": info["config"], "lmbda": info["lmbda"],
        "parameters": sum(p.numel() for p in build(info["model"])[0].parameters()),
        "training": {k: info.get(k) for k in ("data", "crop", "batch", "lr", "seed", "init",
                                               "hardware")},
        "steps": info["step"], "steps_total": info["step"] + _init_steps(info),
        "wall_time_s": round(float(info.get("wall_seconds", 0)), 1),
        "exported": time.strftime("%Y-%m-%d"),
    }
    update_manifest(entry, directory, key=("codec", "quality"))
    return entry


def _init_steps(info: dict) -> int:
    """Steps behind the checkpoint a fine-tuning run started from (0 from scratch)."""
    from safetensors import safe_open

    if not info.get("init") or not Path(info["init"]).is_file():
        return 0
    with safe_open(str(info["init"]), "pt") as f:
        parent = json.loads(f.metadata()["lvc"])
    if "step" not in parent:  # shipped weights: their manifest entry holds the total
        init = Path(info["init"])
        entry = next((e for e in read_manifest(init.parent).get("weights", [])
                      if e.get("file") == init.name), {})
        return int(entry.get("steps_total", 0))
    return parent["step"] + _init_steps(parent)


__all__ = ["CODEC_ID", "BASELINE_ID", "use_random", "probe", "probe_baseline", "fingerprint",
           "random_model", "cached_model", "clear_cache", "installed_entry", "load_into", "export"]
