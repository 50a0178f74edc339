"""``codec eval``: rate-distortion sweeps (``rd``) over image folders."""

from __future__ import annotations

import json

import click

from ..codecs.registry import all_codecs, codec_info
from ..errors import BadInputError


def parse_codec_specs(specs) -> dict:
    """``["jpeg", "webp:50,75"]`` -> {id: qualities}; default: every available lossy
    image codec with its default sweep."""
    if not specs:
        return {cid: info.sweep_qualities() for cid, info in sorted(all_codecs().items())
                if info.modality == "image" and not info.lossless and info.available}
    out = {}
    for spec in specs:
        cid, _, qs = spec.partition(":")
        info = codec_info(cid)
        if info.modality != "image":
            raise BadInputError(f"codec eval rd evaluates images; {cid} is an {info.modality} codec")
        if qs:
            try:
                out[cid] = tuple(int(q) for q in qs.split(","))
            except ValueError:
                raise BadInputError(f"bad quality list in {spec!r} (use NAME:q1,q2,...)") from None
            lo, hi = info.quality_range
            bad = [q for q in out[cid] if not lo <= q <= hi]
            if bad:
                raise BadInputError(f"quality {bad[0]} is out of range for {cid} ({lo}..{hi})")
        else:
            out[cid] = info.sweep_qualities()
    return out


@click.group("eval")
def eval_group():
    """Evaluate codecs: rate-distortion curves and BD-rates."""


@eval_group.command("rd", epilog="""\b
Examples:
  codec eval rd --dataset kodak/ --out results/kodak
  codec eval rd --dataset kodak/ -c jpeg -c webp:20,50,80 --anchors ../shared/anchors/kodak \\
                --ref jpeg --out results/kodak --workers 2
  codec eval rd --dataset clic/ --scheduler tcp://10.0.0.5:8786 --out results/clic
""")
@click.option("--dataset", required=True, metavar="DIR", help="Folder of images (any size/format).")
@click.option("-c", "--codec", "codecs", multiple=True, metavar="ID[:Q1,Q2,...]",
              help="Codec and qualities (repeatable). Default: every available lossy image "
                   "codec with its default sweep.")
@click.option("--metric", default="psnr,ms-ssim", show_default=True,
              help="Comma list of psnr, ms-ssim, lpips, dists (the last two only when their "
                   "weights are installed locally).")
@click.option("--ref", default="jpeg", show_default=True,
              help="Reference curve for BD-rates: a measured codec or an anchor name.")
@click.option("--anchors", multiple=True, metavar="DIR_OR_JSON",
              help="Published curves in CompressAI's JSON layout to overlay and compare.")
@click.option("--out", "out_dir", required=True, metavar="DIR", help="Where results go.")
@click.option("-j", "--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--scheduler", metavar="ADDR",
              help="Dask: 'local[:N]' or tcp://host:port (needs lvc[dist]).")
@click.option("--limit", type=click.IntRange(min=1), metavar="K", help="Only the first K images.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def rd(dataset, codecs, metric, ref, anchors, out_dir, workers, scheduler, limit, as_json):
    """Rate-distortion evaluation of codecs on a folder of images.

    Writes to DIR: results.csv (per image; re-running skips what is measured),
    curves/<codec>.json (CompressAI layout: bpp from the whole .lvc file, psnr-rgb,
    ms-ssim-rgb, times), bd-rate.md/json (every codec against --ref and each anchor,
    PSNR and MS-SSIM, cubic and pchip interpolation over the overlapping range),
    rd-psnr-rgb.png / rd-ms-ssim-rgb.png and summary.json. Images that fail
    (corrupt, not an image, codec error) are reported and left out of the means.
    """
    from ..eval import rd as rd_eval
    from ..eval.anchors import load_curves
    from ..eval.metrics import perceptual_status

    metrics = tuple(m.strip() for m in metric.split(",") if m.strip())
    unknown = set(metrics) - {"psnr", "ms-ssim", "lpips", "dists"}
    if unknown:
        raise BadInputError(f"unknown metric {sorted(unknown)[0]!r} (psnr, ms-ssim, lpips, dists)")
    status = perceptual_status()
    for m in [m for m in metrics if m in status and status[m]]:
        click.echo(f"note: {m} unavailable ({status[m]}); skipped", err=True)
    metrics = tuple(m for m in metrics if status.get(m) is None)
    curves_in = load_curves(anchors) if anchors else {}
    result = rd_eval.evaluate(dataset, parse_codec_specs(codecs), out_dir, metrics, ref,
                              curves_in, workers, scheduler, limit)
    summary = rd_eval.summarize(result, dataset, ref)
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    for name, c in result.curves.items():
        r = c["results"]
        points = ", ".join(f"q{q}: {b:.3f} bpp {p:.2f} dB" for q, b, p in
                           zip(r["quality"], r["bpp"], r["psnr-rgb"]))
        click.echo(f"{name:8s} {points}")
    if result.bd_rows:
        from ..eval.bdrate import format_table

        click.echo("\n" + format_table(result.bd_rows))
    click.echo(f"\n{summary['images']} images, {summary['jobs']} jobs, "
               f"{summary['failed_jobs']} failed, {summary['skipped_images']} images left out "
               f"of the means; results in {out_dir}")
    for image, reasons in result.excluded.items():
        click.echo(f"  skipped {image}: {reasons[0]}", err=True)
