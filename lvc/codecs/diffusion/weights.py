"""The denoiser ``dualdiff`` decodes with: the shipped CondUNet, or a user's own
diffusers ``UNet2DModel`` from a local folder.

Shipped: manifest entry ``{"codec": "dualdiff", "file": "dualdiff.safetensors", ...}``;
the safetensors file holds the float32 tensors and JSON metadata ``lvc`` (``format``,
``config``); sha256 checked on first use, its first 4 bytes are the header fingerprint.

Local diffusers model: ``LVC_DUALDIFF_MODEL=/path/to/folder`` (a ``UNet2DModel`` saved
with ``save_pretrained``: ``config.json`` + weights; 6 input channels = x_t and the
condition, 3 outputs = the residual on the condition, the same contract as CondUNet).
It is loaded with ``local_files_only=True`` (nothing downloads) through the same code
path; the fingerprint is the sha256 of its config and weight files, so a file coded
with one model is refused by another.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ...errors import BadInputError, ModelMismatchError
from ..manifest import (file_sha256, fingerprint_of, manifest_entry, update_manifest,
                        verified_sha256, weights_dir)

CODEC_ID = "dualdiff"
FILE = "dualdiff.safetensors"
FILE_FORMAT = 1
MODEL_ENV = "LVC_DUALDIFF_MODEL"
_CACHE: dict = {}


class DiffusersDenoiser:
    """A diffusers UNet2DModel behind CondUNet's interface: x0_hat = c + unet([x_t, c], t)."""

    def __init__(self, unet):
        self.unet = unet.eval().requires_grad_(False)
        self.factor = 2 ** (len(unet.config.block_out_channels) - 1)

    def __call__(self, x_t, cond, t):
        import torch

        return cond + self.unet(torch.cat([x_t, cond], 1), t).sample


def _local_model(folder: Path) -> tuple:
    if not (folder / "config.json").is_file():
        raise ModelMismatchError(f"{MODEL_ENV}={folder}: no diffusers config.json there")
    try:
        from diffusers import UNet2DModel
    except ImportError:
        raise ModelMismatchError(f"{MODEL_ENV} needs the diffusers package") from None
    try:
        unet = UNet2DModel.from_pretrained(str(folder), local_files_only=True)
    except Exception as e:  # diffusers raises many kinds for a bad folder
        raise ModelMismatchError(f"{folder}: not a loadable UNet2DModel ({e})") from None
    if unet.config.in_channels != 6 or unet.config.out_channels != 3:
        raise ModelMismatchError(f"{folder}: dualdiff needs in_channels=6, out_channels=3")
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return DiffusersDenoiser(unet), bytes.fromhex(h.hexdigest()[:8])


def _shipped(directory=None) -> tuple:
    from safetensors import SafetensorError, safe_open

    from .model import CondUNet, UNetConfig

    directory = Path(directory or weights_dir())
    entry = manifest_entry(CODEC_ID, directory)
    if entry is None:
        raise ModelMismatchError(f"no {CODEC_ID} weights installed (python -m lvc.train "
                                 "dualdiff train, then export)")
    path = directory / entry["file"]
    verified_sha256(path, entry)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["lvc"])
            state = {k: f.get_tensor(k) for k in f.keys()}
        if meta.get("format") != FILE_FORMAT:
            raise ModelMismatchError(f"{path}: unknown weights format {meta.get('format')}")
        model = CondUNet(UNetConfig.from_dict(meta["config"]))
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except (SafetensorError, KeyError, ValueError, RuntimeError, TypeError) as e:
        raise ModelMismatchError(f"{path} is not a usable {CODEC_ID} weights file ({e})") \
            from None
    return model.eval().requires_grad_(False), fingerprint_of(entry["sha256"])


def load_denoiser(directory=None) -> tuple:
    """(denoiser module, 4-byte fingerprint), cached per source."""
    local = os.environ.get(MODEL_ENV)
    key = ("local", local) if local else ("shipped", str(directory or weights_dir()))
    if key not in _CACHE:
        _CACHE[key] = _local_model(Path(local)) if local else _shipped(directory)
    return _CACHE[key]


def probe() -> str | None:
    if os.environ.get(MODEL_ENV):
        return None
    try:
        if manifest_entry(CODEC_ID) is None:
            return f"no {CODEC_ID} weights installed"
    except ModelMismatchError as e:
        return str(e)
    return None


def export(checkpoint, directory=None) -> dict:
    """Checkpoint -> ``dualdiff.safetensors`` (float32) + manifest entry."""
    from safetensors.torch import save_file

    from ...formats.files import atomic_output
    from ...train.checkpoint import checkpoint_meta, load_checkpoint
    from .model import CondUNet, UNetConfig

    info = checkpoint_meta(checkpoint)
    if info.get("codec") != CODEC_ID:
        raise BadInputError(f"{checkpoint} is not a {CODEC_ID} checkpoint")
    model = CondUNet(UNetConfig.from_dict(info["config"]))
    load_checkpoint(checkpoint, model)
    directory = Path(directory or weights_dir())
    out = directory / FILE
    meta = {"format": FILE_FORMAT, "codec": CODEC_ID, "config": model.config.to_dict()}
    with atomic_output(out, overwrite=True) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp),
                  metadata={"lvc": json.dumps(meta)})
    entry = {"codec": CODEC_ID, "file": FILE, "sha256": file_sha256(out),
             "bytes": out.stat().st_size, "config": model.config.to_dict(),
             "parameters": sum(p.numel() for p in model.parameters()),
             "steps": info.get("step"), "wall_time_s": round(info.get("wall_seconds", 0), 1),
             "training_data": info.get("data"), "hardware": info.get("hardware"),
             "kodak": None}
    update_manifest(entry, directory).chmod(0o644)
    out.chmod(0o644)
    _CACHE.clear()
    return entry
