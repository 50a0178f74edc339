"""``codec iscs``: ISCS channel analysis of a trained learned codec."""

from __future__ import annotations

import click

from ..codecs.iscs.weights import AUX_GROUPS, CORE, SLICE
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


@iscs_group.command("apply")
@click.argument("model", metavar="MODEL")
@click.option("-o", "--output", "out_dir", required=True, metavar="NEW",
              help="Weights folder to write the new codec's file and manifest entry into.")
@click.option("--layout", type=click.Choice(["iscs", "original"]), default="iscs",
              show_default=True, help="ISCS order and grouping, or the original order in "
                                      "sequential slices (the reference).")
@click.option("--steps", type=click.IntRange(min=1), default=1500, show_default=True,
              help="Fine-tuning steps of the slice networks (nothing else trains).")
@click.option("--core", type=click.IntRange(min=1), default=CORE, show_default=True,
              help="Core width (channels) of the ISCS layout, coded in sequential slices "
                   "of --group.")
@click.option("--group", type=click.IntRange(min=1), default=SLICE, show_default=True,
              help="Width of every core slice, auxiliary group or original-order slice.")
@click.option("--aux-groups", type=click.IntRange(min=0), default=AUX_GROUPS, show_default=True,
              help="Auxiliary groups of equal width, decoded side by side (1: one batched "
                   "pass; 0: groups of --group).")
@click.option("--data", multiple=True, metavar="DIR", help="Training images (default BSDS500).")
@click.option("--val", multiple=True, metavar="DIR",
              help="Held-out images whose rate is logged (default BSDS500 val).")
@click.option("--crop", type=click.IntRange(min=64), default=256, show_default=True)
@click.option("--pool", type=click.IntRange(min=1), default=1200, show_default=True,
              help="Training crops pushed through the frozen host once.")
@click.option("--run", "run_dir", metavar="DIR",
              help="Resumable run folder (default runs/<codec>-q<Q>).")
@click.option("-f", "--force", is_flag=True, help="Replace existing weights of that codec.")
def apply_cmd(model, out_dir, layout, steps, core, group, aux_groups, data, val, crop, pool,
              run_dir, force):
    """Permute MODEL's latent channels by the ISCS order, regroup them into a core and
    auxiliary groups conditioned on the core only, and fine-tune the slice networks.

    \b
    The result is the codec MODEL-iscs (or MODEL-slices with --layout original) in NEW,
    next to a copy of MODEL's weights, so LVC_WEIGHTS_DIR=NEW selects it. Supported
    MODEL: mbt2018-mean-tiny[:Q].
    Example:
      codec iscs apply mbt2018-mean-tiny:2 -o my-weights
      LVC_WEIGHTS_DIR=my-weights codec encode img.png -c mbt2018-mean-tiny-iscs -q 2
    """
    import shutil
    from pathlib import Path

    from ..codecs.iscs import train
    from ..codecs.iscs.models import parse_spec
    from ..codecs.iscs.weights import CODECS, export
    from ..codecs.manifest import update_manifest, weights_dir
    from ..codecs.mlicv2.weights import RANDOM_ENV, installed_entry, use_random
    from ..errors import BadInputError

    host, quality = parse_spec(model)
    quality = 2 if quality is None else quality
    codec_id = f"{host}-{'iscs' if layout == 'iscs' else 'slices'}"
    if codec_id not in CODECS:
        hosts = sorted({h for h, _ in CODECS.values()})
        raise BadInputError(f"ISCS apply supports {', '.join(hosts)}, not {host}")
    if use_random():
        raise BadInputError(f"{RANDOM_ENV} is set: apply builds on the trained host, unset it")
    out = Path(out_dir)
    check_writable(out / f"{codec_id}-q{quality}.safetensors", force)  # before the work
    host_entry = installed_entry(host, quality)
    ckpt = train.run(codec_id, quality, run_dir or f"runs/{codec_id}-q{quality}",
                     list(data) or list(train.DEFAULT_DATA), steps, crop=crop, pool=pool,
                     core=core, group=group, aux_groups=aux_groups or None,
                     val=list(val) or list(train.DEFAULT_VAL),
                     log=click.echo)
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != weights_dir().resolve():  # NEW holds its host too
        shutil.copyfile(weights_dir() / host_entry["file"], out / host_entry["file"])
        update_manifest(host_entry, out, key=("codec", "quality"))
    entry = export(ckpt, out)
    click.echo(f"wrote {out / entry['file']} ({codec_id} quality {quality}: slices "
               f"{entry['layout']['sizes']}, {entry['steps']} steps; held-out rate of y "
               f"{entry['val_bpp_y_host']:.4f} -> {entry['val_bpp_y']:.4f} bpp)")
