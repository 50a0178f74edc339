"""Shipped weights: where they live and the manifest that lists them.

Where: ``assets/weights/`` at the repository root, or the directory named by the
environment variable ``LVC_WEIGHTS_DIR``. ``manifest.json`` there lists one entry per
weights file (``{"format": 1, "weights": [{"codec": ..., "file": ..., "sha256": ...,
"bytes": ..., ...}]}``): the codec it belongs to, its sha256 (checked on load) and
how it was trained. A codec may ship several files (one per image size, say), told
apart by further entry fields. The codec fingerprint written into every ``.lvc``
header is the first 4 bytes of the weights file's sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import ModelMismatchError
from ..formats.files import file_sha256, write_bytes_atomic  # noqa: F401  (re-exported to weights modules)

WEIGHTS_ENV = "LVC_WEIGHTS_DIR"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


def weights_dir() -> Path:
    """``$LVC_WEIGHTS_DIR`` if set, else ``assets/weights`` at the repository root."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "assets" / "weights"


# ---------------------------------------------------------------- manifest
def read_manifest(directory=None) -> dict:
    """The manifest of ``directory`` (default ``weights_dir()``); empty when absent."""
    path = Path(directory or weights_dir()) / MANIFEST
    if not path.is_file():
        return {"format": MANIFEST_FORMAT, "weights": []}
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest.get("weights"), list):
            raise ValueError("no 'weights' list")
        for i, entry in enumerate(manifest["weights"]):
            _check_entry(entry, i)
    except (ValueError, AttributeError) as e:
        raise ModelMismatchError(f"{path} is not a valid weights manifest ({e})") from None
    return manifest


def _check_entry(entry, i: int) -> None:
    """An entry names a plain file inside the weights folder (never a path that leaves
    it) and its sha256."""
    if not isinstance(entry, dict):
        raise ValueError(f"entry {i} is not an object")
    name = entry.get("file")
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name \
            or "\\" in name or "\0" in name:
        raise ValueError(f"entry {i} needs 'file', a plain file name in the weights folder, "
                         f"not {name!r}")
    sha = entry.get("sha256")
    if not (isinstance(sha, str) and len(sha) == 64
            and all(c in "0123456789abcdef" for c in sha)):
        raise ValueError(f"entry {i} ({name}) needs 'sha256', 64 hex digits")


def manifest_entry(codec_id: str, directory=None, **match) -> dict | None:
    """The manifest entry of ``codec_id`` whose fields equal ``match`` (the last one if
    several), or None."""
    entries = [e for e in read_manifest(directory)["weights"] if e.get("codec") == codec_id
               and all(e.get(k) == v for k, v in match.items())]
    return entries[-1] if entries else None


def update_manifest(entry: dict, directory, key: tuple = ("codec",)) -> Path:
    """Add ``entry``, replacing the entries that agree with it on every ``key`` field
    or name the same file; atomic write."""
    manifest = read_manifest(directory)
    manifest["format"] = MANIFEST_FORMAT
    manifest["weights"] = [e for e in manifest["weights"]
                           if any(e.get(k) != entry.get(k) for k in key)
                           and e.get("file") != entry["file"]]
    manifest["weights"].append(entry)
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    path = write_bytes_atomic(Path(directory) / MANIFEST, text.encode(), overwrite=True)
    path.chmod(0o644)  # a shipped file: readable by everyone (atomic writes start 0600)
    return path


def fingerprint_of(sha256_hex: str) -> bytes:
    """The 4-byte codec fingerprint of a weights file: the first bytes of its sha256."""
    return bytes.fromhex(sha256_hex)[:4]




def verified_sha256(path, entry: dict) -> str:
    """The sha256 of ``path``; ``ModelMismatchError`` when it is not the entry's."""
    sha = file_sha256(path)
    if sha != entry.get("sha256"):
        raise ModelMismatchError(f"weights file {path} does not match the sha256 in its "
                                 "manifest (corrupt or replaced): reinstall or re-export it")
    return sha


def set_fingerprint(codec_id: str, directory=None) -> bytes:
    """The header fingerprint of all the files a codec lists (one per quality, say):
    the same for every file of the set, so the quality in the header picks the file."""
    entries = sorted(repr((e.get("quality"), e.get("model"), e.get("sha256")))
                     for e in read_manifest(directory)["weights"] if e.get("codec") == codec_id)
    return fingerprint_of(hashlib.sha256(repr(entries).encode()).hexdigest())
