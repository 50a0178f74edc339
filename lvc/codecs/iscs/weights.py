"""Weights of the slice codecs: a frozen host plus one small file of slice networks.

``mbt2018-mean-tiny-iscs`` (ISCS layout) and ``mbt2018-mean-tiny-slices`` (the original
channel order, sequential slices) share the host ``mbt2018-mean-tiny`` at the same
quality. Their file ``<codec>-q<Q>.safetensors`` holds only the slice networks
(float16); its manifest entry names the host, the host file's sha256, the layout and
the channel order. Loading checks all of it: the host file must be the one the
networks were trained on, and the ISCS order is re-derived from the host's parameters
and must equal the stored one, so encoder and decoder can never disagree on the
permutation (``ModelMismatchError`` otherwise). The host is permuted on a copy.

``LVC_MLICV2_RANDOM=1`` (random host weights) also gives seeded random slice networks.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import BadInputError, ModelMismatchError
from ..manifest import (file_sha256, read_manifest,
                        update_manifest, weights_dir)
from ..mlicv2.weights import cached_model, installed_entry, load_into, use_random

CODECS = {"mbt2018-mean-tiny-iscs": ("mbt2018-mean-tiny", "core"),
          "mbt2018-mean-tiny-slices": ("mbt2018-mean-tiny", "sequential")}
"""Codec id -> (host codec, layout kind)."""
SLICE = 32
"""Slice width: the original order is cut into M / SLICE sequential slices."""
CORE, AUX_GROUPS = 64, 1
"""The ISCS layout: the first CORE channels of the ISCS order in sequential slices of
SLICE, then the rest in AUX_GROUPS groups that read the core only. One group means
every auxiliary channel is decoded in one batched pass (the layout chosen on held-out
rate and decode time, see the README); more groups run side by side."""


@dataclass(frozen=True, eq=False)
class SliceHandle:
    host: Any  # ZooModel of the host, latent channels permuted by ``order``
    slices: Any  # SliceEntropyModel
    order: tuple


def host_model(host_id: str, quality: int):
    """The host's (unpermuted, shared) ``ZooModel``."""
    if host_id != "mbt2018-mean-tiny":
        raise BadInputError(f"ISCS slice codecs are built on mbt2018-mean-tiny, not {host_id}")
    from ..mlicv2.baseline import load

    return load(quality)


def host_sha256(host_id: str, quality: int) -> str:
    return "random" if use_random() else installed_entry(host_id, quality)["sha256"]


def plan(model, kind: str, core: int = CORE, group: int = SLICE,
         aux_groups: int | None = AUX_GROUPS) -> tuple:
    """(order, SliceLayout) for ``kind`` "core" (ISCS order; a ``core``-channel core in
    sequential slices of ``group``, then the rest in ``aux_groups`` equal groups, by
    default groups of ``group``) or "sequential" (identity order, slices of ``group``)."""
    from .layers import find_latent_layers
    from .slices import SliceLayout
    from .stats import analyze

    channels = model.g_a[-1].out_channels
    if kind == "sequential":
        return tuple(range(channels)), SliceLayout.sequential(channels, channels // group)
    rest = channels - core
    aux_groups = aux_groups or -(-rest // group)
    if not 0 < core < channels or core % group or rest % aux_groups:
        raise BadInputError(f"the core ({core} of {channels} channels) must be a multiple of "
                            f"the group width {group} and leave {aux_groups} equal "
                            "auxiliary groups")
    order = analyze(find_latent_layers(model.g_a, model.g_s, channels)).order
    return tuple(order), SliceLayout.core_first([group] * (core // group),
                                                [rest // aux_groups] * aux_groups)


def permuted_host(zm, order):
    """A copy of the host ``ZooModel`` with its latent channels in ``order``."""
    from ..zoo.weights import wrap
    from .permute import permute_latent_channels

    model = copy.deepcopy(zm.model)
    if tuple(order) != tuple(range(len(order))):
        permute_latent_channels(model, order)
    return wrap(model, zm.source)


def _build(codec_id: str, quality: int, entry: dict | None) -> SliceHandle:
    import torch

    from .slices import SliceEntropyModel, SliceLayout

    host_id, kind = CODECS[codec_id]
    zm = host_model(host_id, quality)
    widths = ((CORE, SLICE, AUX_GROUPS) if entry is None  # else the widths it was trained with
              else SliceLayout.from_dict(entry["layout"]).widths())
    order, layout = plan(zm.model, kind, *widths)
    if entry is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(quality)
            slices = SliceEntropyModel(layout)
            for net in slices.nets:  # not the zero start: random tests must use the contexts
                torch.nn.init.normal_(net[-1].weight, std=0.02)
    else:
        if entry.get("host_sha256") != host_sha256(host_id, quality):
            raise ModelMismatchError(f"{entry['file']} was trained on other {host_id} "
                                     f"weights than the installed quality {quality}")
        if tuple(entry["order"]) != order or SliceLayout.from_dict(entry["layout"]) != layout:
            raise ModelMismatchError(f"{entry['file']}: the channel order re-derived from "
                                     f"{host_id} differs from the stored one")
        slices = SliceEntropyModel(layout)
        load_into(slices.nets, entry)  # the file holds the networks only
    return SliceHandle(permuted_host(zm, order), slices.eval(), order)


def load(codec_id: str, quality: int) -> SliceHandle:
    return cached_model(codec_id, quality, lambda entry: _build(codec_id, quality, entry))


def probe(codec_id: str) -> str | None:
    if use_random():
        return None
    try:
        found = any(e.get("codec") == codec_id for e in read_manifest()["weights"])
    except ModelMismatchError as e:
        return str(e)
    return None if found else (f"no {codec_id} weights are installed yet (make them with "
                               f"codec iscs apply {CODECS[codec_id][0]}:Q)")


def probe_iscs() -> str | None:
    return probe("mbt2018-mean-tiny-iscs")


def probe_slices() -> str | None:
    return probe("mbt2018-mean-tiny-slices")


def export(checkpoint, directory=None) -> dict:
    """Ship a slice training run's checkpoint (``train.py``) as its codec's weights at
    its host quality: the slice networks (``SliceEntropyModel.nets``) in float16 plus
    the manifest entry."""
    import torch
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import save_file

    from ...formats.files import atomic_output

    try:
        with safe_open(str(checkpoint), "pt") as f:
            info = json.loads(f.metadata()["lvc"])
            state = {k[len("model.nets."):]: f.get_tensor(k) for k in f.keys()
                     if k.startswith("model.nets.")}
        codec_id, quality = info["codec"], int(info["quality"])
    except (SafetensorError, KeyError, TypeError, ValueError) as e:
        raise BadInputError(f"{checkpoint} is not an ISCS slice training checkpoint ({e})") \
            from None
    if "kodak" in " ".join(map(str, info.get("data", []))).lower():
        raise BadInputError("refusing to ship weights trained on Kodak (the evaluation set)")
    stored = {k: v.to(torch.float16).contiguous() for k, v in state.items()}
    directory = Path(directory or weights_dir())
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{codec_id}-q{quality}.safetensors"
    with atomic_output(out, overwrite=True) as tmp:
        save_file(stored, str(tmp), metadata={"lvc": json.dumps(
            {"codec": codec_id, "quality": quality, "order": info["order"]})})
    out.chmod(0o644)
    entry = {"codec": codec_id, "quality": quality, "file": out.name,
             "sha256": file_sha256(out), "bytes": out.stat().st_size, "storage": "float16",
             "model": "slice-entropy", "host": info["host"], "host_sha256": info["host_sha256"],
             "layout": info["layout"], "order": info["order"],
             "parameters": sum(v.numel() for v in stored.values()),
             "training": {k: info.get(k) for k in ("data", "crop", "batch", "pool", "lr",
                                                   "seed", "hardware", "loss")},
             "val_bpp_y": info.get("val_bpp_y"), "val_bpp_y_host": info.get("val_bpp_y_host"),
             "steps": info["step"], "wall_time_s": round(float(info.get("wall_seconds", 0)), 1),
             "exported": time.strftime("%Y-%m-%d")}
    update_manifest(entry, directory, key=("codec", "quality"))
    return entry

