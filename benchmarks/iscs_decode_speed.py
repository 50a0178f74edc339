"""Entropy decoding time of the latents: ISCS slices vs the original order, on Kodak.

    python benchmarks/iscs_decode_speed.py [--dataset ../shared/datasets/kodak] [--limit 24]

For every image and codec the latent is encoded once with the installed weights, then
decoded ``--repeat`` times (the fastest run counts) from the bitstream to the
dequantized latent: z, the hyper-synthesis, every slice network and the ANS calls,
everything the entropy decoder does and nothing of the image synthesis (timed
separately); "of which y" is the part after h_s (the slices), where the layouts
differ (z and h_s are the host's in both). ``mbt2018-mean-tiny-slices`` decodes its 5
slices one after another; ``mbt2018-mean-tiny-iscs`` its core's slices, then every
auxiliary channel in one batched pass (with several auxiliary groups, side by side on
1 and on ``--workers`` threads, each network single-threaded as in the codec).
The host ``mbt2018-mean-tiny`` (no channel context) is listed for reference.
``--run DIR`` adds the slice networks of a training run folder (``checkpoint.safetensors``
of ``lvc.train iscs`` or ``benchmarks/iscs_order_ablation.py``, with its own channel
order and layout) as one more row, for layouts that are not shipped. Every decode is
checked bit-identical to the encoder's latent and across worker counts.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from lvc.codecs.iscs.coding import code_hyper, code_slices
from lvc.codecs.iscs.codec import WORKERS
from lvc.codecs.iscs.weights import SliceHandle, host_model, load, permuted_host
from lvc.codecs.latent_image import to_tensor
from lvc.codecs.mlicv2.baseline import load as load_host
from lvc.codecs.torch_utils import single_thread, stable_cpu
from lvc.codecs.zoo.codec import _code_latents
from lvc.entropy import Decoder, Encoder
from lvc.formats.image_io import read_image
from lvc.formats.media import to_rgb8


def timed_decode(code, data: bytes, size, repeat: int):
    """Best-of-``repeat`` seconds (total, hyper part or None) and the decoded latent."""
    best, y = (float("inf"), float("inf")), None
    for _ in range(repeat):
        dec, times = Decoder(data), {}
        t0 = time.perf_counter()
        y = code(dec, size=size, times=times)
        dec.finish()
        total = time.perf_counter() - t0
        best = min(best, (total, times.get("hyper", float("nan")) - t0))
    return best, y


def slice_decoder(handle, workers: int):
    """The codec's ``code_latents`` in its two parts, recording when z and h_s are done."""
    def code(coder, x=None, size=None, times=None):
        y = None if x is None else handle.host.model.g_a(x)
        hyper = code_hyper(handle.host, coder, y, size)
        if times is not None:
            times["hyper"] = time.perf_counter()
        return code_slices(handle, coder, hyper, y, workers)

    return code


def run_handle(folder, quality: int) -> SliceHandle:
    """The slice networks, order and layout of a training run on the host at ``quality``."""
    import json

    from safetensors import safe_open

    from lvc.codecs.iscs.slices import SliceEntropyModel, SliceLayout

    with safe_open(str(Path(folder) / "checkpoint.safetensors"), "pt") as f:
        info = json.loads(f.metadata()["lvc"])
        state = {k[len("model."):]: f.get_tensor(k) for k in f.keys() if k.startswith("model.")}
    if int(info["quality"]) != quality:
        raise SystemExit(f"{folder} was trained at quality {info['quality']}, not {quality}")
    model = SliceEntropyModel(SliceLayout.from_dict(info["layout"]))
    model.load_state_dict(state)
    order = tuple(info["order"])
    return SliceHandle(permuted_host(host_model(info["host"], quality), order), model.eval(),
                       order)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="../shared/datasets/kodak")
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--quality", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=WORKERS)
    ap.add_argument("--run", action="append", default=[], metavar="DIR",
                    help="also time the slice networks of this training run (repeatable)")
    args = ap.parse_args()
    paths = sorted(p for p in Path(args.dataset).iterdir()
                   if p.suffix.lower() in (".png", ".jpg"))[:args.limit]
    host = load_host(args.quality)
    codecs = {"mbt2018-mean-tiny (host, no channel context)":
              (lambda c, x=None, size=None, times=None: _code_latents(host, c, x, size),
               host.model)}
    for cid in ("mbt2018-mean-tiny-slices", "mbt2018-mean-tiny-iscs"):
        handle = load(cid, args.quality)
        parallel = max(len(s) for s in handle.slices.layout.stages()) > 1
        for w in (1, args.workers) if parallel else (1,):
            codecs[f"{cid} ({w} worker{'s' * (w > 1)})"] = (slice_decoder(handle, w),
                                                             handle.host.model)
    for folder in args.run:
        handle = run_handle(folder, args.quality)
        codecs[f"run {Path(folder).name} (1 worker)"] = (slice_decoder(handle, 1),
                                                         handle.host.model)
    rows = {name: {"decode": [], "hyper": [], "synth": [], "bytes": []} for name in codecs}
    references = {}
    with stable_cpu():
        for path in paths:
            x = to_tensor(to_rgb8(read_image(path).data), 64)
            for name, (code, model) in codecs.items():
                with single_thread():
                    enc = Encoder()
                    y_enc = code(enc, x=x)
                    data = enc.finish()
                    (seconds, hyper_s), y_dec = timed_decode(code, data, y_enc.shape[-2:],
                                                             args.repeat)
                assert torch.equal(y_dec, y_enc), f"{name}: decoded latent differs on {path}"
                key = (name.split(" (")[0], path.name)
                assert torch.equal(references.setdefault(key, y_dec), y_dec), \
                    f"{name}: the worker count changed the latent of {path.name}"
                t0 = time.perf_counter()
                model.g_s(y_dec)
                rows[name]["synth"].append(time.perf_counter() - t0)
                rows[name]["decode"].append(seconds)
                rows[name]["hyper"].append(hyper_s)
                rows[name]["bytes"].append(len(data))
    pixels = x.shape[-1] * x.shape[-2]
    print(f"{len(paths)} images of {args.dataset}, quality {args.quality}, best of "
          f"{args.repeat} decodes, torch {torch.__version__}")
    print(f"{'codec':50s} {'entropy decode ms':>17s} {'of which y':>10s} {'synthesis ms':>12s} "
          f"{'latent bpp':>10s}")
    means = {}
    for name, r in rows.items():
        total, hyper = (statistics.mean(r[k]) * 1e3 for k in ("decode", "hyper"))
        means[name] = (total, total - hyper)
        y_part = "-" if hyper != hyper else f"{total - hyper:.1f}"  # NaN: not split
        print(f"{name:50s} {total:17.1f} {y_part:>10s} "
              f"{statistics.mean(r['synth']) * 1e3:12.1f} "
              f"{statistics.mean(r['bytes']) * 8 / pixels:10.4f}")
    seq = means["mbt2018-mean-tiny-slices (1 worker)"]
    for name, value in means.items():
        if name.startswith(("mbt2018-mean-tiny-iscs", "run ")):
            print(f"{name}: entropy decoding {100 * (1 - value[0] / seq[0]):.1f}% faster than "
                  f"the original-order slices (y alone: {100 * (1 - value[1] / seq[1]):.1f}%)")


if __name__ == "__main__":
    main()
