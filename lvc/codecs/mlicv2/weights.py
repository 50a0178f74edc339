"""Where ``mlicv2-tiny`` weights come from (torch-free, so ``codec list`` stays light).

Installed weights are manifest entries ``{"codec": "mlicv2-tiny", "quality": q, ...}``;
``LVC_MLICV2_RANDOM=1`` selects seeded random weights instead (tests, timing).
"""

from __future__ import annotations

import os

from ..manifest import read_manifest

CODEC_ID = "mlicv2-tiny"
RANDOM_ENV = "LVC_MLICV2_RANDOM"


def use_random() -> bool:
    return os.environ.get(RANDOM_ENV, "") not in ("", "0")


def probe() -> str | None:
    """None when the codec can run: random weights asked for, or weights installed."""
    if use_random():
        return None
    entries = [e for e in read_manifest()["weights"] if e.get("codec") == CODEC_ID]
    return None if entries else (f"no trained {CODEC_ID} weights are installed yet "
                                 f"(train with python -m lvc.train mlicv2; {RANDOM_ENV}=1 "
                                 "selects random test weights)")
