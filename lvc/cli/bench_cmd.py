"""``codec bench``: encode/decode speed, bpp and peak memory of several codecs in one run."""

from __future__ import annotations

import json
import re

import click

from ..errors import BadInputError

DEFAULT_SIZE = "768x512"  # Kodak's size


def _codec_spec(spec: str, quality: int | None) -> tuple:
    """``NAME[:Q]`` -> ``(name, quality)``; ``--quality`` where no ``:Q`` is given."""
    name, sep, q = spec.rpartition(":")
    if not sep:
        return spec, quality
    if not re.fullmatch(r"-?\d+", q):
        raise BadInputError(f"--codec {spec}: the quality after ':' must be an integer")
    return name, int(q)


def _size(text: str) -> tuple:
    m = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not m or 0 in (int(m[1]), int(m[2])):
        raise BadInputError(f"--size {text}: expected WIDTHxHEIGHT, e.g. {DEFAULT_SIZE}")
    return int(m[1]), int(m[2])


@click.command(epilog="""\b
Examples:
  codec bench -c jpeg -c webp -c avif -c jpegxl         # default qualities, 768x512
  codec bench -c jpeg:50 -c webp:50 --dataset kodak/ --images 8
  codec bench -c jpeg -c webp --size 96x64 --repeat 2 --json
""")
@click.option("-c", "--codec", "codecs", multiple=True, required=True, metavar="ID[:Q]",
              help="Image codec to measure, optionally with its quality; repeat the option "
                   "for several codecs. The first is the baseline of the ratio columns.")
@click.option("-q", "--quality", type=int, metavar="Q",
              help="Quality for codecs given without ':Q' (default: each codec's own).")
@click.option("--dataset", metavar="DIR",
              help="Measure on the first --images images in DIR (sorted by name).")
@click.option("--size", metavar="WxH",
              help=f"Measure on synthetic photo-like images of this size "
                   f"(the default, at {DEFAULT_SIZE}, unless --dataset is given).")
@click.option("--images", "count", type=click.IntRange(min=1), default=4, show_default=True,
              metavar="K", help="Number of images (from DIR, or synthetic).")
@click.option("--repeat", type=click.IntRange(min=1), default=5, show_default=True,
              metavar="N", help="Timed runs per codec after one untimed warm-up.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as a JSON list.")
def bench(codecs, quality, dataset, size, count, repeat, as_json):
    """Measure encode/decode speed, bpp and peak memory of image codecs.

    All codecs run on the same images in one run, so the ratio columns
    ("x baseline", against the first --codec) compare like with like. Per
    codec: one untimed warm-up encode+decode per image, then N timed runs;
    MP/s is the median over runs of total pixels / total time, through
    lvc.encode / lvc.decode (container included); bpp counts the whole .lvc
    file. Each codec runs in a fresh process: "peak RSS" is that process's
    high-water mark, "+ over idle" its increase over the RSS right after
    loading lvc and the images (so it includes importing the codec).

    Only image codecs are measured for now; audio codecs are refused.
    """
    from ..eval import bench as lib

    specs = [_codec_spec(spec, quality) for spec in codecs]
    for name, q in specs:  # every bad codec or quality fails before loading any image
        lib.resolve(name, q)
    if dataset is not None and size is not None:
        raise BadInputError("use either --dataset or --size, not both")
    if dataset is not None:
        images = lib.load_images(dataset, count)
    else:
        images = lib.synthetic_images(*_size(size or DEFAULT_SIZE), count)
    rows = lib.bench(specs, images, repeat)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    lib.print_table(rows, images, repeat)
