"""The ``codec`` command line: parse options, call the lvc library, print.

Every user error is an ``LVCError`` (or an ``OSError`` such as permission denied);
the group turns it into one ``error: ...`` line on stderr and the error's exit
code, so no user error ever shows a traceback. Codec modules (and torch) are only
imported when a command actually encodes or decodes.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import click

from .. import __version__, api
from ..codecs.base import check_quality
from ..codecs.registry import DEFAULT_CODEC, codec_info, get_codec
from ..errors import (
    OUT_OF_MEMORY,
    out_of_memory,
    BadInputError,
    ChecksumError,
    FormatError,
    LVCError,
    MissingFileError,
    ModelMismatchError,
    OutputExistsError,
    UnknownCodecError,
    cli_message,
    describe,
)
from ..formats.container import read_header
from ..formats.io import MEDIA_SUFFIXES
from . import batch, report

EXIT_CODES = (
    (0, "success"),
    (LVCError.exit_code, "other error (I/O error, permission denied, ...)"),
    (BadInputError.exit_code, "usage error or bad option value (e.g. quality out of range)"),
    (MissingFileError.exit_code, "input file missing, or not a supported image/audio file"),
    (OutputExistsError.exit_code, "output exists (use --force to replace it)"),
    (FormatError.exit_code, "not an .lvc file, truncated, corrupt, or newer format version"),
    (UnknownCodecError.exit_code, "unknown codec, or codec unavailable here"),
    (ModelMismatchError.exit_code, "file was encoded with other weights than those installed"),
)
"""Exit codes documented in ``codec --help``; built from ``lvc.errors`` so they agree."""

def _epilog() -> str:
    # "\b" stops Click from re-wrapping the table
    return "\b\nExit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES)


def _fail(message: str, code: int):
    click.echo(f"error: {cli_message(message)}", err=True)
    click.get_current_context().exit(code)


class _Group(click.Group):
    """A click group that reports user errors as one line plus their exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LVCError as e:
            _fail(str(e), e.exit_code)
        except OSError as e:
            if isinstance(e, BrokenPipeError):  # Click handles a closed pipe itself
                raise
            _fail(describe(e), 1)
        except (MemoryError, RuntimeError) as e:
            if not out_of_memory(e):
                raise
            _fail(OUT_OF_MEMORY, 1)


@click.group(cls=_Group, epilog=_epilog(),
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="codec")
@click.option("--threads", type=click.IntRange(min=1), metavar="N",
              help="Intra-op threads per process (default: the cores available, divided "
                   "among --workers; env LVC_THREADS, 'torch' for torch's own default).")
def cli(threads):
    """Encode, decode and inspect .lvc files (learned and classical codecs).

    Start with `codec demo`, which runs the whole job on a built-in sample
    image, then `codec list` to see the codecs that can run here.
    """
    import os
    import sys
    import warnings

    from .. import threads as policy
    from ..formats.files import remove_partial_on_sigterm

    if threads is not None:
        os.environ[policy.ENV] = str(threads)  # worker processes inherit it
    policy.setting()  # a bad LVC_THREADS is one line here, not later in a worker

    remove_partial_on_sigterm()  # a killed run leaves no partial output file
    if not sys.warnoptions:  # libraries' notices are not for CLI users (-W / PYTHONWARNINGS
        warnings.simplefilter("ignore")  # still turn them on); lvc reports with echo
        os.environ["PYTHONWARNINGS"] = "ignore"  # worker processes start with it too


def _batch_options(fn):
    """Options shared by encode and decode (declared once so their help agrees)."""
    for option in reversed((
        click.option("-o", "--output", metavar="OUT",
                     help="Output file when IN is one file; otherwise an output directory "
                          "(created if needed). Default: next to each input."),
        click.option("-f", "--force", is_flag=True,
                     help="Replace existing outputs (never done without it)."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print a JSON list of per-file results on stdout."),
        click.option("-j", "--workers", type=click.IntRange(min=1), default=1, metavar="N",
                     help="Worker processes for several files (default: 1)."),
        click.option("--scheduler", metavar="ADDR",
                     help="Run on Dask: 'local[:N]' starts a local cluster, tcp://host:port "
                          "uses a running scheduler (needs lvc[dist])."),
        click.option("--quiet", is_flag=True,
                     help="No progress display and no per-file lines; errors are still "
                          "printed (progress shows only when stderr is a terminal)."),
    )):
        fn = option(fn)
    return click.argument("inputs", nargs=-1, required=True, metavar="IN...")(fn)


def _report(jobs, fn, options, workers, as_json, label, scheduler=None, quiet=False):
    """Run the jobs, print one line per file (or JSON), exit with the first failure's code.
    Progress (files, and the codec's own steps) on a terminal's stderr unless quiet."""
    from ..progress import reporting
    from .progress_ui import TerminalProgress

    rows, first_failure = [], 0
    with TerminalProgress(len(jobs), label, enabled=False if quiet else None) as ui, \
            reporting(ui if ui.enabled else None):
        for row, code in batch.run_jobs(fn, jobs, options, workers, scheduler):
            rows.append(row)
            ui.file_done()  # the bar redrawn under the line counts this file
            if row["error"]:
                ui.echo(f"error: {row['error']}", err=True)
                first_failure = first_failure or code
            elif not (as_json or quiet):
                ui.echo(report.result_line(row))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    if first_failure:
        click.get_current_context().exit(first_failure)


@cli.command(epilog="""\b
Examples:
  codec encode photo.png                      # -> photo.lvc (default codec)
  codec encode photo.png -o small.lvc -c jpeg -q 60
  codec encode shots/ 'more/*.png' -o encoded/ --workers 4
  codec encode song.wav -c flac --json
  codec encode speech.wav -c opus --set bitrate=16   # 16 kbit/s
  codec encode brain.nii.gz                   # -> brain.lvc; decodes to brain.nii.gz
  codec encode cube.npy -q 5                  # H x W x bands -> liveaction-hsi
  codec encode digits/ -o digits.lvc -c pc-hclt   # one archive (codecs that pack sets)
""")
@click.option("-c", "--codec", metavar="ID",
              help=f"Codec id from `codec list` (default: {DEFAULT_CODEC['image']} for images, "
                   f"{DEFAULT_CODEC['audio']} for audio, liveaction-audio4 for 4-channel "
                   f"audio, {DEFAULT_CODEC['volume']} for NIfTI volumes, "
                   f"{DEFAULT_CODEC['hyperspectral']} for H x W x bands .npy cubes). Name a "
                   "volume codec to read an X x Y x Z .npy as a volume.")
@click.option("-q", "--quality", type=int, metavar="Q",
              help="Quality in the codec's range, higher is better (default: the codec's).")
@click.option("--refine", type=click.IntRange(min=0), default=0, metavar="N",
              help="Refine each image's latent for N iterations before coding (MLICv2+ "
                   "SGA; slower encoding, same decoder). Only for codecs that support it.")
@click.option("--max-error", type=float, metavar="N",
              help="Near-lossless: every decoded sample within N of the original (integer "
                   "samples: an integer N, 0 = lossless; floats: an absolute tolerance). "
                   "Without -q the lossy base quality giving the smallest file is chosen.")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="A codec option (repeatable): --set bitrate=16 asks opus, vorbis or "
                   "mp3 for 16 kbit/s (whole file, all channels; overrides -q); --set "
                   "realism=0.5 sets dualdiff's distortion-perception trade-off (0: the "
                   "explicit reconstruction, 1: the generated image).")
@_batch_options
def encode(inputs, output, force, as_json, workers, scheduler, quiet, codec, quality, refine,
           max_error, settings):
    """Encode image, audio, volume or hyperspectral files into .lvc files.

    IN may be files, directories (their media files, not recursive, hidden
    files skipped) and glob patterns. Prints per file: input -> output, codec,
    quality, bytes and the rate: bits per pixel (whole file / H*W) for images,
    kbit/s for audio, bits per sample for volumes and cubes. A failed file is
    reported and the others continue.

    Archives: with a codec that packs image sets (e.g. pc-hclt), a directory,
    several files or a glob, and an OUT ending in .lvc, all images go into ONE
    .lvc file (same-size grayscale images with distinct file names; any bad
    input fails the whole archive). `codec decode` restores each file by name.
    """
    options = parse_settings(settings)
    if codec:  # one clear error up front instead of one per file
        check_quality(codec_info(codec), quality)  # the registry: no model loaded yet
        if refine and not get_codec(codec).refinable:
            raise BadInputError(f"{codec} has no encode-time refinement (--refine)")
        unknown = sorted(set(options) - set(get_codec(codec).options if options else ()))
        if unknown:
            raise BadInputError(f"{codec} has no option {unknown[0]!r} "
                                f"(its options: {', '.join(get_codec(codec).options) or 'none'})")
    elif options:
        raise BadInputError("--set needs a codec (-c ID)")
    items, is_batch = batch.expand(inputs, MEDIA_SUFFIXES, "media")
    if is_batch and codec and str(output or "").lower().endswith(".lvc") \
            and codec_info(codec).archives:
        row = batch.encode_archive(items, Path(output), codec, quality, force, " ".join(inputs),
                                   quiet)
        if as_json or not quiet:
            click.echo(json.dumps([row], indent=2) if as_json else report.result_line(row))
        return
    jobs = batch.plan(items, is_batch, output, ".lvc")
    if max_error is not None and max_error == int(max_error):
        max_error = int(max_error)
    _report(jobs, batch.encode_file, {"codec": codec, "quality": quality, "force": force,
                                      "refine": refine, "options": options,
                                      "max_error": max_error},
            workers, as_json, "encoding", scheduler, quiet)


def parse_settings(settings) -> dict:
    """``["realism=0.5"]`` -> {"realism": 0.5} (numbers become floats)."""
    out = {}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise BadInputError(f"--set takes NAME=VALUE, not {item!r}")
        try:
            out[name] = float(value)
        except ValueError:
            out[name] = value
    return out


@cli.command(epilog="""\b
Examples:
  codec decode photo.lvc                      # -> photo.png
  codec decode photo.lvc -o photo.npy         # format from the suffix
  codec decode encoded/ -o decoded/
  codec decode photo.lvc --device cuda        # LiVeAction synthesis on the GPU
""")
@click.option("--device", metavar="DEV",
              help="Run the LiVeAction family's synthesis network on DEV (cuda, cuda:N); "
                   "their latents are integer-decoded, so only the float reconstruction "
                   "can differ from the CPU's. Codecs whose entropy model is a float "
                   "network refuse it; codecs without networks ignore it.")
@_batch_options
def decode(inputs, output, force, as_json, workers, scheduler, quiet, device):
    """Decode .lvc files back to image, audio, volume or cube files.

    The output format follows OUT's suffix (.png, .wav, .flac, .npy,
    .nii.gz, ...); by default it is <stem>.png for images, <stem>.wav for
    audio, <stem>.nii.gz for volumes read from NIfTI and <stem>.npy for other
    arrays. A suffix that cannot hold the file's media is refused before
    decoding. Directories and globs work as for `codec encode`.

    An image-set archive decodes into a directory (OUT, or <stem>/ next to
    it; several inputs: OUT/<stem>/), one file per image under its stored
    name (PNG unless the name has another image suffix; unnamed sets:
    00000.png, 00001.png, ...). Nothing is written if any file exists
    (without --force) or any image fails.
    """
    items, is_batch = batch.expand(inputs, {".lvc"}, ".lvc")
    jobs = batch.plan(items, is_batch, output, None)
    api.parse_device(device)  # a bad name: one error, before any file
    _report(jobs, batch.decode_file, {"force": force, "device": device}, workers, as_json,
            "decoding", scheduler, quiet)


@cli.command()
@click.argument("file", metavar="FILE.lvc")
@click.option("--json", "as_json", is_flag=True, help="Print the fields as a JSON object.")
def info(file, as_json):
    """Show the header and streams of FILE.lvc without decoding it.

    Prints format version, codec, media shape and dtype, quality, sample rate,
    weights fingerprint, metadata, each stream's size and CRC-32 (checked), and
    the rate from the file size. Works even when the codec is not installed.
    """
    path = Path(file)
    if not path.is_file():
        raise MissingFileError(f"{path}: no such file")
    data = path.read_bytes()
    fields = report.info_dict(path, data, read_header(data))
    click.echo(json.dumps(fields, indent=2) if as_json else "\n".join(report.info_lines(fields)))
    bad = [s["index"] for s in fields["streams"] if not s["ok"]]
    if bad:
        raise ChecksumError(f"{path}: stream {bad[0]} checksum mismatch: the file is corrupt")


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of codecs.")
@click.option("--available", is_flag=True, help="Only codecs that can run here.")
def list_codecs(as_json, available):
    """List the registered codecs and whether each can run here.

    Quality ranges are inclusive; higher is better. Nothing heavy is imported:
    listing never loads torch or model weights.
    """
    rows = api.list_codecs(available_only=available)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    report.print_codec_table(rows)


@cli.command()
@click.option("--out", "out_dir", default="lvc-demo", show_default=True, metavar="DIR",
              help="Directory for sample.png, sample.lvc and sample.decoded.png.")
@click.option("-c", "--codec", metavar="ID",
              help=f"Image codec (default: {DEFAULT_CODEC['image']}).")
@click.option("-q", "--quality", type=int, metavar="Q", help="Quality (default: the codec's).")
def demo(out_dir, codec, quality):
    """Run the main job on a built-in sample image and report the result.

    Writes a procedural 512x384 photo-like image to DIR/sample.png, encodes it
    to DIR/sample.lvc, decodes it to DIR/sample.decoded.png, and prints size,
    bits per pixel, PSNR and timings, plus the equivalent `codec` commands.
    Re-running replaces these three files (and nothing else).
    """
    from .demo import run_demo

    r = run_demo(out_dir, codec, quality)
    p = {k: shlex.quote(v) for k, v in r["paths"].items()}
    quality_db = "inf dB (lossless)" if r["psnr"] == float("inf") else f"{r['psnr']:.2f} dB"
    click.echo("\n".join([
        f"sample   {p['original']}  {report.media_text('image', (r['height'], r['width'], 3))}, "
        f"{r['png_bytes']:,} bytes as PNG",
        f"encoded  {p['encoded']}  {r['codec']} q{r['quality']}, {r['bytes']:,} bytes, "
        f"{r['bpp']:.3f} bpp ({r['png_bytes'] / r['bytes']:.1f}x smaller than PNG)",
        f"decoded  {p['decoded']}  PSNR {quality_db}",
        f"time     encode {1000 * r['encode_s']:.1f} ms, decode {1000 * r['decode_s']:.1f} ms",
        "",
        "The same with the CLI:",
        f"  codec encode {p['original']} -o {p['encoded']} --codec {r['codec']} "
        f"--quality {r['quality']} --force",
        f"  codec decode {p['encoded']} -o {p['decoded']} --force",
        f"  codec info {p['encoded']}",
    ]))


from .eval_cmd import eval_group  # noqa: E402  (subcommand modules import this one's group)

cli.add_command(eval_group)

from .bench_cmd import bench  # noqa: E402

cli.add_command(bench)

from .iscs_cmd import iscs_group  # noqa: E402
from .pack_cmd import pack, unpack  # noqa: E402

cli.add_command(pack)
cli.add_command(unpack)

cli.add_command(iscs_group)


def main(argv=None):
    """Console-script entry point (``codec``) and ``python -m lvc``.

    A command-line call that loaded torch ends with ``os._exit`` once its output is
    flushed: the interpreter's teardown of torch's modules took 0.35-0.5 s and raised
    the peak memory by 128 MiB (``python -c "import torch"``: 1.66 s, 652 MB against
    1.24-1.35 s, 524 MB with ``os._exit``), and every file a command writes is closed
    (and renamed into place) before it returns. Calls with ``argv`` (tests, other
    programs) exit normally."""
    try:
        cli.main(args=argv, prog_name="codec")
    except SystemExit as done:
        code = done.code
        if argv is None and "torch" in sys.modules and (code is None or isinstance(code, int)):
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):  # a closed pipe: nothing more can be said
                    pass
            os._exit(code or 0)
        raise
