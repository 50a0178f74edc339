"""RD curves in CompressAI's JSON layout: load, validate, build, and read points from.

The layout (that of CompressAI's ``results/`` files and of our own sweeps)::

    {"name": "VTM", "description": "...",
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...], ...}}

Every list in ``results`` has one entry per RD point: numbers (``null`` reads as NaN)
or, for per-point labels such as model names, strings. ``description`` is optional
(some published files carry ``source`` instead); other top-level keys are kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import BadInputError, MissingFileError


def curve(name: str, description: str, results: dict) -> dict:
    """A curve dict in CompressAI's layout; arrays become lists of floats (JSON-ready)."""
    out = {}
    for key, values in results.items():
        if isinstance(values, (list, tuple, np.ndarray)):
            out[key] = [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]
        else:
            out[key] = values
    return {"name": str(name), "description": str(description), "results": out}


def is_ms_ssim(metric: str) -> bool:
    return metric.startswith("ms-ssim")


def to_db(ms_ssim_values) -> np.ndarray:
    """MS-SSIM as dB, -10 log10(1 - MS-SSIM), as CompressAI's plots show it (1.0 -> inf)."""
    v = np.asarray(ms_ssim_values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -10.0 * np.log10(1.0 - v)


def points(c: dict, metric: str, rate: str = "bpp") -> tuple:
    """(rates, values) float64 arrays of a curve for ``metric``; MS-SSIM metrics in dB.

    Raises KeyError when the curve has no such metric.
    """
    res = c["results"]
    rates = np.asarray(res[rate], dtype=np.float64)
    values = np.asarray(res[metric], dtype=np.float64)
    return rates, (to_db(values) if is_ms_ssim(metric) else values)


def has_metric(c: dict, metric: str, rate: str = "bpp") -> bool:
    res = c.get("results", {})
    return rate in res and metric in res


def _number(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def validate(data, source: str) -> dict:
    """Check the layout; return the dict or raise BadInputError naming ``source``."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise BadInputError(f"{source}: not an RD curve (expected an object with 'results')")
    res = data["results"]
    bpp = res.get("bpp")
    if not isinstance(bpp, list) or not bpp:
        raise BadInputError(f"{source}: 'results' needs a non-empty 'bpp' list")
    for key, values in res.items():
        if not isinstance(values, list):
            continue
        if len(values) != len(bpp):
            raise BadInputError(f"{source}: results[{key!r}] has {len(values)} values, "
                                f"'bpp' has {len(bpp)}")
        numeric = all(_number(v) for v in values)
        if not (numeric or (key != "bpp" and all(isinstance(v, str) for v in values))):
            raise BadInputError(f"{source}: results[{key!r}] must hold numbers"
                                + ("" if key == "bpp" else " (or only labels)"))
    if "name" in data and not isinstance(data["name"], str):
        raise BadInputError(f"{source}: 'name' must be a string")
    return data


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BadInputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputError(f"{path}: cannot read ({e})") from None
    return validate(data, str(path))


def _files(paths) -> list:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.json"))
            if not found:
                raise BadInputError(f"{p}: no .json curve files in this directory")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise MissingFileError(f"{p}: no such file or directory")
    return files


def load_curves(paths) -> dict:
    """Curves from JSON files and/or directories of them, keyed by a unique name.

    The key (and the returned curve's ``name``) is the JSON's ``name`` (the file stem
    when it has none); a name already taken gets the file stem appended,
    ``"VTM (vtm-2)"``. Bad files raise BadInputError with a one-line message.
    """
    curves = {}
    for path in _files(paths):
        data = dict(_read(path))
        name = data.get("name") or path.stem
        if name in curves:
            name = f"{name} ({path.stem})"
        base, n = name, 2
        while name in curves:
            name, n = f"{base} {n}", n + 1
        data["name"] = name
        data.setdefault("description", "")
        curves[name] = data
    return curves
