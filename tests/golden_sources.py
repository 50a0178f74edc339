"""Deterministic inputs of the golden files, and the script that (re)writes them.

Run ``python tests/golden_sources.py`` only when the format deliberately gains a new
golden file; existing golden files are never rewritten (they pin what old releases
wrote, and every later release must still decode them).
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).parent / "golden"

# name -> (codec, quality, kind); kind picks the source signal
CASES = {
    "toy_lossless_rgb_v1_0": ("toy-lossless", None, "rgb"),
    "png_rgba_v1_0": ("png", 6, "rgba"),
    "png_gray16_v1_0": ("png", 6, "gray16"),
    "jpeg_rgb_v1_0": ("jpeg", 80, "rgb"),
    "webp_rgb_v1_0": ("webp", 80, "rgb"),
    "flac_stereo_v1_0": ("flac", 5, "stereo"),
    "opus_mono_v1_0": ("opus", 6, "mono"),
}


def source(kind: str):
    """(array, sample_rate) for a golden case."""
    rng = np.random.default_rng(2026)
    yy, xx = np.mgrid[0:40, 0:56]
    rgb = np.stack([128 + 100 * np.sin(xx / 7), 128 + 90 * np.cos(yy / 5),
                    (xx * 3 + yy * 2) % 256], -1) + rng.normal(0, 4, (40, 56, 3))
    rgb = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    if kind == "rgb":
        return rgb, None
    if kind == "rgba":
        return np.concatenate([rgb, (xx * 4 % 256).astype(np.uint8)[:, :, None]], -1), None
    if kind == "gray16":
        return (xx * 1000 + yy * 37).astype(np.uint16), None
    t = np.arange(16000) / 16000
    tone = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.normal(size=t.size)
    if kind == "stereo":
        return (np.stack([tone, np.roll(tone, 50)], -1) * 32767).astype(np.int16), 16000
    return tone.astype(np.float32), 16000


def digest(array) -> str:
    a = np.ascontiguousarray(array)
    return hashlib.sha256(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes()).hexdigest()


def main():
    sys.path.insert(0, str(Path(__file__).parent))
    import toy_codec  # noqa: F401

    import lvc

    manifest_path = GOLDEN / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for name, (codec, quality, kind) in CASES.items():
        path = GOLDEN / f"{name}.lvc"
        if path.exists():
            continue
        x, sr = source(kind)
        data = lvc.encode(x, codec=codec, quality=quality, sample_rate=sr)
        path.write_bytes(data)
        manifest[name] = {"codec": codec, "kind": kind, "bytes": len(data),
                          "decoded_sha256": digest(lvc.decode(data))}
        print("wrote", path, len(data))
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
