"""Codec speed and memory benchmark: encode/decode MP/s, bpp and peak RSS per codec.

``bench([("jpeg", None), ("webp", 50)], images)`` measures every codec on the same
images in one run, so the ratios against the first codec ("x baseline") compare
like with like. Each codec is measured in a fresh Python process
(``python -m lvc.eval.bench --worker JOB.json``) so its peak memory is its own:

- idle RSS: the worker's resident memory after importing lvc and loading the
  images, before the codec's module (Pillow, torch, weights, ...) is imported;
- peak RSS: the worker's high-water mark at the end. On Linux this is ``VmHWM``
  from ``/proc/self/status``, not ``getrusage(RUSAGE_SELF).ru_maxrss``: the kernel
  carries the *parent's* peak into ``ru_maxrss`` across fork + exec, so a worker
  started by a large process would report the parent's memory, not its own.

Speed: one warm-up encode + decode per image (not timed), then ``repeat`` runs; a
run's rate is total pixels / total time over all images, the reported rate is the
median over runs. Encoding and decoding go through ``lvc.encode`` and
``lvc.decode_media``, container included, and bpp counts the whole ``.lvc`` file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import api
from ..codecs.base import Codec
from ..codecs.registry import all_codecs, codec_info
from ..errors import BadInputError, CodecUnavailableError, LVCError, MissingFileError
from ..formats.media import to_rgb8


def _status_kib(field: str) -> int | None:
    """A ``VmXXX`` field of /proc/self/status in KiB (None where there is no /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _maxrss_kib() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB elsewhere


def rss_now_mib() -> float:
    """This process's resident memory now (its peak so far where /proc is missing)."""
    return (_status_kib("VmRSS") or _maxrss_kib()) / 1024


def rss_peak_mib() -> float:
    """This process's own peak resident memory (see the module docstring)."""
    return (_status_kib("VmHWM") or _maxrss_kib()) / 1024


def as_rgb8(image: np.ndarray) -> np.ndarray:
    """See ``lvc.formats.media.to_rgb8``."""
    return to_rgb8(image)


def load_images(folder, count: int = 4) -> list:
    """The first ``count`` images (sorted by name, hidden files skipped) in ``folder``, RGB."""
    from ..formats.io import read_media

    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: no such directory")
    images = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        if len(images) == count:
            break
        try:
            media = read_media(path)
        except BadInputError:  # not an image (or an .lvc file): not part of the data set
            continue
        if media.modality == "image":
            images.append(as_rgb8(media.data))
    if not images:
        raise MissingFileError(f"{folder}: no image files in this directory")
    return images


def synthetic_images(width: int = 768, height: int = 512, count: int = 1) -> list:
    """``count`` procedural photo-like images (``lvc.samples.sample_image``, seeds 0..)."""
    from ..samples import sample_image

    return [sample_image(width, height, seed=i) for i in range(count)]


def resolve(name: str, quality: int | None) -> dict:
    """Check that an image codec can run here and its quality is valid, without
    importing the codec's module; returns the worker's job (codec, quality, module)."""
    info = codec_info(name)
    reason = info.unavailable_reason()
    if reason:
        raise CodecUnavailableError(f"codec '{name}' is unavailable: {reason}")
    if info.modality != "image":
        raise BadInputError(f"codec bench measures image codecs; {name} codes {info.modality}")
    # CodecInfo carries the fields check_quality reads (id, quality_range, default_quality)
    q = Codec.check_quality(info, quality)
    return {"codec": name, "quality": q, "module": info.target.split(":")[0]}


def bench(codecs: list, images: list, repeat: int = 5) -> list:
    """Benchmark ``codecs`` (``(id, quality or None)`` pairs) on ``images``.

    Returns one dict per codec, in order: codec, quality, images, megapixels, bpp,
    encode_mps, decode_mps, encode_x_baseline, decode_x_baseline (ratios to the
    first codec), idle_rss_mib, peak_rss_mib, rss_increase_mib, repeat.
    """
    if not codecs:
        raise BadInputError("name at least one codec to benchmark")
    if not images:
        raise BadInputError("no images to benchmark on")
    if int(repeat) < 1:
        raise BadInputError(f"repeat must be at least 1, got {repeat}")
    jobs = [resolve(name, quality) for name, quality in codecs]  # all errors before any work
    with tempfile.TemporaryDirectory(prefix="lvc-bench-") as tmp:
        data = Path(tmp) / "images.npz"
        np.savez(data, *[as_rgb8(im) for im in images])
        rows = [_run_worker(dict(job, images=str(data), repeat=int(repeat)), Path(tmp))
                for job in jobs]
    for row in rows:
        for key in ("encode", "decode"):
            row[f"{key}_x_baseline"] = row[f"{key}_mps"] / rows[0][f"{key}_mps"]
    return rows



def print_table(rows: list, images: list, repeat: int) -> None:
    """Print the rows as a rich table (what ``codec bench`` and benchmarks/ show)."""
    from rich.console import Console
    from rich.table import Table

    sizes = sorted({f"{im.shape[1]}x{im.shape[0]}" for im in images})
    dims = sizes[0] if len(sizes) == 1 else f"{len(sizes)} sizes"
    t = Table(title=f"{len(images)} image{'s' * (len(images) != 1)} ({dims}), median of "
                    f"{repeat} runs; ratios against the first codec")
    t.add_column("codec")
    for name in ("quality", "bpp", "enc MP/s", "dec MP/s", "enc x baseline", "dec x baseline",
                 "peak RSS MiB", "+ over idle MiB"):
        t.add_column(name, justify="right")
    for r in rows:
        t.add_row(r["codec"], str(r["quality"]), f"{r['bpp']:.3f}", f"{r['encode_mps']:.2f}",
                  f"{r['decode_mps']:.2f}", f"{r['encode_x_baseline']:.3f}",
                  f"{r['decode_x_baseline']:.3f}", f"{r['peak_rss_mib']:.1f}",
                  f"{r['rss_increase_mib']:.1f}")
    console = Console()
    console.width = max(console.width, 120)  # the full headers fit even when piped
    console.print(t)

def _run_worker(job: dict, tmp: Path) -> dict:
    job_file, out_file = tmp / "job.json", tmp / "result.json"
    out_file.unlink(missing_ok=True)
    job_file.write_text(json.dumps(dict(job, out=str(out_file))))
    # the worker imports the same lvc (and modules of codecs registered at run time) as here
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-m", "lvc.eval.bench", "--worker", str(job_file)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not out_file.is_file():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise LVCError(f"benchmark worker for {job['codec']} failed: {last}")
    result = json.loads(out_file.read_text())
    if "error" in result:
        error = LVCError(result["error"])
        error.exit_code = result["exit_code"]
        raise error
    return result


def measure(codec: str, quality: int, images: list, repeat: int) -> dict:
    """Time ``repeat`` encode and decode runs over ``images`` in this process."""
    pixels = sum(im.shape[0] * im.shape[1] for im in images)
    for im in images:  # warm-up: codec import, weights, caches
        api.decode_media(api.encode(im, codec, quality))
    enc_rates, dec_rates = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        blobs = [api.encode(im, codec, quality) for im in images]
        t1 = time.perf_counter()
        for blob in blobs:
            api.decode_media(blob)
        t2 = time.perf_counter()
        enc_rates.append(pixels / 1e6 / max(t1 - t0, 1e-9))
        dec_rates.append(pixels / 1e6 / max(t2 - t1, 1e-9))
    return {"codec": codec, "quality": quality, "images": len(images),
            "megapixels": pixels / 1e6, "bpp": 8 * sum(map(len, blobs)) / pixels,
            "encode_mps": statistics.median(enc_rates),
            "decode_mps": statistics.median(dec_rates), "repeat": repeat}


def _worker(job_file: str) -> None:
    job = json.loads(Path(job_file).read_text())
    try:
        with np.load(job["images"]) as npz:
            images = [npz[k] for k in npz.files]
        idle = rss_now_mib()
        if job["codec"] not in all_codecs():  # registered at run time: import its module
            if job["module"] == "__main__":
                raise BadInputError(f"codec {job['codec']} is defined in a script; move it into "
                                    "an importable module to benchmark it")
            importlib.import_module(job["module"])
        row = measure(job["codec"], job["quality"], images, job["repeat"])
        peak = rss_peak_mib()
        row.update(idle_rss_mib=idle, peak_rss_mib=peak, rss_increase_mib=peak - idle)
    except LVCError as e:
        row = {"error": str(e), "exit_code": e.exit_code}
    Path(job["out"]).write_text(json.dumps(row))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="lvc benchmark worker (used by lvc.eval.bench)")
    parser.add_argument("--worker", metavar="JOB.json", required=True)
    _worker(parser.parse_args().worker)
