"""Mutations of valid ``.lvc`` files for fuzzing decoders (``tests/test_fuzz.py``,
``benchmarks/fuzz.py``): raw byte damage (caught by the container), payload damage
with recomputed checksums (reaches the codecs' own decoders), header fields rewritten
to absurd values with valid checksums (limits, layout checks), and whole streams
duplicated, dropped or swapped. Each takes the file and a numpy ``Generator``.
"""

from __future__ import annotations

import numpy as np

from ..errors import LVCError
from ..formats.container import DTYPES, MODALITIES, Header, Limits, pack, unpack

CRAFT = Limits(max_elements=2**200, max_streams=1 << 20)
"""What crafted files may declare: far beyond what any reader accepts."""


def raw_damage(data: bytes, rng) -> bytes:
    b = bytearray(data)
    kind = rng.integers(0, 6)
    if kind == 0:
        for _ in range(rng.integers(1, 9)):
            i = rng.integers(0, len(b))
            b[i] ^= 1 << rng.integers(0, 8)
    elif kind == 1:
        b = b[: rng.integers(0, len(b))]
    elif kind == 2:
        i = rng.integers(0, len(b))
        b[i:i] = rng.integers(0, 256, rng.integers(1, 16), dtype=np.uint8).tobytes()
    elif kind == 3:
        i = rng.integers(0, len(b))
        del b[i: i + rng.integers(1, 16)]
    elif kind == 4:
        b = bytearray(rng.integers(0, 256, rng.integers(0, 200), dtype=np.uint8).tobytes())
        if rng.random() < 0.5:
            b[:4] = b"\x89LVC"
    else:
        b += rng.integers(0, 256, rng.integers(1, 32), dtype=np.uint8).tobytes()
    return bytes(b)


def mutate_stream(s: bytes, rng) -> bytes:
    if not s or rng.random() < 0.2:
        return rng.integers(0, 256, rng.integers(0, 64), dtype=np.uint8).tobytes()
    b = bytearray(s)
    if rng.random() < 0.3:
        return bytes(b[: rng.integers(0, len(b))])
    for _ in range(rng.integers(1, 6)):
        i = rng.integers(0, len(b))
        b[i] = rng.integers(0, 256)
    return bytes(b)


def payload_damage(data: bytes, rng) -> bytes:
    """Corrupt stream content but keep every checksum valid."""
    h, streams = unpack(data)
    streams = list(streams)
    if streams:
        i = rng.integers(0, len(streams))
        streams[i] = mutate_stream(streams[i], rng)
    if rng.random() < 0.1:
        streams = streams[:-1] if rng.random() < 0.5 else streams + [b"\x00" * 8]
    return pack(h, streams)


def absurd_int(rng) -> int:
    return int(rng.choice([0, 1, 2, 3, 4, 7, 255, 256, 65535, 2**20, 2**31 - 1, 2**31, 2**40,
                           int(rng.integers(0, 5000))]))


def header_damage(data: bytes, rng) -> bytes:
    """Rewrite header fields to absurd or inconsistent values, checksums valid."""
    h, streams = unpack(data)
    field = rng.integers(0, 7)
    if field == 0:
        h.shape = tuple(absurd_int(rng) for _ in range(rng.integers(0, 9)))
    elif field == 1:
        h.shape = tuple(int(d) + int(rng.integers(-2, 3)) for d in h.shape if d + 2 > 0)
        h.shape = tuple(max(d, 0) for d in h.shape)
    elif field == 2:
        h.dtype = str(rng.choice(DTYPES))
    elif field == 3:
        h.modality = str(rng.choice(MODALITIES))
    elif field == 4:
        h.metadata = {"scale_index": [absurd_int(rng) - 3 for _ in range(rng.integers(0, 5))],
                      "alpha": bool(rng.random() < 0.5)}
    elif field == 5:
        h.sample_rate = absurd_int(rng) if rng.random() < 0.8 else None
    else:
        h.quality = absurd_int(rng) - 1000
    h = Header(h.codec, h.modality, h.shape, h.dtype, h.quality, h.fingerprint, h.sample_rate,
               h.metadata)
    try:
        return pack(h, streams, CRAFT)  # past the writer's own limits: readers must cope
    except LVCError:  # unrepresentable header: damage the raw bytes instead
        return raw_damage(data, rng)




def stream_shuffle(data: bytes, rng) -> bytes:
    """Whole streams duplicated, dropped or swapped, checksums valid."""
    h, streams = unpack(data)
    streams = list(streams)
    kind = rng.integers(0, 3)
    if kind == 0 and streams:
        i = rng.integers(0, len(streams))
        streams.insert(i, streams[i])
    elif kind == 1 and len(streams) > 1:
        del streams[rng.integers(0, len(streams))]
    elif len(streams) > 1:
        i, j = rng.choice(len(streams), 2, replace=False)
        streams[i], streams[j] = streams[j], streams[i]
    else:
        streams = streams + streams
    return pack(h, streams, CRAFT)


MUTATIONS = (raw_damage, payload_damage, header_damage, stream_shuffle)
