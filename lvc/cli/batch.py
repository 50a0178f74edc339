"""Batch plumbing shared by ``codec encode`` and ``codec decode``.

Inputs (files, directories, globs) become ``Job``s with a planned output path; a
job runs as a plain top-level function so it can go to a worker process, and turns
user errors into an error row plus exit code, so one bad file never stops a batch.
``encode_archive`` is the other path: many images packed into one image-set file.
"""

from __future__ import annotations

import functools
import glob
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .. import api
from ..codecs.base import check_modality
from ..codecs.registry import codec_info
from ..errors import BadInputError, LVCError, MissingFileError, UnsupportedMediaError, \
    cli_message, describe
from ..formats.container import read_header
from ..formats.io import media_stem, media_suffix
from ..formats.files import check_writable, same_file, write_bytes_atomic
from ..formats.media import as_image_set
from . import report

_GLOB_CHARS = frozenset("*?[")


@dataclass
class Job:
    src: Path
    dst: Path
    auto_suffix: bool = False  # decode: append default_suffix(modality) to dst
    error: LVCError | None = None  # found while planning (no match, name clash)
    output: Path | None = None  # -o as given for a single input (an image set unpacks into it)


def _listing(folder: Path, suffixes) -> list:
    return sorted(f for f in folder.iterdir()
                  if f.is_file() and not f.name.startswith(".") and media_suffix(f) in suffixes)


def expand(args, suffixes, kind: str) -> tuple:
    """``(items, batch)``: items are ``(path, error-or-None)``; directories contribute
    their non-hidden files with one of ``suffixes``; patterns the shell left unexpanded
    are globbed here. ``batch`` says outputs go to a directory."""
    items, batch = {}, len(args) > 1
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            batch = True
            files = _listing(path, suffixes)
            if not files:
                items[path] = MissingFileError(f"{path}: no {kind} files in this directory")
        elif path.exists() or not _GLOB_CHARS & set(arg):
            files = [path]  # a missing plain path fails in its job, with its own name
        else:
            batch = True
            files = sorted(Path(m) for m in glob.glob(arg) if Path(m).is_file())
            if not files:
                items[path] = MissingFileError(f"{arg}: no files match")
        for f in files:
            items.setdefault(f, None)
    return list(items.items()), batch


def plan(items, batch: bool, output, suffix: str | None) -> list:
    """Pick each output path. One input: ``output`` is the file (an existing directory
    or a trailing slash means "into it"). Several inputs: ``output`` is a directory and
    each output is ``<stem><suffix>``. No ``output``: next to each input. ``suffix``
    None means "decided by the decoded modality"."""
    out = Path(output) if output is not None else None
    into_dir = batch or (out is not None and (out.is_dir() or str(output).endswith(("/", os.sep))))
    if into_dir and out is not None and out.exists() and not out.is_dir():
        raise BadInputError(f"-o {out}: several inputs need an output directory, not a file")
    jobs, taken = [], {}
    for src, error in items:
        if into_dir or out is None:
            dst = (out if out is not None else src.parent) / (media_stem(src) + (suffix or ""))
        else:
            dst = out
        auto = suffix is None and (into_dir or out is None)
        if error is None and dst in taken:
            error = BadInputError(f"{src} and {taken[dst]} would both be written to "
                                  f"{dst}{'.*' if auto else ''}")
        taken.setdefault(dst, src)
        jobs.append(Job(src, dst, auto, error, None if batch else out))
    return jobs


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")


def _not_the_input(src: Path, dst: Path) -> None:
    """Encoding never writes over its own input, whatever the spelling, even with --force."""
    if same_file(src, dst):
        raise BadInputError(f"{dst} is the input file itself: choose another output")


def encode_file(job: Job, codec=None, quality=None, force=False, refine=0, options=None,
                max_error=None) -> dict:
    """Encode one media file to ``job.dst``; fail early when the output exists."""
    _require_file(job.src)
    _not_the_input(job.src, job.dst)
    check_writable(job.dst, force)
    info = codec_info(codec) if codec else None
    media = api.to_media(job.src, codec=info)
    if info is not None:  # refuse the wrong media before the codec loads its model
        check_modality(info, media.modality)
    start = time.perf_counter()
    data = api.encode(media, codec, quality, refine=refine, options=options, max_error=max_error)
    seconds = time.perf_counter() - start
    write_bytes_atomic(job.dst, data, force)
    row = report.result_row(job.src, job.dst, read_header(data), len(data))
    return {**row, "refine": refine, "encode_s": round(seconds, 3)} if refine else row


def encode_archive(items, dst: Path, codec: str, quality=None, force=False,
                   label: str = "", quiet: bool = False) -> dict:
    """Pack every listed image into ONE image-set ``.lvc`` (for a codec with
    ``archives``); each image keeps its file name. Gray images of one size only."""
    from ..eval.parallel import progress
    from ..formats.io import read_media

    for src, error in items:  # an empty directory, a glob without matches
        if error is not None:
            raise error
    for src, _ in items:
        _not_the_input(src, dst)
    check_writable(dst, force)  # fail before reading anything
    names, seen = [src.name for src, _ in items], {}
    for src, _ in items:
        if seen.setdefault(src.name, src) != src:
            raise BadInputError(f"{seen[src.name]} and {src} are both named {src.name}: "
                                "names in an archive must be unique")
    images = []
    with progress(len(items), "reading", False if quiet else None) as advance:
        for src, _ in items:
            media = read_media(src)
            if media.modality != "image":
                raise UnsupportedMediaError(f"{src}: an archive holds images, not {media.modality}")
            if media.data.ndim != 2:
                raise UnsupportedMediaError(f"{src}: an archive holds grayscale images; this one "
                                            f"has {media.data.shape[2]} channels")
            images.append(media.data)
            advance()
    data = api.encode(as_image_set(images, names, label), codec, quality)
    write_bytes_atomic(dst, data, force)
    return report.result_row(label, dst, read_header(data), len(data))


def decode_file(job: Job, force=False, device=None) -> dict:
    """Decode one ``.lvc`` file; the header (read first) picks the default suffix. An
    image set unpacks into a directory: ``-o`` for a single input, else ``<stem>/``."""
    _require_file(job.src)
    data = job.src.read_bytes()
    header = read_header(data)
    if header.modality == "images":
        from ..formats.io import write_image_set

        folder = job.output or job.dst  # job.dst is <stem> before a suffix is added
        write_image_set(folder, api.decode_media(data, device=device), overwrite=force)
        return report.result_row(job.src, folder, header, len(data))
    dst = job.dst
    if job.auto_suffix:
        from ..formats.io import default_suffix

        dst = dst.with_name(dst.name + default_suffix(header.modality, header.metadata))
    if dst.suffix.lower() == ".lvc":  # api.write would silently re-encode
        raise BadInputError(f"{dst}: decode writes media files (.png, .wav, .npy, ...), not .lvc")
    from ..formats.io import check_output_suffix

    check_output_suffix(dst, header.modality)  # before a decode that may take minutes
    check_writable(dst, force)
    api.write(dst, api.decode_media(data, device=device), overwrite=force)
    return report.result_row(job.src, dst, header, len(data))


def run_one(fn, job: Job, options: dict) -> tuple:
    """``(row, exit_code)``; LVCError and OSError become an error row, bugs propagate."""
    try:
        if job.error is not None:
            raise job.error
        return fn(job, **options), 0
    except (LVCError, OSError) as e:
        if isinstance(e, BrokenPipeError):
            raise
        row = report.error_row(job.src, job.dst, cli_message(describe(e, job.src, job.dst)))
        return row, getattr(e, "exit_code", 1)


def run_jobs(fn, jobs: list, options: dict, workers: int = 1, scheduler: str | None = None):
    """Yield ``(row, exit_code)`` per job in input order; a process pool when
    ``workers > 1``, Dask with ``scheduler`` (the caller shows the progress)."""
    from ..eval.parallel import map_ordered

    yield from map_ordered(functools.partial(run_one, fn, options=options), jobs, workers,
                           scheduler)
