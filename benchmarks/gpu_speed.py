"""Network speed on one device, in one run: the LiVeAction networks at the shipped size
and a CompressAI hyperprior's transforms (bmshj2018-hyperprior, N=128, M=192), random
weights, entropy coding excluded (it runs on the CPU).

    python benchmarks/gpu_speed.py                       # CUDA: 1920x1080 b1/b8, 3840x2160 b1
    python benchmarks/gpu_speed.py --device cpu --sizes 128x96 --batches 1 --repeat 2

Encode: analysis (+ LiVeAction's companding and rounding to the integer latent, + the
hyperprior's y -> z analysis). Decode: synthesis from the rounded latent (LiVeAction) or
from y (hyperprior g_s). Prints MP/s and frames/s per network, size and batch (median
of ``--repeat`` timed runs after a warm-up; ``torch.cuda.synchronize`` around each), TF32
on CUDA unless ``--precision bf16`` (autocast).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def networks(device):
    """name -> (encode(x), decode(latent, size)) closures over random-weight models."""
    import torch
    from compressai.models import ScaleHyperprior

    from lvc.codecs.liveaction.model import LiVeAction, LiVeActionConfig
    from lvc.codecs.liveaction.train import SMALL, level_latent

    torch.manual_seed(0)
    la = LiVeAction(LiVeActionConfig(**SMALL)).to(device).eval()
    hp = ScaleHyperprior(128, 192).to(device).eval()

    def la_encode(x):
        return level_latent(la, la.encode(x), 96, 2.0, noisy=False)[0]

    def hp_encode(x):
        y = hp.g_a(x)
        return y, hp.h_a(torch.abs(y))

    return {"liveaction (SMALL, 8.2 M)": (la_encode, lambda q, size: la.decode(q, size=size)),
            "bmshj2018-hyperprior (N=128, M=192)": (hp_encode, lambda y, size: hp.g_s(y[0]))}


def timed(fn, device, repeat: int) -> float:
    import torch

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> list:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--sizes", nargs="+", default=["1920x1080", "3840x2160"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--max-pixels", type=float, default=2.1e7,
                    help="skip a size x batch above this many pixels (memory)")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args(argv)
    import torch

    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU, {torch.get_num_threads()} threads"
    rows = []
    with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16,
                                                enabled=args.precision == "bf16"):
        for net, (encode, decode) in networks(device).items():
            for size in args.sizes:
                w, h = (int(v) for v in size.split("x"))
                for batch in args.batches:
                    if w * h * batch > args.max_pixels:
                        continue
                    x = torch.rand(batch, 3, h, w, device=device) * 2 - 1
                    latent = encode(x)
                    enc = timed(lambda: encode(x), device, args.repeat)
                    dec = timed(lambda: decode(latent, (h, w)), device, args.repeat)
                    mp = w * h * batch / 1e6
                    rows.append({"network": net, "size": size, "batch": batch,
                                 "encode_mp_s": mp / enc, "decode_mp_s": mp / dec,
                                 "encode_fps": batch / enc, "decode_fps": batch / dec})
    print(f"{name}, {args.precision}{' (TF32)' if device.type == 'cuda' else ''}, "
          f"median of {args.repeat}")
    print("| network | size | batch | encode MP/s | encode frames/s | decode MP/s | "
          "decode frames/s |\n|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['network']} | {r['size']} | {r['batch']} | {r['encode_mp_s']:.1f} | "
              f"{r['encode_fps']:.1f} | {r['decode_mp_s']:.1f} | {r['decode_fps']:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "precision": args.precision, "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
