"""``codec pack`` / ``codec unpack``: a folder tree of media files to ``.lvc`` shards and back.

Packing encodes every media file under ``src`` (recursive, sorted by relative path,
hidden files skipped) with one codec and quality, in worker processes or on a Dask
cluster (``lvc.eval.parallel``, as ``codec eval rd``): workers read and encode, this
process writes the shards in source order, so the shards and the index are the same
whatever ran the encoding. Resumable: a shard on disk is always complete (written
under a temporary name, then renamed), so a second run reads the finished shards,
checks they hold the first sources with the same codec and quality, and encodes only
the rest.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadInputError, FormatError, LVCError, MissingFileError, describe
from ..formats.container import read_header
from ..formats.files import file_sha256
from .labels import class_index, folder_label, lookup, read_labels
from .shards import SHARD_NAME, ShardWriter, member_key, new_index, read_shard, shard_paths, \
    write_index

DEFAULT_SHARD_SIZE = "256MB"


@dataclass
class Source:
    path: str  # absolute: a Dask worker opens it
    name: str  # relative to the root, posix
    key: str
    label: str | None


@dataclass
class PackReport:
    """What a pack run did (``codec pack`` prints it)."""

    index: dict
    reused_shards: int = 0
    written_shards: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (name, message) of bad sources (--skip-bad)
    seconds: float = 0.0


def find_sources(src, labels=None) -> list:
    """Every media file under ``src``, sorted, with its key and label (``labels``: a
    ``name,label`` CSV; otherwise the first sub-folder, ImageFolder's rule)."""
    from ..formats.io import MEDIA_SUFFIXES, media_suffix

    root = Path(src)
    if not root.is_dir():
        raise MissingFileError(f"{root}: not a folder")
    files = sorted(
        (p.relative_to(root).as_posix(), p) for p in root.rglob("*")
        if p.is_file() and media_suffix(p) in MEDIA_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise MissingFileError(f"{root}: no media files in this folder tree")
    table = read_labels(labels) if labels else None
    sources, keys = [], {}
    for name, path in files:
        if table is not None:
            label = lookup(table, name, media_suffix(name))
            if label is None:
                raise BadInputError(f"{name} has no label in {labels}")
        else:
            label = folder_label(name)
        key = member_key(name)
        if key in keys:
            raise BadInputError(f"{keys[key]} and {name} would both be member {key} "
                                "(names differing only in suffix or dots)")
        keys[key] = name
        sources.append(Source(str(path.resolve()), name, key, label))
    return sources


def encode_source(item: tuple) -> tuple:
    """Worker job: ``("ok", lvc bytes, source sha256)`` or ``("error", message, code)``."""
    path, name, codec, quality = item
    import lvc

    try:
        data = Path(path).read_bytes()
        return "ok", lvc.encode(path, codec, quality), hashlib.sha256(data).hexdigest()
    except (LVCError, OSError) as e:
        return "error", describe(e, name), getattr(e, "exit_code", 1)


def _member_entry(key: str, meta: dict, data: bytes, shard: str) -> dict:
    header = read_header(data)
    return {"key": key, "name": meta["name"], "shard": shard, "codec": header.codec,
            "quality": header.quality, "bytes": len(data), "shape": list(header.shape),
            "label": meta.get("label"), "source_sha256": meta.get("source_sha256")}


def _finished(out: Path) -> list:
    """The complete shards already in ``out``: shard-00000.tar, shard-00001.tar, ...
    up to the first gap."""
    shards, n = [], 0
    while (out / SHARD_NAME.format(n)).is_file():
        shards.append(out / SHARD_NAME.format(n))
        n += 1
    return shards


def _resume(out: Path, sources: list, codec: str, quality: int, index: dict) -> set:
    """Read the finished shards into ``index``; returns the names they hold. They must
    hold sources of this tree, in order, with this codec and quality."""
    expected = iter(sources)
    done = set()
    for path in _finished(out):
        count = 0
        for key, files in read_shard(path):
            if "lvc" not in files or "json" not in files:
                raise FormatError(f"{path}: member {key} has no .lvc or .json")
            meta = json.loads(files["json"])
            entry = _member_entry(key, meta, files["lvc"], path.name)
            if (entry["codec"], entry["quality"]) != (codec, quality):
                raise BadInputError(f"{out} holds {entry['codec']} q{entry['quality']} shards; "
                                    f"this pack is {codec} q{quality}: use another folder")
            source = next((s for s in expected if s.name == meta["name"]), None)
            if source is None:
                raise BadInputError(f"{path}: member {meta['name']} is not (or no longer) in "
                                    "the source tree in this order: use another folder")
            index["members"].append(entry)
            done.add(source.name)
            count += 1
        index["shards"].append({"name": path.name, "members": count,
                                "bytes": path.stat().st_size, "sha256": file_sha256(path)})
    return done


def pack(src, out, codec: str, quality: int | None = None, shard_size=DEFAULT_SHARD_SIZE,
         labels=None, workers: int = 1, scheduler: str | None = None,
         skip_bad: bool = False, on_shard=None) -> PackReport:
    """Encode the media files under ``src`` into shards plus ``index.json`` in ``out``.

    ``shard_size``: bytes or a size such as ``"256MB"``; ``labels``: a CSV of
    ``name,label`` (default: sub-folder names); ``skip_bad``: leave out sources that
    fail to read or encode (listed in the report) instead of stopping.
    """
    from ..codecs.registry import get_codec
    from ..eval.parallel import map_ordered, progress
    from .shards import parse_size

    start = time.perf_counter()
    max_bytes = shard_size if isinstance(shard_size, int) else parse_size(shard_size)
    quality = get_codec(codec).check_quality(quality)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInputError(f"-o {out}: shards go into a folder, not a file")
    sources = find_sources(src, labels)
    classes, class_of = class_index(s.label for s in sources)
    index = new_index(codec, quality, classes)
    done = _resume(out, sources, codec, quality, index)
    report = PackReport(index, reused_shards=len(index["shards"]))
    todo = [s for s in sources if s.name not in done]

    def shard_done(name, members, size, digest):
        index["shards"].append({"name": name, "members": members, "bytes": size,
                                "sha256": digest})
        report.written_shards.append(name)
        if on_shard is not None:
            on_shard(index["shards"][-1])

    out.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(out, max_bytes, first=len(index["shards"]), on_shard=shard_done)
    items = [(s.path, s.name, codec, quality) for s in todo]
    try:
        with progress(len(items), "packing") as advance:
            for source, result in zip(todo, map_ordered(encode_source, items, workers,
                                                        scheduler)):
                advance()
                if result[0] == "error":
                    if not skip_bad:
                        raise _SourceError(result[1], result[2])
                    report.skipped.append((source.name, result[1]))
                    continue
                _, data, digest = result
                meta = {"name": source.name, "label": source.label, "source_sha256": digest}
                files = {"json": json.dumps(meta, sort_keys=True).encode()}
                if source.label is not None:
                    files["cls"] = str(class_of[source.label]).encode()
                files["lvc"] = data  # last: a truncated shard's last sample with it is whole
                shard = writer.add(source.key, files)
                index["members"].append(_member_entry(source.key, meta, data, shard))
        writer.close()
    except BaseException:
        writer.abort()  # finished shards stay: a rerun resumes after them
        raise
    write_index(out, index)
    report.seconds = time.perf_counter() - start
    return report


class _SourceError(LVCError):
    """A failed source or member (its message names it), with its error's exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.exit_code = code

    def __reduce__(self):  # raised in a worker process, re-raised here
        return type(self), (str(self), self.exit_code)


# ---------------------------------------------------------------- unpack
def unpack_shard(item: tuple) -> list:
    """Worker job: write one shard's members under ``out``; one row per member
    (``name``, ``path`` or ``error``). A truncated shard adds an error row and stops."""
    path, out, as_lvc, force, skip_bad = item
    import lvc
    from ..formats.files import write_bytes_atomic
    from ..formats.io import default_suffix, media_stem

    rows = []
    try:
        for key, files in read_shard(path):
            meta = json.loads(files.get("json", b"{}") or b"{}")
            name = meta.get("name") or key
            try:
                if "lvc" not in files:
                    raise FormatError("no .lvc in the shard")
                stem = Path(name).parent / media_stem(name)
                _check_inside(stem)
                if as_lvc:
                    dst = Path(out) / stem.with_name(stem.name + ".lvc")
                    write_bytes_atomic(dst, files["lvc"], force)
                else:
                    media = lvc.decode_media(files["lvc"])
                    dst = Path(out) / stem.with_name(
                        stem.name + default_suffix(media.modality, media.metadata))
                    lvc.write(dst, media, overwrite=force)
                rows.append({"name": name, "path": str(dst), "error": None})
            except (LVCError, OSError, ValueError) as e:
                message = f"{path}: member {key}.lvc: {describe(e)}"
                if not skip_bad:
                    raise _SourceError(message, getattr(e, "exit_code", 1)) from None
                rows.append({"name": name, "path": None, "error": message})
    except FormatError as e:
        if not skip_bad:
            raise
        rows.append({"name": Path(path).name, "path": None, "error": str(e)})
    return rows


def _check_inside(relative: Path) -> None:
    """A member name from a shard never writes outside the output folder."""
    if relative.is_absolute() or ".." in relative.parts:
        raise FormatError(f"member name {relative} points outside the output folder")


def unpack(shards, out, as_lvc: bool = False, force: bool = False, workers: int = 1,
           skip_bad: bool = False) -> list:
    """Restore every member of a shard folder (or the listed shards) under ``out``:
    decoded, named ``<original name without suffix>.<png|wav|npy|nii.gz>``, or the
    ``.lvc`` files themselves (``as_lvc``). Returns one row per member."""
    from ..eval.parallel import map_ordered

    _, paths = shard_paths(shards)
    jobs = [(str(p), str(out), as_lvc, force, skip_bad) for p in paths]
    rows = []
    for shard_rows in map_ordered(unpack_shard, jobs, workers):
        rows.extend(shard_rows)
    return rows
