"""``codec iscs``: ISCS channel analysis of a trained learned codec."""

from __future__ import annotations

import click

from ..formats.files import check_writable


@click.group("iscs")
def iscs_group():
    """ISCS: parameter-guided channel importance, ordering and grouping."""


@iscs_group.command("analyze")
@click.argument("model", metavar="MODEL")
@click.option("-o", "--output", metavar="JSON", help="Write the channel table here.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output file.")
@click.option("--measure", "dataset", metavar="DIR",
              help="Also measure each channel's PSNR drop when set to its mean on these "
                   "images, and print its Spearman correlation with every statistic.")
@click.option("--limit", type=click.IntRange(min=1), default=24, show_default=True,
              help="Images used by --measure.")
@click.option("--crop", type=click.IntRange(min=0), default=256, show_default=True,
              help="Center crop side for --measure (0: whole images).")
@click.option("--core-mass", type=click.FloatRange(0, 1, min_open=True), default=0.5,
              show_default=True, help="Share of synthesis energy the Salient-Core holds.")
@click.option("--group", type=click.IntRange(min=1), default=16, show_default=True,
              help="Channels per auxiliary group.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON on stdout.")
def analyze_cmd(model, output, force, dataset, limit, crop, core_mass, group, as_json):
    """Score, order and group the latent channels of MODEL (a learned codec, ID[:Q]).

    \b
    Examples:
      codec iscs analyze mlicv2-tiny:2 -o mlicv2-q2.channels.json
      codec iscs analyze mbt2018-mean-tiny:2 --measure ../shared/datasets/kodak
    """
    import torch

    from ..codecs.iscs.layers import find_latent_layers
    from ..codecs.iscs.models import load_target
    from ..codecs.iscs.stats import STATISTICS, analyze
    from ..eval.channel_importance import center_crops, psnr_drop, spearman
    from ..formats.files import write_bytes_atomic

    if output:
        check_writable(output, force)  # before the work, not after
    target = load_target(model)
    table = analyze(find_latent_layers(target.g_a, target.g_s, target.channels), target.name,
                    core_mass, group)
    correlations = None
    if dataset:
        images = center_crops(dataset, limit, crop, target.factor)
        with torch.no_grad():
            drops = psnr_drop(target.encode, target.decode, images)
        correlations = {k: spearman(table.statistics[k], drops) for k in STATISTICS}
        correlations["iscs_score"] = spearman(table.score, drops)
        table.measured = {"psnr_drop": drops, "images": len(images), "crop": crop,
                          "dataset": str(dataset), "spearman": correlations}
    text = table.dumps()
    if output:
        write_bytes_atomic(output, text.encode(), overwrite=force)
    if as_json:
        click.echo(text, nl=False)
        return
    click.echo(f"{table.model}: {len(table.score)} latent channels; Salient-Core "
               f"{len(table.core)} channels, {len(table.groups)} auxiliary groups of <= {group}")
    click.echo(f"order (first 16): {' '.join(map(str, table.order[:16]))}")
    if correlations:
        click.echo(f"measured on {len(images)} images: mean PSNR drop "
                   f"{table.measured['psnr_drop'].mean():.3f} dB per zeroed channel")
        click.echo("Spearman correlation with the measured importance:")
        for k, v in correlations.items():
            click.echo(f"  {k:18s} {v:+.3f}")
    if output:
        click.echo(f"wrote {output}")
