"""Start-up cost of one ``codec`` call: where a short clip's seconds and memory go.

Issue 23's start-up item. Two whole CLI calls, each in a fresh process (wall time and
peak RSS, best of ``--repeat``): ``codec encode`` of a 0.25 s 16 kHz clip with
liveaction-audio and ``codec decode`` of a Kodak image (kodim05, a procedural one if
absent) coded with liveaction-rgb. Then the same work split into phases in one fresh
process each: importing the CLI, importing torch, the codec module, loading and
verifying the weights, coding, writing the output.

    python benchmarks/startup.py [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "datasets" / "kodak" / "kodim05.png"

PHASES = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import lvc.cli.main; mark("import lvc + CLI")
import torch; mark("import torch")
from lvc.codecs.registry import get_codec
codec = get_codec(sys.argv[1]); mark("codec module")
codec.weights(); mark("weights (read, verify)")
import lvc
if sys.argv[2] == "encode":
    media = lvc.api.to_media(sys.argv[3], codec=codec); mark("read input")
    data = lvc.encode(media, codec.id); mark("encode")
    open(sys.argv[4], "wb").write(data); mark("write output")
else:
    media = lvc.decode_media(sys.argv[3]); mark("decode")
    lvc.write(sys.argv[4], media, overwrite=True); mark("write output")
print(json.dumps([(name, b - a) for (_, a), (name, b) in zip(marks, marks[1:])]))
"""


def run(cmd) -> tuple:
    """Wall seconds, peak RSS (MiB, that process's own: ``os.wait4``) and stdout of a
    fresh process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode:
            raise SystemExit(f"{cmd} failed: {err.read().decode()[-400:]}")
        return seconds, usage.ru_maxrss / 1024, out.read().decode()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import lvc
    import soundfile as sf
    from lvc.samples import sample_image

    tmp = Path(tempfile.mkdtemp())
    t = np.arange(4000) / 16000
    sf.write(tmp / "clip.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000,
             subtype="PCM_16")
    image = KODAK if KODAK.is_file() else sample_image(768, 512)
    (tmp / "photo.lvc").write_bytes(lvc.encode(image, "liveaction-rgb"))
    codec = [sys.executable, "-m", "lvc"]
    cases = {
        "codec encode clip.wav (liveaction-audio)":
            (codec + ["encode", str(tmp / "clip.wav"), "-o", str(tmp / "clip.lvc"), "-f"],
             ["liveaction-audio", "encode", str(tmp / "clip.wav"), str(tmp / "c2.lvc")]),
        "codec decode photo.lvc (liveaction-rgb)":
            (codec + ["decode", str(tmp / "photo.lvc"), "-o", str(tmp / "photo.png"), "-f"],
             ["liveaction-rgb", "decode", str(tmp / "photo.lvc"), str(tmp / "p2.png")]),
    }
    rows = []
    for name, (cli, phase_args) in cases.items():
        walls = [run(cli) for _ in range(args.repeat)]
        phases = json.loads(run([sys.executable, "-c", PHASES] + phase_args)[2])
        rows.append({"case": name, "seconds": min(w[0] for w in walls),
                     "peak_mib": max(w[1] for w in walls), "phases": phases})
    torch_alone = min(run([sys.executable, "-c", "import torch"])[0] for _ in range(args.repeat))
    if args.json:
        print(json.dumps({"rows": rows, "import_torch_s": torch_alone}, indent=2))
        return 0
    for r in rows:
        print(f"{r['case']}: {r['seconds']:.2f} s wall (best of {args.repeat}), peak RSS "
              f"{r['peak_mib']:.0f} MiB")
        for phase, seconds in r["phases"]:
            print(f"    {phase:<24}{seconds:>7.3f} s")
    print(f"python -c 'import torch' alone: {torch_alone:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
