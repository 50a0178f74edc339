"""``LVCDataset``: a map-style dataset that decodes ``.lvc`` files on access.

Why decode per item rather than ahead: the compressed copy is what is stored and
shipped; DataLoader workers decode in parallel (``samples.py`` sets their threads).
"""

from __future__ import annotations

import glob as globlib
from pathlib import Path

from ..errors import BadInputError, MissingFileError
from .labels import class_index, folder_label, lookup, read_labels
from .samples import check_output, load_sample


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


class LVCDataset:
    """Decoded ``.lvc`` files, one per index.

    ``output``: one of ``samples.OUTPUTS`` (``"float"``: images float32 CHW in [0, 1];
    audio is a ``(waveform, sample_rate)`` pair). ``labels``: None, ``"folders"`` (the
    sub-folder of ``source`` a file sits in, ImageFolder's rule) or a CSV path (names
    with or without ``.lvc``). An item is ``sample``, or ``(sample, label_index)`` with
    labels; ``classes`` lists the label names.
    """

    def __init__(self, source, output: str = "float", transform=None, labels=None):
        self.output = check_output(output)
        self.files = find_lvc_files(source)
        self.transform = transform
        self.classes, self.targets = [], None
        if labels is not None:
            names = self._label_names(source, labels)
            self.classes, index = class_index(names)
            self.targets = [index[n] for n in names]

    def _label_names(self, source, labels) -> list:
        if labels == "folders":
            root = Path(source) if isinstance(source, (str, Path)) else None
            if root is None or not root.is_dir():
                raise BadInputError("labels='folders' needs a folder as the source")
            names = [folder_label(f.relative_to(root).as_posix()) for f in self.files]
            if None in names:
                raise BadInputError(f"{self.files[names.index(None)]} is not in a class "
                                    "sub-folder (labels='folders')")
            return names
        table = read_labels(labels)
        names = [lookup(table, f.name, ".lvc") for f in self.files]
        if None in names:
            raise BadInputError(f"{self.files[names.index(None)].name} has no label in {labels}")
        return names

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        sample = load_sample(self.files[i].read_bytes(), self.output)
        if self.transform is not None:
            sample = self.transform(sample)
        return sample if self.targets is None else (sample, self.targets[i])
