"""The measurements behind the tracked figures (``targets.py``), one function per group.

Each reuses the benchmark script that reports the figure by hand, so the tracked number
is the one the README quotes. A group that cannot run here (no data set, or an older
commit without the API) raises ``NotImplementedError``, which asv records as skipped.
Imports happen inside the functions: an older ``lvc`` on the path may lack them.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATASETS = HERE.parent.parent / "shared" / "datasets"
MNIST = DATASETS / "mnist" / "t10k-images-idx3-ubyte.gz"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@contextmanager
def _needs(what: str):
    """Import failures of an older lvc mean the group does not exist there."""
    try:
        yield
    except (ImportError, AttributeError) as e:
        raise NotImplementedError(f"{what}: not in this lvc ({e})") from None


def entropy(quick: bool) -> dict:
    """``entropy_bench.py``'s residual and factorized cases (1M symbols even when quick:
    a smaller input would shift the ratio, and it takes seconds)."""
    with _needs("entropy layer"):
        import entropy_bench
    rows = {r["case"]: r for r in entropy_bench.measure(1_000_000, 3 if quick else 5)}
    out = {}
    for case in ("residual", "factorized"):
        lvc, ca = rows[case]["lvc"], rows[case]["compressai"]
        out[f"entropy.{case}_encode_x_compressai"] = lvc["enc_msym_s"] / ca["enc_msym_s"]
        out[f"entropy.{case}_decode_x_compressai"] = lvc["dec_msym_s"] / ca["dec_msym_s"]
        out[f"entropy.{case}_bits_over_ideal_pct"] = \
            100 * (lvc["bits"] / rows[case]["ideal_bits"] - 1)
    return out


def liveaction(quick: bool) -> dict:
    """``liveaction_speed.py``'s run: LiVeAction, WebP and AVIF near 0.5 bpp on Kodak,
    each in its own process, in one run (1 image when quick, else 4)."""
    with _needs("LiVeAction speed"):
        import liveaction_speed as speed
        from lvc.codecs.registry import codec_info
        from lvc.eval.bench import bench, load_images
    kodak = DATASETS / "kodak"
    if not kodak.is_dir():
        raise NotImplementedError(f"{kodak}: no Kodak images")
    missing = [c for c in speed.CODECS if codec_info(c).unavailable_reason()]
    if missing:
        raise NotImplementedError(f"unavailable here: {', '.join(missing)}")
    images = load_images(kodak, 1 if quick else 4)
    jobs = [(c, speed.quality_for_bpp(c, images, 0.5)[0]) for c in speed.CODECS]
    rows = {r["codec"]: r for r in bench(jobs, images, 3)}
    la, webp, avif = rows["liveaction-rgb"], rows["webp"], rows["avif"]
    return {"liveaction.encode_x_avif": la["encode_mps"] / avif["encode_mps"],
            "liveaction.encode_x_webp": la["encode_mps"] / webp["encode_mps"],
            "liveaction.decode_x_webp": la["decode_mps"] / webp["decode_mps"],
            "liveaction.decode_mps": la["decode_mps"]}


def pc(quick: bool) -> dict:
    """``pc_mnist.py``'s pc-hclt row: one image-set file encoded here and decoded by a
    separate process (300 MNIST test images when quick, else its 2,000)."""
    if not MNIST.is_file():
        raise NotImplementedError(f"{MNIST}: no MNIST")
    with _needs("pc-hclt"):
        import pc_mnist
        from lvc.codecs.pc.data import load
    images = load("mnist", MNIST)[1][: 300 if quick else None]
    (_, _, _, enc, dec), _ = pc_mnist.pc_row(images)
    return {"pc.mnist_encode_images_per_s": len(images) / enc,
            "pc.mnist_decode_images_per_s": len(images) / dec}


def container(quick: bool) -> dict:
    """``.lvc`` parsing: a 16 MiB file of 64 streams against zlib.crc32 over the same
    bytes (the checksums it must verify), and small image files per millisecond."""
    import zlib

    import numpy as np
    from entropy_bench import median_time

    with _needs("container"):
        from lvc.formats.container import Header, pack, unpack
    rng = np.random.default_rng(0)
    streams = [rng.integers(0, 256, 1 << 18, dtype=np.uint8).tobytes() for _ in range(64)]
    big = pack(Header("jpeg", "image", (2048, 2048, 3), "uint8", quality=75), streams)
    small = pack(Header("jpeg", "image", (512, 768, 3), "uint8", quality=75), [bytes(2400)])
    repeat = 5 if quick else 15
    parse, _ = median_time(lambda: unpack(big), repeat)
    crc, _ = median_time(lambda: zlib.crc32(big), repeat)
    many, _ = median_time(lambda: [unpack(small) for _ in range(2000)], repeat)
    return {"container.unpack_x_crc32": crc / parse,
            "container.small_unpacks_per_ms": 2000 / (many * 1e3)}


GROUPS = {"entropy": entropy, "liveaction": liveaction, "pc": pc, "container": container}


def run(groups: list, quick: bool) -> dict:
    """The figures of ``groups``; a group that cannot run is reported on stderr and left
    out, so one missing data set or API does not lose the others' figures."""
    import lvc

    print(f"measuring the lvc at {Path(lvc.__file__).parent}", file=sys.stderr)
    figures = {}
    for group in groups:
        try:
            figures.update(GROUPS[group](quick))
        except NotImplementedError as e:
            print(f"{group}: skipped ({e})", file=sys.stderr)
        except Exception as e:  # an older lvc that fails differently: still a result
            print(f"{group}: failed ({type(e).__name__}: {e})", file=sys.stderr)
    return figures
