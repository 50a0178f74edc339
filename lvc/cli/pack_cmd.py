"""``codec pack`` and ``codec unpack``: a folder tree to ``.lvc`` tar shards and back
(``lvc.data.pack``)."""

from __future__ import annotations

import json

import click

from ..errors import BadInputError, cli_message


@click.command(epilog="""\b
Examples:
  codec pack photos/ -o shards/ -c webp -q 75
  codec pack photos/ -o shards/ -c liveaction-rgb -q 4 --shard-size 64MB --workers 2
  codec pack photos/ -o shards/ -c jpeg --labels labels.csv --scheduler tcp://10.0.0.5:8786
""")
@click.argument("src", metavar="SRC/")
@click.option("-o", "--output", required=True, metavar="SHARDS/",
              help="Folder for shard-00000.tar, ... and index.json (created if needed).")
@click.option("-c", "--codec", required=True, metavar="ID", help="Codec id (`codec list`).")
@click.option("-q", "--quality", type=int, metavar="Q",
              help="Quality in the codec's range (default: the codec's).")
@click.option("--shard-size", default="256MB", show_default=True, metavar="SIZE",
              help="Largest shard, with KB, MB or GB (a larger file gets a shard of its own).")
@click.option("--labels", type=click.Path(dir_okay=False), metavar="CSV",
              help="name,label rows (name: the path under SRC or the file name, with or "
                   "without suffix). Default: the first sub-folder (ImageFolder).")
@click.option("-j", "--workers", type=click.IntRange(min=1), default=1, metavar="N",
              help="Encoding processes (default: 1).")
@click.option("--scheduler", metavar="ADDR",
              help="Encode on Dask: 'local[:N]' or tcp://host:port (workers must see SRC).")
@click.option("--skip-bad", is_flag=True,
              help="Report a file that fails to read or encode and go on without it.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def pack(src, output, codec, quality, shard_size, labels, workers, scheduler, skip_bad,
         as_json):
    """Encode every media file under SRC/ into tar shards for training.

    Files are taken recursively in sorted order (hidden ones skipped) and
    written as WebDataset-style members KEY.lvc, KEY.json (name, label, source
    checksum) and KEY.cls (class index), in shards of at most SIZE, plus
    SHARDS/index.json. Labels are sub-folder names unless --labels is given.
    Resumable: finished shards are kept and their files not encoded again.
    Read the shards with lvc.data.ShardDataset; `codec unpack` restores files.
    """
    from ..data.pack import pack as run_pack
    from ..data.shards import parse_size

    size = parse_size(shard_size)

    def shard_line(shard):
        if not as_json:
            click.echo(f"{shard['name']}  {shard['members']} members  {shard['bytes']:,} bytes")

    report = run_pack(src, output, codec, quality, size, labels, workers, scheduler, skip_bad,
                      on_shard=shard_line)
    for name, message in report.skipped:
        click.echo(f"error: {cli_message(message)}", err=True)
    index = report.index
    total = sum(s["bytes"] for s in index["shards"])
    summary = {"output": output, "codec": index["codec"], "quality": index["quality"],
               "members": len(index["members"]), "shards": len(index["shards"]),
               "reused_shards": report.reused_shards, "bytes": total,
               "classes": index["classes"], "skipped": [n for n, _ in report.skipped],
               "seconds": round(report.seconds, 2)}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    reused = f" ({report.reused_shards} finished before, kept)" if report.reused_shards else ""
    skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
    shards = f"{summary['shards']} shard{'s' if summary['shards'] != 1 else ''}"
    click.echo(f"packed {summary['members']} files into {shards}{reused}, "
               f"{total:,} bytes, {len(index['classes'])} classes{skipped}: "
               f"{output.rstrip('/')}/index.json")


@click.command(epilog="""\b
Examples:
  codec unpack shards/ -o restored/
  codec unpack shards/shard-00003.tar -o part/ --lvc
""")
@click.argument("shards", nargs=-1, required=True, metavar="SHARDS/ | SHARD.tar...")
@click.option("-o", "--output", required=True, metavar="DIR/", help="Folder to restore into.")
@click.option("--lvc", "as_lvc", is_flag=True,
              help="Write the members' .lvc files instead of decoding them.")
@click.option("-f", "--force", is_flag=True, help="Replace existing files.")
@click.option("-j", "--workers", type=click.IntRange(min=1), default=1, metavar="N",
              help="Processes, one shard each at a time (default: 1).")
@click.option("--skip-bad", is_flag=True,
              help="Report a damaged member or truncated shard and go on (exit 0).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of members.")
def unpack(shards, output, as_lvc, force, workers, skip_bad, as_json):
    """Restore the files packed in shards (a shard folder or shard files).

    Each member is decoded to its original path under DIR/ with the decoded
    format's suffix (.png for images, .wav for audio, .npy or .nii.gz for
    volumes and cubes), or written as .lvc with --lvc. The shard folder's
    index.json must be present.
    """
    from ..data.pack import unpack as run_unpack

    if len(shards) > 1 and any(not s.endswith(".tar") for s in shards):
        raise BadInputError("give one shard folder, or shard .tar files")
    rows = run_unpack(shards[0] if len(shards) == 1 else list(shards), output, as_lvc, force,
                      workers, skip_bad)
    bad = [r for r in rows if r["error"]]
    for r in bad:
        click.echo(f"error: {cli_message(r['error'])}", err=True)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        done = len(rows) - len(bad)
        skipped = f", skipped {len(bad)} bad (see above)" if bad else ""
        click.echo(f"restored {done} files into {output}{skipped}")
