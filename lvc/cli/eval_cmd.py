"""``codec eval``: rate-distortion sweeps (``rd``) over image folders, machine-perception
sweeps (``mpq``) over image or audio folders, and the OCR test pages (``docs``)."""

from __future__ import annotations

import json

import click

from ..codecs.registry import all_codecs, codec_info
from ..errors import BadInputError


def parse_codec_specs(specs, modality: str = "image", sweep=None, command: str = "rd") -> dict:
    """``["jpeg", "webp:50,75"]`` -> {id: qualities}; default: every available lossy
    codec of ``modality`` with its default sweep (``sweep(qualities)`` picks from it)."""
    sweep = sweep or (lambda qs: qs)
    if not specs:
        return {cid: sweep(info.sweep_qualities()) for cid, info in sorted(all_codecs().items())
                if info.modality == modality and not info.lossless and info.available}
    out = {}
    for spec in specs:
        cid, _, qs = spec.partition(":")
        info = codec_info(cid)
        if info.modality != modality:
            raise BadInputError(f"codec eval {command} evaluates {modality}; {cid} is an "
                                f"{info.modality} codec")
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
            out[cid] = sweep(info.sweep_qualities())
    return out


@click.group("eval")
def eval_group():
    """Evaluate codecs: rate-distortion curves and BD-rates, machine-perception quality."""


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


@eval_group.command("mpq", epilog="""\b
Examples:
  codec eval mpq --list
  codec eval mpq --task face-detection --dataset kodak/ --out results/mpq-face
  codec eval mpq --task ocr --dataset docs/ -c jpeg:5,15,40 -c liveaction-rgb:1,3,5 --out r/
  codec eval mpq --task asr --dataset speech/ --out results/mpq-asr
  codec eval mpq --task mypkg.tasks:Classifier --dataset digits/ --out results/mpq-cls
""")
@click.option("--task", metavar="NAME", help="A task (see --list) or module:Class of a plugin.")
@click.option("--dataset", metavar="DIR", help="Folder of images or audio files.")
@click.option("-c", "--codec", "codecs", multiple=True, metavar="ID[:Q1,Q2,...]",
              help="Codec and qualities (repeatable). Default: every available lossy codec "
                   "of the task's modality at up to 4 qualities of its default sweep.")
@click.option("--out", "out_dir", metavar="DIR", help="Where results go.")
@click.option("--limit", type=click.IntRange(min=1), metavar="K", help="Only the first K samples.")
@click.option("--list", "list_tasks", is_flag=True, help="List the tasks and whether they can run.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def mpq(task, dataset, codecs, out_dir, limit, list_tasks, as_json):
    """Machine-perception quality: a perception model's output on decoded data against
    its output on the original (and against labels when the dataset has them).

    Writes to DIR: results.csv (per sample; re-running skips what is measured),
    curves.json (per codec: rate, task metrics, times), summary.json (with the
    metric of every codec interpolated at equal rates, and the best one),
    mpq-<metric>.png. Rates count the whole .lvc file (bpp for images, kbps for audio).
    """
    from ..eval.mpq.tasks import load_task, ready_task, task_paths, task_status

    if list_tasks:
        status = task_status()
        rows = []
        for name in task_paths():
            reason = status[name]
            t = None if reason and "cannot load" in reason else load_task(name)
            rows.append({"task": name, "modality": t.modality if t else "?",
                         "metric": t.metric if t else "?",
                         "available": reason is None, "reason": reason})
        if as_json:
            click.echo(json.dumps(rows, indent=1))
        for r in [] if as_json else rows:
            state = "yes" if r["available"] else f"no: {r['reason']}"
            click.echo(f"{r['task']:22s} {r['modality']:6s} {r['metric']:5s} {state}")
        return
    missing = [n for n, v in (("--task", task), ("--dataset", dataset), ("--out", out_dir)) if not v]
    if missing:
        raise BadInputError(f"codec eval mpq needs {', '.join(missing)} (or --list)")
    from ..eval.mpq.runner import default_qualities, evaluate

    t = ready_task(task)
    specs = parse_codec_specs(codecs, t.modality, default_qualities, "mpq")
    summary = evaluate(t, dataset, specs, out_dir, limit)
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    click.echo(format_mpq(summary))


def format_mpq(summary: dict) -> str:
    """The curves and the equal-rate comparison as text tables."""
    metric, unit = summary["metric"], summary["rate_unit"]
    labelled = summary["labelled_samples"] > 0
    head = f"{'codec':26s} {'q':>4s} {unit:>8s} {metric:>8s}"
    head += f" {metric + '/label':>10s}" if labelled else ""
    lines = [f"{summary['task']}: {summary['samples']} samples, {metric} against the "
             f"original's output" + (f" and against labels ({summary['labelled_samples']} "
                                     "labelled)" if labelled else ""), head]
    if labelled and summary["original_vs_label"]:
        lines.append(f"{'original':26s} {'':>4s} {'':>8s} {'':>8s} "
                     f"{summary['original_vs_label'][metric]:10.4f}")
    for name, res in summary["curves"].items():
        for i, q in enumerate(res["quality"]):
            line = f"{name:26s} {q:4d} {res[unit][i]:8.3f} {res[metric][i]:8.4f}"
            if labelled and f"{metric}-label" in res:
                line += f" {res[metric + '-label'][i]:10.4f}"
            lines.append(line)
    for key, what in (("equal_rate", "vs original"), ("equal_rate_label", "vs label")):
        table = summary.get(key) or []
        if not table:
            continue
        lines.append(f"\n{metric} at equal {unit} ({what}; interpolated in log-rate):")
        for row in table:
            cells = ", ".join(f"{n} {v:.3f}" for n, v in row["values"].items())
            best = " = ".join(row["best"])
            lines.append(f"  {row['rate']:.3f} {unit}: best {best}; {cells}")
    for job in summary["failed_jobs"][:5]:
        lines.append(f"failed: {job['codec']} q{job['quality']} {job['sample']}: {job['error']}")
    if len(summary["failed_jobs"]) > 5:
        lines.append(f"... and {len(summary['failed_jobs']) - 5} more failed jobs")
    return "\n".join(lines)


@eval_group.command("docs")
@click.argument("out_dir", metavar="DIR")
@click.option("-n", "--count", type=click.IntRange(1, 1000), default=8, show_default=True)
@click.option("--size", default="640x480", show_default=True, metavar="WxH")
@click.option("-f", "--force", is_flag=True, help="Replace existing pages.")
def docs(out_dir, count, size, force):
    """Render document pages (PNG + the exact text as .txt) for the ocr task."""
    from ..eval.mpq.ocr import render_documents

    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise BadInputError(f"--size must be WIDTHxHEIGHT, not {size!r}") from None
    if not (64 <= w <= 8192 and 64 <= h <= 8192):
        raise BadInputError(f"--size {size}: each side must be 64..8192")
    pages = render_documents(out_dir, count, (w, h), overwrite=force)
    click.echo(f"wrote {len(pages)} pages (+ .txt) to {out_dir}")
