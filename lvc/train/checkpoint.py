"""Resumable training checkpoints without pickle: one safetensors file holding the
model weights, optionally the optimizer state, and (as JSON metadata) step, config and log.

With an optimizer the weights stay float32, so a resumed run continues bit for bit.
Without one (the training loop's default) the floating-point weights are stored as
float16: a continuation then costs tens of MB in the repository, not hundreds, and
resumes with a fresh optimizer. Written atomically, so an interrupted save never
leaves a broken checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import BadInputError
from ..formats.files import atomic_output


def save_checkpoint(path, model, optimizer, step: int, meta: dict | None = None) -> Path:
    """Write ``model`` (and ``optimizer``, unless None: then float16 weights only)."""
    import torch
    from safetensors.torch import save_file

    def stored(v):
        v = v.detach().cpu()
        return (v.half() if optimizer is None and v.is_floating_point() else v).contiguous()

    tensors = {f"model.{k}": stored(v) for k, v in model.state_dict().items()}
    info = {"step": step}
    if optimizer is not None:
        opt = optimizer.state_dict()
        scalars = {}
        for pid, state in opt["state"].items():
            for key, value in state.items():
                if torch.is_tensor(value):
                    tensors[f"optim.{pid}.{key}"] = value.detach().cpu().contiguous()
                else:
                    scalars[f"{pid}.{key}"] = value
        info.update(param_groups=opt["param_groups"], optim_scalars=scalars)
    info.update(meta or {})
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
    """Restore model (and optimizer, when the file has its state) in place; returns the
    metadata dict, with ``optimizer_restored`` saying whether the optimizer state came back."""
    with _open(path, "pt") as f:
        info = _lvc_meta(f, path)
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    info["optimizer_restored"] = optimizer is not None and bool(info.get("param_groups"))
    if info["optimizer_restored"]:
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


def load_weights(path, model) -> dict:
    """Load network weights from a training checkpoint (``model.*`` tensors) or from a
    shipped weights file (the state dict's own names): how a run starts from either.
    Returns the file's metadata."""
    with _open(path, "pt") as f:
        info = _lvc_meta(f, path)
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if any(k.startswith("model.") for k in tensors):
        tensors = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise BadInputError(f"{path}: weights of another network ({str(e).splitlines()[0]})") \
            from None
    return info


class Optimizers:
    """Several optimisers (a main one and auxiliary ones) saved and restored as one
    state: parameter ids and groups follow one another, as a single optimiser's would."""

    def __init__(self, optimizers: list):
        self.optimizers = list(optimizers)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        state, groups, shift = {}, [], 0
        for o in self.optimizers:
            sd = o.state_dict()
            state.update({k + shift: v for k, v in sd["state"].items()})
            groups += [dict(g, params=[p + shift for p in g["params"]]) for g in sd["param_groups"]]
            shift += sum(len(g["params"]) for g in sd["param_groups"])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, saved: dict) -> None:
        shift, g0 = 0, 0
        for o in self.optimizers:
            n_groups = len(o.param_groups)
            n = sum(len(g["params"]) for g in o.param_groups)
            groups = saved["param_groups"][g0: g0 + n_groups]
            o.load_state_dict({
                "state": {k - shift: v for k, v in saved["state"].items() if shift <= k < shift + n},
                "param_groups": [dict(g, params=[p - shift for p in g["params"]]) for g in groups]})
            shift, g0 = shift + n, g0 + n_groups


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
