"""``LVCDataset``: a map-style dataset that decodes ``.lvc`` files on access.

Why decode per item rather than ahead: the compressed copy is what is stored and
shipped; DataLoader workers decode in parallel. Each worker process sets its own
torch thread count (the cores it may use divided by the workers) on first use, so
``num_workers=N`` does not oversubscribe the machine with N x the default threads.
"""

from __future__ import annotations

import csv
import glob as globlib
import os
from pathlib import Path

import numpy as np

from ..errors import BadInputError, MissingFileError

OUTPUTS = ("array", "uint8", "float")


def find_lvc_files(source) -> list:
    """Sorted ``.lvc`` paths of a folder (recursive), a glob pattern or a list of paths."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        files = sorted(Path(source).rglob("*.lvc"))
    elif isinstance(source, (str, Path)):
        files = sorted(Path(p) for p in globlib.glob(str(source), recursive=True))
    else:
        files = [Path(p) for p in source]
    files = [f for f in files if not f.name.startswith(".")]
    if not files:
        raise MissingFileError(f"no .lvc files in {source}")
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise MissingFileError(f"{missing[0]}: no such file")
    return files


def read_labels(csv_path) -> dict:
    """``{name: label}`` from a CSV of ``name,label`` rows (a header row is skipped);
    a name is a member's file name with or without ``.lvc``."""
    labels = {}
    with open(csv_path, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if len(row) < 2 or (i == 0 and row[0].strip().lower() in ("name", "file")):
                continue
            labels[row[0].strip()] = row[1].strip()
    if not labels:
        raise BadInputError(f"{csv_path}: no name,label rows")
    return labels


def _threads_per_worker() -> int:
    import torch.utils.data as tud

    info = tud.get_worker_info()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // (info.num_workers if info else 1))


class LVCDataset:
    """Decoded ``.lvc`` files, one per index.

    ``output``: ``"array"`` (what ``lvc.decode`` gives: uint8 HWC images, audio
    ``(frames, channels)``), ``"uint8"`` (images as uint8 HWC tensors) or ``"float"``
    (images float32 CHW in [0, 1]); audio is always a float32 ``(channels, frames)``
    tensor in [-1, 1] with its sample rate unless ``"array"``. ``labels``: None,
    ``"folders"`` (the sub-folder of ``source`` a file sits in, ImageFolder's rule) or
    a CSV path. An item is ``sample`` (audio: ``(waveform, sample_rate)``), or
    ``(sample, label_index)`` with labels; ``classes`` lists the label names.
    """

    def __init__(self, source, output: str = "float", transform=None, labels=None):
        if output not in OUTPUTS:
            raise BadInputError(f"output is one of {', '.join(OUTPUTS)}, not {output!r}")
        self.files = find_lvc_files(source)
        self.output, self.transform = output, transform
        self.classes, self.targets = [], None
        if labels is not None:
            names = self._label_names(source, labels)
            self.classes = sorted(set(names))
            index = {c: i for i, c in enumerate(self.classes)}
            self.targets = [index[n] for n in names]
        self._threads_set = False

    def _label_names(self, source, labels) -> list:
        if labels == "folders":
            root = Path(source) if isinstance(source, (str, Path)) else None
            if root is None or not root.is_dir():
                raise BadInputError("labels='folders' needs a folder as the source")
            names = [f.relative_to(root).parts[0] if len(f.relative_to(root).parts) > 1
                     else None for f in self.files]
            if None in names:
                raise BadInputError(f"{self.files[names.index(None)]} is not in a class "
                                    "sub-folder (labels='folders')")
            return names
        table = read_labels(labels)
        names = []
        for f in self.files:
            label = table.get(f.name, table.get(f.name[:-len(".lvc")]))
            if label is None:
                raise BadInputError(f"{f.name} has no label in {labels}")
            names.append(label)
        return names

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        import lvc

        if not self._threads_set:  # once per process (each DataLoader worker)
            import torch

            torch.set_num_threads(_threads_per_worker())
            self._threads_set = True
        media = lvc.decode_media(self.files[i].read_bytes())
        sample = self._convert(media)
        if self.transform is not None:
            sample = self.transform(sample)
        return sample if self.targets is None else (sample, self.targets[i])

    def _convert(self, media):
        import torch

        data = media.data if media.data.flags.writeable else media.data.copy()
        if self.output == "array":
            return (data, media.sample_rate) if media.modality == "audio" else data
        if media.modality == "audio":
            from ..formats.audio_io import pcm_to_float32

            x = data if data.dtype.kind == "f" else pcm_to_float32(data)
            x = np.asarray(x, np.float32).reshape(len(data), -1).T
            return torch.from_numpy(np.ascontiguousarray(x)), media.sample_rate
        if media.modality != "image":
            x = torch.from_numpy(np.ascontiguousarray(data))
            return x if self.output == "uint8" else x.float()
        x = torch.from_numpy(np.ascontiguousarray(data if data.ndim == 3 else data[:, :, None]))
        if self.output == "uint8":
            return x
        return x.permute(2, 0, 1).float().div_(float(np.iinfo(data.dtype).max))
