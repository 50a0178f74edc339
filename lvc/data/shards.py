"""Tar shards in the WebDataset layout, and the ``index.json`` beside them.

A shard ``shard-00000.tar`` holds, per member, ``KEY.json`` (``{"name", "label",
"source_sha256"}``), ``KEY.cls`` (the class index as text, only for labelled members)
and ``KEY.lvc`` (the encoded file, last), one after another, so any WebDataset
reader sees one sample per key. ``KEY`` is the source's relative path without its
suffix, dots in the file name replaced by ``_`` (WebDataset splits a key at the first
dot of the file name); ``json`` keeps the real name. Tar headers carry no time, user
or mode of the packing machine, so the same members give byte-identical shards.

Why plain ``tarfile`` rather than the ``webdataset`` package: writing and reading
this layout is a few lines, and the package adds a dependency (and its own pipeline
API) that a reader of lvc shards does not need; WebDataset still reads these shards.

``index.json`` (``INDEX_NAME``) lists the shards (members, bytes, sha256) and every
member (key, name, shard, codec, quality, bytes, shape, label, source checksum); it
is written last, so its presence says the pack finished.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tarfile
from pathlib import Path, PurePosixPath

from ..errors import BadInputError, FormatError, MissingFileError
from ..formats.files import atomic_output, file_sha256, write_bytes_atomic

SHARD_NAME = "shard-{:05d}.tar"
SHARD_RE = re.compile(r"shard-(\d{5,})\.tar")
INDEX_NAME = "index.json"
INDEX_FORMAT = "lvc-shards"
INDEX_VERSION = 1
_BLOCK = tarfile.BLOCKSIZE
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text) -> int:
    """Bytes of ``"256MB"``, ``"64KB"``, ``"1.5GB"``, ``"512MiB"`` or a plain number
    (KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match else None
    if unit not in _UNITS:
        raise BadInputError(f"size {text!r}: a number with KB, MB or GB (e.g. 256MB)")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size < 1:
        raise BadInputError(f"size {text!r} is not positive")
    return size


def member_key(relative: str) -> str:
    """The sample key of a source's relative path: no media suffix, dots in the file
    name as ``_`` (``cat/a.b.png`` -> ``cat/a_b``)."""
    from ..formats.io import media_stem

    path = PurePosixPath(relative)
    stem = media_stem(path.name).replace(".", "_")
    return str(path.parent / stem) if str(path.parent) != "." else stem


def _tar_bytes(name: str, size: int) -> int:
    """Bytes a member takes in a tar: header, data padded to blocks, plus a PAX
    header for a name ustar cannot hold."""
    pax = 3 * _BLOCK if len(name.encode()) > 100 or not name.isascii() else 0
    return pax + _BLOCK + -(-size // _BLOCK) * _BLOCK


def _closed_size(content: int) -> int:
    """A finished tar's size: the end-of-archive blocks, padded to whole records."""
    return -(-(content + 2 * _BLOCK) // tarfile.RECORDSIZE) * tarfile.RECORDSIZE


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class ShardWriter:
    """Writes samples into numbered shards of at most ``max_bytes`` (a sample larger
    than that gets a shard of its own). Each shard is written to a temporary file and
    renamed when complete, so a finished shard on disk is always whole; ``on_shard``
    is called with ``(name, members, bytes, sha256)`` as each one is put in place."""

    def __init__(self, folder, max_bytes: int, first: int = 0, on_shard=None):
        self.folder, self.max_bytes, self.number = Path(folder), max_bytes, first
        self.on_shard = on_shard
        self._stack, self._tar, self._members, self._bytes = None, None, 0, 0

    @property
    def shard_name(self) -> str:
        return SHARD_NAME.format(self.number)

    def add(self, key: str, files: dict) -> str:
        """Add one sample (``{extension: bytes}``); returns the shard's name."""
        size = sum(_tar_bytes(f"{key}.{ext}", len(data)) for ext, data in files.items())
        if self._tar is not None and _closed_size(self._bytes + size) > self.max_bytes:
            self.close()
        if self._tar is None:
            self._open()
        for ext, data in files.items():
            self._tar.addfile(_tarinfo(f"{key}.{ext}", len(data)), io.BytesIO(data))
        self._members += 1
        self._bytes += size
        return self.shard_name

    def _open(self) -> None:
        self._stack = contextlib.ExitStack()
        self._path = self.folder / self.shard_name
        tmp = self._stack.enter_context(atomic_output(self._path, overwrite=True))
        self._tar = self._stack.enter_context(tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT))
        self._tmp, self._members, self._bytes = tmp, 0, 0

    def close(self) -> None:
        """Finish the current shard (if any) and put it in place."""
        if self._tar is None:
            return
        self._tar.close()
        size, digest = self._tmp.stat().st_size, file_sha256(self._tmp)
        self._stack.close()  # renames the temporary file to the shard's name
        if self.on_shard is not None:
            self.on_shard(self.shard_name, self._members, size, digest)
        self._tar, self.number = None, self.number + 1

    def abort(self) -> None:
        """Drop the shard being written (its temporary file is removed)."""
        if self._tar is not None:
            with contextlib.suppress(Exception):
                self._tar.close()
            with contextlib.suppress(BaseException):
                self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)
            self._tar = None


def sample_key(member_name: str) -> tuple:
    """``(key, extension)`` of a tar member name, WebDataset's rule: the key ends at
    the first dot of the file name."""
    path = PurePosixPath(member_name)
    stem, _, ext = path.name.partition(".")
    return (str(path.parent / stem) if str(path.parent) != "." else stem), ext


def read_shard(path):
    """Yield ``(key, {extension: bytes})`` per sample of a shard, in order. A truncated
    or damaged tar raises ``FormatError`` naming the shard and the last good member,
    after yielding the sample read so far (``pack`` writes ``.lvc`` last, so a sample
    with its ``.lvc`` is whole)."""
    path = Path(path)
    key, files, last = None, {}, None
    try:
        with tarfile.open(path, "r|") as tar:
            for info in tar:
                if not info.isfile():
                    continue
                k, ext = sample_key(info.name)
                if k != key and files:
                    yield key, files
                    files = {}
                key = k
                files[ext] = tar.extractfile(info).read()
                last = info.name
    except FileNotFoundError:
        raise MissingFileError(f"{path}: no such shard") from None
    except (tarfile.TarError, EOFError, OSError) as e:
        if "lvc" in files:
            yield key, files
        where = f"after member {last}" if last else "at its start"
        raise FormatError(f"{path}: truncated or damaged tar ({where}): "
                          f"{e or type(e).__name__}") from None
    if files:
        yield key, files


# ---------------------------------------------------------------- index.json
def new_index(codec: str, quality: int, classes: list) -> dict:
    return {"format": INDEX_FORMAT, "version": INDEX_VERSION, "codec": codec,
            "quality": quality, "classes": classes, "shards": [], "members": []}


def write_index(folder, index: dict) -> Path:
    text = json.dumps(index, indent=1, sort_keys=True) + "\n"
    return write_bytes_atomic(Path(folder) / INDEX_NAME, text.encode(), overwrite=True)


def read_index(folder) -> dict:
    """The index of a shard folder; a missing or malformed one is a one-line error."""
    path = Path(folder) / INDEX_NAME
    if not path.is_file():
        raise MissingFileError(f"{path}: missing: not a folder written by `codec pack`, or "
                               "the pack did not finish (run it again to resume)")
    try:
        index = json.loads(path.read_text())
        ok = index.get("format") == INDEX_FORMAT and isinstance(index.get("shards"), list) \
            and isinstance(index.get("members"), list)
    except (ValueError, UnicodeDecodeError, AttributeError):
        ok = False
    if not ok:
        raise FormatError(f"{path}: not an lvc shard index (damaged?)")
    if index.get("version", 0) > INDEX_VERSION:
        raise FormatError(f"{path}: index version {index['version']}; this lvc reads up to "
                          f"{INDEX_VERSION}: upgrade lvc")
    return index


def shard_paths(source) -> tuple:
    """``(folder, [shard paths])`` of a shard folder, a glob or a list of shard paths
    (one folder: the index sits beside the shards)."""
    import glob as globlib

    if isinstance(source, (str, Path)) and Path(source).is_dir():
        folder = Path(source)
        return folder, [folder / s["name"] for s in read_index(folder)["shards"]]
    if isinstance(source, (str, Path)):
        paths = sorted(Path(p) for p in globlib.glob(str(source)))
        if not paths:
            raise MissingFileError(f"{source}: no shards match")
    else:
        paths = [Path(p) for p in source]
    if not paths:
        raise BadInputError("no shards given")
    folders = {p.parent for p in paths}
    if len(folders) > 1:
        raise BadInputError("shards from several folders: give one pack's shards "
                            "(each folder has its own index.json)")
    return folders.pop(), paths
