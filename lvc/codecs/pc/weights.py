"""Shipped HCLT models: one per image size, listed in the weights manifest.

A manifest entry ``{"codec": "pc-hclt", "model": "28x28", "file": ..., "sha256": ...}``
names a safetensors file with the float32 arrays ``parent``, ``prior``, ``transition``,
``leaves`` (``HCLT.to_arrays``) and JSON metadata ``lvc`` (``format``, ``shape``,
``values``). The codec picks the model by the image size; the file's sha256 is
checked on first use and its first 4 bytes are the header fingerprint.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import BadInputError, ModelMismatchError
from ..manifest import (file_sha256, fingerprint_of, manifest_entry, read_manifest,
                        update_manifest, verified_sha256, weights_dir)
from .hclt import HCLT

CODEC_ID = "pc-hclt"
FILE_FORMAT = 1


@dataclass(frozen=True)
class Model:
    hclt: HCLT
    shape: tuple  # (H, W)
    fingerprint: bytes
    entry: dict


def model_key(shape) -> str:
    return f"{int(shape[0])}x{int(shape[1])}"


def installed_sizes(directory=None) -> list:
    """Image sizes ("HxW") with an installed model."""
    return sorted(e.get("model") for e in read_manifest(directory)["weights"]
                  if e.get("codec") == CODEC_ID)


_CACHE: dict = {}


def locate(shape, directory=None) -> tuple[Path, dict]:
    """Path and manifest entry of the model for images of ``shape`` (H, W)."""
    directory = Path(directory or weights_dir())
    entry = manifest_entry(CODEC_ID, directory, model=model_key(shape))
    if entry is None:
        sizes = ", ".join(installed_sizes(directory)) or "none"
        raise BadInputError(f"{CODEC_ID} has no model for {model_key(shape)} images "
                            f"(installed: {sizes})")
    path = directory / entry["file"]
    if not path.is_file():
        raise ModelMismatchError(f"{CODEC_ID}: weights file {path} is missing")
    return path, entry


def probe() -> str | None:
    """Registry availability check: None when at least one model is installed."""
    try:
        sizes = installed_sizes()
    except ModelMismatchError as e:
        return str(e)
    return None if sizes else (f"no {CODEC_ID} weights installed: run python -m lvc.train pc "
                               "--dataset digits --export")


def fingerprint_for(shape, directory=None) -> bytes:
    """The header fingerprint of the model for ``shape`` (from the manifest, no hashing)."""
    return fingerprint_of(locate(shape, directory)[1]["sha256"])


def load_model(shape, directory=None) -> Model:
    path, entry = locate(shape, directory)
    key = (str(path), entry["sha256"])
    if key not in _CACHE:
        from safetensors import SafetensorError, safe_open

        verified_sha256(path, entry)
        try:
            with safe_open(str(path), framework="np") as f:
                meta = json.loads((f.metadata() or {})["lvc"])
                arrays = {k: f.get_tensor(k) for k in f.keys()}
            if meta.get("format") != FILE_FORMAT:
                raise ModelMismatchError(f"{path}: unknown weights format {meta.get('format')}")
            hclt = HCLT.from_arrays(arrays)
        except (SafetensorError, KeyError, ValueError, BadInputError) as e:
            raise ModelMismatchError(f"{path} is not a usable {CODEC_ID} weights file ({e})") \
                from None
        shape = tuple(meta["shape"])
        if hclt.variables != shape[0] * shape[1] or hclt.values != meta["values"]:
            raise ModelMismatchError(f"{path}: model does not fit its declared shape")
        _CACHE[key] = Model(hclt, shape, fingerprint_of(entry["sha256"]), entry)
    return _CACHE[key]


def export_weights(model: HCLT, state: dict, eval_data: np.ndarray, directory=None) -> dict:
    """Write ``model`` as float32 shipped weights plus its manifest entry; the entry
    records the theoretical eval bits per dimension of exactly what is shipped."""
    from safetensors.numpy import save_file

    from ...formats.files import atomic_output

    directory = Path(directory or weights_dir())
    shape = tuple(state["shape"])
    stored = HCLT.from_arrays(model.to_arrays(np.float32))
    out = directory / f"{CODEC_ID}-{state['dataset']}.safetensors"
    meta = {"format": FILE_FORMAT, "codec": CODEC_ID, "shape": list(shape),
            "values": model.values, "hidden": model.hidden}
    with atomic_output(out, overwrite=True) as tmp:
        save_file(model.to_arrays(np.float32), str(tmp), metadata={"lvc": json.dumps(meta)})
    out.chmod(0o644)
    entry = {
        "codec": CODEC_ID, "model": model_key(shape), "file": out.name,
        "sha256": file_sha256(out), "bytes": out.stat().st_size, "storage": "float32",
        "dataset": state["dataset"], "hidden": model.hidden, "values": model.values,
        "train_images": state["train_images"], "eval_images": state["eval_images"],
        "epochs": state["done"], "training": state["args"],
        "wall_time_s": round(state["seconds"], 1), "hardware": state.get("hardware"),
        "eval_bpd_theoretical": round(stored.bits_per_dimension(eval_data), 4),
        "exported": time.strftime("%Y-%m-%d"),
    }
    update_manifest(entry, directory, key=("codec", "model"))
    _CACHE.clear()
    return entry
