"""Safe output files: atomic (temp file + rename) and never silently overwritten."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..errors import OutputExistsError


def check_writable(path, overwrite: bool = False) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists (use --force / overwrite=True to replace it)")
    if path.exists() and path.is_dir():
        raise OutputExistsError(f"{path} is a directory")
    return path


@contextlib.contextmanager
def atomic_output(path, overwrite: bool = False):
    """Yield a temporary path next to ``path`` (same suffix, so writers that pick a
    format from the extension work); rename it into place only if the block succeeds."""
    path = check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        check_writable(path, overwrite)  # someone may have created it meanwhile
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_bytes_atomic(path, data: bytes, overwrite: bool = False) -> Path:
    with atomic_output(path, overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)
