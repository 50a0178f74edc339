"""MLICv2-tiny and its equal-budget hyperprior: encode/decode seconds and peak memory.

    python benchmarks/mlicv2_speed.py [--sizes 768x512 2000x2000]

Random weights (seeded): only the time and memory of the networks plus lvc's real
entropy coding are measured (slices in two checkerboard passes for MLICv2, one pass
for the hyperprior), each size and model in its own process, with the decoded latent
checked equal to the encoder's. Images are padded to multiples of 64 as the codecs do.
It also prints the parameter counts of the full, MLIC++-base and tiny configurations.
Both models run their entropy parameters single-threaded (``torch_utils``), the
synthesis with all threads.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = """
import json, resource, sys, time, torch
from lvc.codecs.mlicv2.train import build
from lvc.codecs.torch_utils import single_thread, stable_cpu
from lvc.entropy import Decoder, Encoder
name, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
model, _ = build(name)
model.eval()
x = torch.rand(1, 3, -(-h // 64) * 64, -(-w // 64) * 64)
if name == "hyperprior":  # the zoo codecs' mean-scale loop on the baseline network
    from lvc.codecs.zoo.codec import _code_latents
    from lvc.codecs.zoo.weights import wrap
    zm = wrap(model, "random")

    def code(coder, x=None, size=None):
        return _code_latents(zm, coder, x, size)
else:
    from lvc.codecs.mlicv2.coding import code_latents, prepare
    tables = prepare(model)

    def code(coder, x=None, size=None):
        return code_latents(model, tables, coder, x=x, size=size)
with stable_cpu():
    t0 = time.perf_counter()
    with single_thread():
        enc = Encoder()
        y_hat = code(enc, x=x)
        data = enc.finish()
    model.g_s(y_hat)
    t1 = time.perf_counter()
    with single_thread():
        dec = Decoder(data)
        y_dec = code(dec, size=y_hat.shape[-2:])
        dec.finish()
    model.g_s(y_dec)
    t2 = time.perf_counter()
assert torch.equal(y_dec, y_hat)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"enc": t1 - t0, "dec": t2 - t1, "peak_mib": peak, "bytes": len(data)}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["768x512", "2000x2000"])
    ap.add_argument("--models", nargs="+", default=["mlicv2-tiny", "hyperprior"])
    args = ap.parse_args(argv)
    from lvc.codecs.mlicv2.model import MLICv2, MLICv2Config, parameter_count

    for label, cfg in (("MLICv2 full", MLICv2Config.full()), ("MLIC++ base", MLICv2Config.base()),
                       ("MLICv2-tiny", MLICv2Config.tiny())):
        print(f"{label}: {parameter_count(MLICv2(cfg)) / 1e6:.2f} M parameters")
    print(f"{'model':<14} {'size':>10} {'encode s':>9} {'decode s':>9} {'peak MiB':>9}")
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        for name in args.models:
            t0 = time.time()
            proc = subprocess.run([sys.executable, "-c", CHILD, name, str(h), str(w)],
                                  capture_output=True, text=True)
            if proc.returncode:
                print(f"{name:<14} {size:>10} failed: {proc.stderr.strip().splitlines()[-1]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{name:<14} {size:>10} {r['enc']:9.2f} {r['dec']:9.2f} {r['peak_mib']:9.0f}"
                  f"   (process {time.time() - t0:.0f} s)", flush=True)
    print("random weights (seeded): times and memory only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
