"""Safe output files: atomic (temp file + rename), never silently overwritten, with
the permissions a plain ``open()`` would give.

- The temporary file sits next to the target as ``.<name>.partial.<random><suffix>``
  (the suffix kept, so writers that pick a format from the extension work): a name
  that says what it is if a SIGKILL ever leaves one behind. On any exception, and on
  SIGTERM once ``remove_partial_on_sigterm`` is installed (the CLI does), it is removed.
- Without ``overwrite`` the file is put in place by ``os.link`` (which fails if the
  target exists) rather than by ``os.replace`` after a check, so two writers racing
  for one name cannot both succeed.
- A new file gets ``0o666`` minus the umask; ``overwrite`` keeps the replaced file's mode.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import stat
import tempfile
from pathlib import Path

from ..errors import OutputExistsError

PARTIAL = ".partial."


def check_writable(path, overwrite: bool = False) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists ({OutputExistsError.API_HINT})")
    if path.exists() and path.is_dir():
        raise OutputExistsError(f"{path} is a directory")
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        return stat.S_IMODE(path.stat().st_mode)  # --force keeps the file's mode
    return 0o666 & ~_umask()


def _exists_error(path: Path) -> OutputExistsError:
    return OutputExistsError(f"{path} exists ({OutputExistsError.API_HINT})")


@contextlib.contextmanager
def atomic_output(path, overwrite: bool = False):
    """Yield a temporary path next to ``path``; put it in place only if the block
    succeeds (see the module docstring for names, races and modes)."""
    path = check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{PARTIAL}", suffix=path.suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _mode_for(path))
        if overwrite:
            if path.is_dir():
                raise OutputExistsError(f"{path} is a directory")
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic no-clobber: fails when someone else won
            except FileExistsError:
                raise _exists_error(path) from None
            except OSError:  # a file system without hard links
                check_writable(path, overwrite)
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_bytes_atomic(path, data: bytes, overwrite: bool = False) -> Path:
    with atomic_output(path, overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def remove_partial_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit`` (exit code 143) in this process, so the
    ``finally`` of ``atomic_output`` removes its temporary file."""
    def _exit(signum, frame):
        raise SystemExit(128 + signum)

    with contextlib.suppress(ValueError):  # not the main thread: leave it alone
        signal.signal(signal.SIGTERM, _exit)


def same_file(a, b) -> bool:
    """True when the paths ``a`` and ``b`` name one file (any spelling, links)."""
    a, b = Path(a), Path(b)
    with contextlib.suppress(OSError):
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def file_sha256(path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
