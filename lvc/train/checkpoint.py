"""Resumable training checkpoints without pickle: one safetensors file holding the
model weights, the optimizer state and (as JSON metadata) step, config and log.

Written atomically, so an interrupted save never leaves a broken checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import BadInputError
from ..formats.files import atomic_output


def save_checkpoint(path, model, optimizer, step: int, meta: dict | None = None) -> Path:
    import torch
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    scalars = {}
    for pid, state in opt["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{key}"] = value
    info = {"step": step, "param_groups": opt["param_groups"], "optim_scalars": scalars,
            **(meta or {})}
    with atomic_output(path, overwrite=True) as tmp:
        save_file(tensors, str(tmp), metadata={"lvc": json.dumps(info)})
    return Path(path)


def _lvc_meta(f, path) -> dict:
    meta = (f.metadata() or {}).get("lvc")
    if meta is None:
        raise BadInputError(f"{path}: a safetensors file without lvc checkpoint metadata")
    return json.loads(meta)


def _open(path, framework: str):
    """``safe_open`` with a one-line error for a file that is not safetensors at all."""
    from safetensors import SafetensorError, safe_open

    try:
        return safe_open(str(path), framework=framework)
    except SafetensorError as e:
        raise BadInputError(f"{path}: not an lvc training checkpoint ({e})") from None


def checkpoint_meta(path) -> dict:
    """A checkpoint's JSON metadata (step, config, ...) without loading tensors."""
    with _open(path, "np") as f:
        return _lvc_meta(f, path)


def load_checkpoint(path, model, optimizer=None) -> dict:
    """Restore model (and optimizer) state in place; returns the metadata dict."""
    with _open(path, "pt") as f:
        info = _lvc_meta(f, path)
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if optimizer is not None:
        state: dict = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, pid, key = k.split(".", 2)
                state.setdefault(int(pid), {})[key] = v
        for k, v in info["optim_scalars"].items():
            pid, key = k.split(".", 1)
            state.setdefault(int(pid), {})[key] = v
        optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})
    return info


class JsonlLog:
    """Append-only training log, one JSON object per line (read back with ``read``)."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **row) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def read(self) -> list:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


class StepClock:
    """When a training loop saves and stops: a checkpoint every ``ckpt_minutes``, and
    a stop (with a checkpoint, by the caller) after ``minutes`` of this session."""

    def __init__(self, ckpt_minutes: float, minutes: float | None = None):
        import time

        self._time = time.time
        self.start = self.last = self._time()
        self.ckpt_seconds, self.minutes = ckpt_minutes * 60, minutes

    def elapsed(self) -> float:
        return self._time() - self.start

    def tick(self, step: int, save) -> bool:
        """Call after step ``step``; saves at ``step + 1`` when due, True to stop."""
        if self._time() - self.last > self.ckpt_seconds:
            save(step + 1)
            self.last = self._time()
        return bool(self.minutes) and self.elapsed() > self.minutes * 60
