"""``codec demo``: the main job end to end on the embedded sample image.

Writes the sample, encodes, decodes and measures, using the same library calls as
``codec encode``/``decode``, so the printed equivalent commands reproduce the files.
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import api
from ..codecs.registry import DEFAULT_CODEC, get_codec
from ..errors import BadInputError
from ..formats.container import read_header
from ..formats.files import write_bytes_atomic
from ..eval.metrics import psnr
from ..samples import sample_image
from .report import rate


def run_demo(out_dir, codec: str | None = None, quality: int | None = None) -> dict:
    """Run sample -> .lvc -> decoded image in ``out_dir``, replacing only its own three files."""
    out_dir = Path(out_dir)
    codec = codec or DEFAULT_CODEC["image"]
    c = get_codec(codec)  # imports the codec now, so timings measure coding only
    if c.modality != "image":
        raise BadInputError(f"the demo codes an image; '{codec}' is an {c.modality} codec")
    quality = c.check_quality(quality)
    image = sample_image()
    paths = {k: out_dir / f"sample{s}" for k, s in
             (("original", ".png"), ("encoded", ".lvc"), ("decoded", ".decoded.png"))}
    api.write(paths["original"], image, overwrite=True)

    t0 = time.perf_counter()
    data = api.encode(image, codec, quality)
    t1 = time.perf_counter()
    decoded = api.decode(data)
    t2 = time.perf_counter()
    write_bytes_atomic(paths["encoded"], data, overwrite=True)
    api.write(paths["decoded"], decoded, overwrite=True)

    header = read_header(data)
    h, w = image.shape[:2]
    return {"paths": {k: str(v) for k, v in paths.items()}, "codec": header.codec,
            "quality": header.quality, "width": w, "height": h,
            "png_bytes": paths["original"].stat().st_size, "bytes": len(data),
            **rate(header, len(data)), "psnr": psnr(image, decoded),
            "encode_s": t1 - t0, "decode_s": t2 - t1}
