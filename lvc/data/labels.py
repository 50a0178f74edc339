"""Labels for dataset members: ImageFolder's rule (the class is the first sub-folder
under the root) or a CSV of ``name,label`` rows."""

from __future__ import annotations

import csv
from pathlib import PurePosixPath

from ..errors import BadInputError


def read_labels(csv_path) -> dict:
    """``{name: label}`` from a CSV of ``name,label`` rows (a header row is skipped)."""
    labels = {}
    with open(csv_path, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if len(row) < 2 or (i == 0 and row[0].strip().lower() in ("name", "file")):
                continue
            labels[row[0].strip()] = row[1].strip()
    if not labels:
        raise BadInputError(f"{csv_path}: no name,label rows")
    return labels


def lookup(table: dict, relative: str, suffix: str = ""):
    """A member's label in a CSV table: by relative path or file name, each with or
    without its suffix (``suffix``: the one to try removing, e.g. ``.lvc``)."""
    name = PurePosixPath(relative).name
    for key in (relative, name):
        if key in table:
            return table[key]
        if suffix and key.endswith(suffix) and key[:-len(suffix)] in table:
            return table[key[:-len(suffix)]]
    return None


def folder_label(relative: str):
    """ImageFolder's class of a path relative to the root (None: directly in the root)."""
    parts = PurePosixPath(relative).parts
    return parts[0] if len(parts) > 1 else None


def class_index(names) -> tuple:
    """``(classes, {name: index})``: sorted distinct label names (None left out)."""
    classes = sorted({n for n in names if n is not None})
    return classes, {c: i for i, c in enumerate(classes)}
