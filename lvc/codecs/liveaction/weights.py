"""Shipped LiVeAction weights: find, verify and load them (no pickle), and export them.

Where: ``assets/weights/`` at the repository root, or the directory named by the
environment variable ``LVC_WEIGHTS_DIR``. ``manifest.json`` there lists one entry per
weights file::

    {"format": 1, "weights": [{"codec": "liveaction-rgb",
                               "file": "liveaction-rgb.safetensors", "sha256": "...",
                               "bytes": ..., "storage": "float16", "config": {...},
                               "rate_levels": [[k, delta], ...], "training_data": [...],
                               "table_fit_data": {...}, "steps": ..., "wall_time_s": ...,
                               "hardware": "...", "kodak": null, ...}]}

A weights file (safetensors, read with ``framework="np"``) holds

- ``model.<name>``: the network's tensors, stored as float16 (halves the shipped size;
  computation is float32, and the latent tables are fitted on the float16-rounded
  model, so encoder and tables agree);
- ``tables.d<delta>.<name>``: the ``LatentTables`` arrays for each distinct
  quantisation step ``delta`` of the rate levels (e.g. ``tables.d1.0.table_freqs``);
- metadata ``lvc``: JSON with ``format``, ``codec``, ``config`` and ``rate_levels``.

Loading checks the file's sha256 against the manifest (``ModelMismatchError`` when it
differs: a corrupt or replaced file). The codec fingerprint written into every
``.lvc`` header is the first 4 bytes of that sha256. ``probe()`` (the registry's
availability check) only looks for the manifest entry and checks that its file
exists, so ``codec list`` never hashes megabytes; the hash is checked on first use.

Export (``python -m lvc.codecs.liveaction.export``): a training checkpoint -> float16
model tensors + latent tables fitted on the integer latents of BSDS500 *training*
images (never Kodak) -> the weights file, written atomically, and its manifest entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import BadInputError, CodecUnavailableError, ModelMismatchError
from ...formats.files import atomic_output
from ...train.checkpoint import checkpoint_meta  # noqa: F401  (re-exported)
from ..manifest import (MANIFEST, WEIGHTS_ENV, file_sha256, fingerprint_of,  # noqa: F401
                        manifest_entry, read_manifest, update_manifest, verified_sha256,
                        weights_dir)

CODEC_ID = "liveaction-rgb"
FILE_FORMAT = 1
DEFAULT_FILE = f"{CODEC_ID}.safetensors"
DEFAULT_FIT_DIR = "../shared/datasets/bsds500/train"
DEFAULT_FIT_IMAGES = 200
STORAGE_DTYPE = "float16"
_MODEL = "model."
_EXPORT_HINT = ("run python -m lvc.codecs.liveaction.export --checkpoint "
                "runs/liveaction-image/checkpoint.safetensors --out "
                "assets/weights/liveaction-rgb.safetensors")


def _export_hint(codec_id: str) -> str:
    if codec_id == CODEC_ID:
        return _EXPORT_HINT
    return (f"run python -m lvc.train liveaction --codec {codec_id}, then python -m "
            f"lvc.codecs.liveaction.export --checkpoint "
            f"runs/{codec_id}/checkpoint.safetensors")


def _locate(codec_id: str, directory=None) -> tuple[Path | None, dict | None, str | None]:
    """(path, entry, None) when the manifest lists a file that exists, else
    (None, None, reason)."""
    directory = Path(directory or weights_dir())
    try:
        entry = manifest_entry(codec_id, directory)
    except ModelMismatchError as e:
        return None, None, str(e)
    if entry is None:
        return None, None, f"weights not installed (no {codec_id} entry in " \
                           f"{directory / MANIFEST}): {_export_hint(codec_id)}"
    path = directory / entry["file"]
    if not path.is_file():
        return None, None, f"weights not installed ({path} is missing): " \
                           f"{_export_hint(codec_id)}"
    return path, entry, None


def probe(codec_id: str = CODEC_ID) -> str | None:
    """Registry availability check: None when the manifest's weights file is present
    (its sha256 is checked when it is loaded)."""
    return _locate(codec_id)[2]


def probe_audio() -> str | None:
    return probe("liveaction-audio")


def probe_audio4() -> str | None:
    return probe("liveaction-audio4")


def probe_hsi() -> str | None:
    return probe("liveaction-hsi")


def probe_volume() -> str | None:
    return probe("liveaction-volume")


# ---------------------------------------------------------------- loading
def tables_prefix(delta: float) -> str:
    """Tensor-name prefix of the latent tables of quantisation step ``delta``."""
    return f"tables.d{float(delta)!r}."


@dataclass(frozen=True, eq=False)
class Weights:
    """A loaded weights file: the float32 model (eval mode), latent tables per step."""

    model: Any  # LiVeAction
    tables: dict  # delta -> LatentTables
    rate_levels: tuple  # ((channels k, step delta), ...), quality 1 first
    sha256: str
    path: Path
    entry: dict
    on_device: dict = field(default_factory=dict)  # device -> model copy; "integer" -> decoder

    @property
    def fingerprint(self) -> bytes:
        return fingerprint_of(self.sha256)

    def model_on(self, device=None):
        """The model on ``device`` (None/cpu: ``model`` itself; others: a copy, made
        once per device)."""
        import copy

        import torch

        device = torch.device(device or "cpu")
        if device.type == "cpu":
            return self.model
        if str(device) not in self.on_device:
            self.on_device[str(device)] = copy.deepcopy(self.model).to(device)
        return self.on_device[str(device)]

    def decoder_on(self, device=None):
        """The decoder to synthesise with on ``device``: on the CPU the integer-product
        one (``integer_synthesis``, made once); elsewhere None (the float model's own,
        where ``model_on`` put it)."""
        import torch

        if torch.device(device or "cpu").type != "cpu":
            return None
        if "integer" not in self.on_device:
            from .integer_synthesis import IntegerDecoder

            self.on_device["integer"] = IntegerDecoder(self.model.decoder)
        return self.on_device["integer"]


_CACHE: dict = {}


def clear_cache() -> None:
    """Forget loaded weights (after the weights directory or its files changed)."""
    _CACHE.clear()


def load_weights(codec_id: str = CODEC_ID, directory=None) -> Weights:
    """Load (once per directory) and verify the weights the manifest lists for ``codec_id``.

    Raises ``CodecUnavailableError`` when none are installed and ``ModelMismatchError``
    when the file does not match the manifest's sha256 or is not a LiVeAction file."""
    directory = Path(directory or weights_dir()).resolve()
    key = (codec_id, directory)
    if key not in _CACHE:
        path, entry, reason = _locate(codec_id, directory)
        if reason:
            raise CodecUnavailableError(f"codec '{codec_id}' is unavailable: {reason}")
        sha = verified_sha256(path, entry)
        _CACHE[key] = _read_weights(path, sha, entry)
    return _CACHE[key]


def _read_weights(path: Path, sha: str, entry: dict) -> Weights:
    import torch
    from safetensors import SafetensorError, safe_open

    from .entropy import LatentTables
    from .model import LiVeAction, LiVeActionConfig

    try:
        with safe_open(str(path), framework="np") as f:
            meta = json.loads((f.metadata() or {})["lvc"])
            arrays = {name: f.get_tensor(name) for name in f.keys()}
        if meta.get("format") != FILE_FORMAT:
            raise ModelMismatchError(f"{path}: weights file format {meta.get('format')} is not "
                                     f"{FILE_FORMAT} (written by another version of lvc?)")
        config = LiVeActionConfig.from_dict(meta["config"])
        levels = tuple((int(k), float(d)) for k, d in meta["rate_levels"])
        tables = {}
        for delta in sorted({d for _, d in levels}):
            prefix = tables_prefix(delta)
            tables[delta] = LatentTables.from_arrays(
                {n[len(prefix):]: a for n, a in arrays.items() if n.startswith(prefix)})
        state = {n[len(_MODEL):]: torch.from_numpy(a).float()
                 for n, a in arrays.items() if n.startswith(_MODEL)}
        with torch.device("meta"):
            model = LiVeAction(config)
        model.load_state_dict(state, strict=True, assign=True)
    except ModelMismatchError:
        raise
    except (SafetensorError, KeyError, ValueError, TypeError, RuntimeError, BadInputError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelMismatchError(f"{path} is not a usable LiVeAction weights file ({msg})") \
            from None
    bad = [(k, d) for k, d in levels if not 1 <= k <= config.latent_channels or d <= 0]
    if not levels or bad:
        raise ModelMismatchError(f"{path}: invalid rate levels {bad or levels}")
    model.eval().requires_grad_(False)
    return Weights(model, tables, levels, sha, path, entry)


# ---------------------------------------------------------------- export
def _image_latents(model, fit_images_dir, n_fit_images: int):
    """Companded latents of the first ``n_fit_images`` images of the folder, and a
    description of them for the manifest."""
    from ...train.data import load_folder
    from .codec import analyse

    images = load_folder(fit_images_dir)[:n_fit_images]
    return ([analyse(model, image) for image in images],
            {"folder": str(fit_images_dir), "images": len(images)})


def _signal_latents(model, codec_id: str, signals=None):
    """Companded latents of ``signals`` (``(C, *axes)`` arrays in [-1, 1]; default: the
    model's training split, ``signal_data``), tiled as the codec tiles, each as the 2-D
    plane the context model codes."""
    from .signal_codec import tile_latents
    from .signal_data import training_signals
    from .signals import SPECS

    out = []
    split = signals is None
    signals = training_signals(codec_id) if split else list(signals)
    for x in signals:
        for latent in tile_latents(model, x, SPECS[codec_id].tile)[1]:
            out.append(latent.reshape(latent.shape[0], -1, latent.shape[-1]))
    source = (f"lvc.codecs.liveaction.signal_data training split of {codec_id}" if split
              else "signals given to export_weights")
    return out, {"split": source, "signals": len(signals), "tiles": len(out)}


def export_weights(checkpoint_path, out_path, fit_images_dir=DEFAULT_FIT_DIR,
                   n_fit_images: int = DEFAULT_FIT_IMAGES, manifest_fields: dict | None = None,
                   pseudocount: float = 0.05, rate_levels=None, fit_signals=None) -> dict:
    """Turn a training checkpoint into a shipped weights file; returns its manifest entry.

    The model tensors are rounded to float16; the encoder (with those rounded weights)
    codes the first ``n_fit_images`` images of ``fit_images_dir`` (sorted; BSDS500
    training images by default, never Kodak), or for the audio / cube / volume models
    (the checkpoint's ``codec``) their training split (or ``fit_signals``), and
    ``LatentTables`` are fitted per distinct step of the rate levels (``rate_levels``,
    default: the checkpoint's, else ``train.RATE_LEVELS``). The file is written atomically next to the manifest
    (``out_path``'s directory), which gets the entry, with ``manifest_fields`` merged in.
    """
    import torch
    from safetensors.numpy import save_file

    from ...train.checkpoint import load_checkpoint
    from .codec import level_symbols
    from .entropy import LatentTables
    from .model import LiVeAction, LiVeActionConfig
    from .train import RATE_LEVELS

    if "kodak" in str(fit_images_dir).lower():
        raise BadInputError("latent tables must be fitted on training images, not Kodak")
    info = checkpoint_meta(checkpoint_path)
    codec_id = info.get("codec", CODEC_ID)
    config = LiVeActionConfig.from_dict(info["config"])
    model = LiVeAction(config)
    load_checkpoint(checkpoint_path, model)
    levels = [(int(k), float(d)) for k, d in (rate_levels or info.get("rate_levels")
                                               or RATE_LEVELS)]
    if not levels or any(not 1 <= k <= config.latent_channels or d <= 0 for k, d in levels):
        raise BadInputError(f"invalid rate levels {levels} for {config.latent_channels} "
                            "latent channels")

    stored = {name: (t.detach().to(torch.float16) if t.is_floating_point() else t.detach())
              for name, t in model.state_dict().items()}
    if not all(torch.isfinite(t).all() for t in stored.values() if t.is_floating_point()):
        raise BadInputError("a weight overflows float16: cannot store this checkpoint")
    model.load_state_dict({n: t.float() if t.is_floating_point() else t
                           for n, t in stored.items()})
    model.eval().requires_grad_(False)

    if codec_id == CODEC_ID:
        fitted, fit_data = _image_latents(model, fit_images_dir, n_fit_images)
    else:
        fitted, fit_data = _signal_latents(model, codec_id, fit_signals)
    kmax = {d: max(k for k, dd in levels if dd == d) for _, d in levels}
    latents: dict = {d: [] for d in kmax}
    for companded in fitted:
        for d, k in kmax.items():
            latents[d].append(level_symbols(companded, k, d))
    arrays = {f"{_MODEL}{n}": t.contiguous().numpy() for n, t in stored.items()}
    for d, k in kmax.items():
        for n, a in LatentTables.fit(latents[d], k, pseudocount).to_arrays().items():
            arrays[tables_prefix(d) + n] = np.ascontiguousarray(a)
    meta = {"format": FILE_FORMAT, "codec": codec_id, "config": config.to_dict(),
            "rate_levels": levels, "storage": STORAGE_DTYPE}

    out_path = Path(out_path)
    with atomic_output(out_path, overwrite=True) as tmp:
        save_file(arrays, str(tmp), metadata={"lvc": json.dumps(meta)})
    entry = {
        "codec": codec_id, "file": out_path.name, "sha256": file_sha256(out_path),
        "bytes": out_path.stat().st_size, "storage": STORAGE_DTYPE,
        "config": config.to_dict(), "rate_levels": levels,
        "parameters": sum(t.numel() for t in stored.values()),
        "training_data": info.get("data"), "steps": info.get("step"),
        "wall_time_s": round(float(info.get("wall_seconds", 0.0)), 1),
        "hardware": info.get("hardware"),
        "table_fit_data": {**fit_data, "pseudocount": pseudocount},
        "kodak": None,
        **(manifest_fields or {}),
    }
    manifest = update_manifest(entry, out_path.parent)
    for path in (out_path, manifest):  # shipped files: readable by everyone (mkstemp: 0600)
        path.chmod(0o644)
    clear_cache()
    return entry
