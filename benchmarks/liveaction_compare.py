"""LiVeAction RGB weights side by side, in one run: RD curves and BD-rates of several
candidate weights (training checkpoints or installed weight folders) beside baseline codecs.

    # choose between checkpoints on BSDS500 val (never Kodak)
    python benchmarks/liveaction_compare.py --dataset ../shared/datasets/bsds500/val --limit 24 \\
        --candidate shipped=assets/weights --candidate A=A.safetensors --candidate B=B.safetensors \\
        --out results/liveaction-choice
    # the shipped curve against the previous one and the classical codecs on Kodak
    python benchmarks/liveaction_compare.py --candidate new=assets/weights \\
        --candidate previous=PREVIOUS_DIR -c jpeg:10,20,30,40,50,60,70,80,90 \\
        -c webp:5,20,35,50,65,80,90 -c avif:10,25,40,55,70,80 --out results/liveaction-kodak

A checkpoint is exported first (float16, tables fitted on BSDS500 *train*, the levels of
``--levels`` or the checkpoint's) into ``OUT/weights-NAME/``. Every candidate is coded
at qualities 1-8 through the ``codec eval rd`` harness with ``LVC_WEIGHTS_DIR`` pointing
at its folder (rates count the whole file; resumable per candidate). BD-rates are given
against the first candidate and the first baseline codec.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lvc.cli.eval_cmd import parse_codec_specs
from lvc.eval import rd
from lvc.eval.bdrate import bd_table, format_table

ROOT = Path(__file__).resolve().parents[1]
CODEC = "liveaction-rgb"


def prepare(name: str, source: str, out: Path, levels, fit_images: int) -> Path:
    """The weights folder of a candidate: ``source`` itself, or its export."""
    src = Path(source)
    if src.is_dir():
        return src
    from lvc.codecs.liveaction.train import parse_levels
    from lvc.codecs.liveaction.weights import export_weights

    folder = out / f"weights-{name}"
    if not (folder / f"{CODEC}.safetensors").exists():
        export_weights(src, folder / f"{CODEC}.safetensors", n_fit_images=fit_images,
                       rate_levels=parse_levels(levels) if levels else None)
    return folder


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared" / "datasets" / "kodak"))
    ap.add_argument("--candidate", action="append", required=True, metavar="NAME=PATH",
                    help="a training checkpoint or a weights folder (repeatable; first = reference)")
    ap.add_argument("-c", "--codec", action="append", default=[], metavar="ID:Q,Q",
                    help="baseline codec and qualities (repeatable)")
    ap.add_argument("--levels", nargs="+", metavar="K:STEP", help="levels for exported checkpoints")
    ap.add_argument("--qualities", default="1,2,3,4,5,6,7,8")
    ap.add_argument("--fit-images", type=int, default=200)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    candidates = dict(item.split("=", 1) for item in args.candidate)
    folders = {n: prepare(n, p, out, args.levels, args.fit_images) for n, p in candidates.items()}
    qualities = [int(q) for q in args.qualities.split(",")]

    curves = {}
    for name, folder in folders.items():
        curve = rd.curve_with_weights(args.dataset, CODEC, qualities, folder, out / f"rows-{name}",
                                      args.limit, args.workers)
        curve["name"] = f"{CODEC} ({name})"
        curves[curve["name"]] = curve
    baselines = parse_codec_specs(tuple(args.codec)) if args.codec else {}
    if baselines:
        rows = rd.run(rd.plan(args.dataset, baselines, limit=args.limit), out / "rows-baselines",
                      args.workers, progress=False)
        curves.update(rd.curves_from_rows(rows)[0])
    refs = [f"{CODEC} ({next(iter(folders))})"] + list(baselines)[:1]
    rd.write_outputs(out, curves, {}, None, {})  # curves JSON and RD plots
    bd_rows = bd_table(curves, refs, ("psnr-rgb", "ms-ssim-rgb"))
    n = len(rd.plan(args.dataset, {CODEC: [1]}, limit=args.limit))
    print(f"{n} images of {args.dataset}; bpp counts the whole file\n")
    print("| curve | quality | bpp | PSNR-RGB dB | MS-SSIM | enc s | dec s |\n|---|---|---|---|---|---|---|")
    for name, c in curves.items():
        r = c["results"]
        for i, q in enumerate(r["quality"]):
            print(f"| {name} | {q} | {r['bpp'][i]:.3f} | {r['psnr-rgb'][i]:.2f} | "
                  f"{r['ms-ssim-rgb'][i]:.4f} | {r['encoding_time'][i]:.3f} | "
                  f"{r['decoding_time'][i]:.3f} |")
    print("\n" + format_table(bd_rows))
    return {"curves": curves, "bd": bd_rows}


if __name__ == "__main__":
    main()
