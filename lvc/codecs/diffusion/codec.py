"""``dualdiff``: dual-representation coding at ultra-low rates.

Explicit branch: the image shrunk by 2 or 4 and coded by a base codec
(``explicit.py``; LiVeAction through the registry). Implicit branch: DiffC
(``diffc.py``) sends a noisy image x_{t*} by reverse-channel coding (``rcc.py``)
against a diffusion prior conditioned on the explicit reconstruction; the decoder
then denoises x_{t*} deterministically (DDIM). Streams: [explicit .lvc file, RCC
stream, alpha PNG (LA/RGBA only, lossless as in the other image codecs)]; the shared randomness is keyed by the sha256 of the explicit stream, the
image shape and the codec id, so both sides derive it from the file.

Knobs: the quality picks (explicit level, stop step t*): more explicit bits, or more
implicit steps. The distortion-perception knob ``realism`` in [0, 1] (stored in the
header) blends the generated image with the explicit reconstruction:
``out = realism * generated + (1 - realism) * explicit`` (1: most realistic, 0: the
base codec's blurry but safe reconstruction).

``dualdiff-implicit`` is the same codec without the explicit branch (the prior is
conditioned on zeros): the DiffC baseline that shows what the explicit branch saves.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ...errors import BadInputError, CorruptStreamError
from ...formats.media import Media, to_rgb8
from ..base import Codec, Encoded
from ..classical.image import alpha_from_png, alpha_to_png, split_alpha
from . import diffc, rcc
from .explicit import decode_explicit, encode_explicit, from_unit, to_unit

STEPS = 12
"""Timesteps of the reverse process (DiffC steps down to t*, then DDIM to 0)."""
TARGET_BITS = 6
"""KL per RCC chunk: the encoder draws 2 ** (6 + PAD) candidates per chunk (CPU)."""
QUALITIES = ((0, 0), (0, 3), (1, 3), (2, 3), (2, 4), (3, 4))
"""Quality -> (explicit level, t* index into the STEPS timesteps), low to high."""
IMPLICIT_QUALITIES = (3, 4, 5, 6)
"""dualdiff-implicit: quality -> t* index (1 and 2 share dualdiff's t* values)."""


def stream_key(codec_id: str, explicit: bytes, shape: tuple) -> bytes:
    h = hashlib.sha256(codec_id.encode())
    h.update(repr(tuple(int(v) for v in shape)).encode())
    h.update(explicit)
    return h.digest()


class DualDiffCodec(Codec):
    decode_memory = 160.0  # an estimate: the U-Net runs on the whole image, float64 copies
    id = "dualdiff"
    modality = "image"
    lossless = False
    quality_range = (1, len(QUALITIES))
    default_quality = 3
    description = "dual-representation diffusion (explicit LiVeAction + DiffC texture)"
    options = ("realism",)
    levels = QUALITIES  # quality -> (explicit level or None, t* index)

    def fingerprint(self) -> bytes:
        from .weights import load_denoiser

        return load_denoiser()[1]

    def settings(self, quality: int, error=BadInputError) -> tuple:
        """(explicit level or None, stop index)."""
        if not 1 <= quality <= len(self.levels):
            raise error(f"{self.id}: quality {quality} is not in 1..{len(self.levels)}")
        return self.levels[quality - 1]

    def _prior(self, cond: np.ndarray):
        from .model import x0_fn
        from .weights import load_denoiser

        return x0_fn(load_denoiser()[0], cond)

    def encode(self, media: Media, quality: int, realism: float = 1.0) -> Encoded:
        self.check_media(media)
        if not 0.0 <= float(realism) <= 1.0:
            raise BadInputError(f"realism must be in [0, 1], got {realism}")
        color, alpha = split_alpha(media.data)
        x = to_rgb8(color)
        level, stop = self.settings(quality)
        explicit = encode_explicit(x, level) if level is not None else b""
        cond = to_unit(decode_explicit(explicit, x.shape)) if explicit else \
            np.zeros((3,) + x.shape[:2])
        key = stream_key(self.id, explicit, x.shape)
        steps = diffc.timesteps(STEPS)
        codes, _, kls = diffc.encode(to_unit(x), self._prior(cond), key, steps, stop,
                                     TARGET_BITS)
        implicit = rcc.write_steps(codes, TARGET_BITS) if codes else b""
        streams = [explicit, implicit] + ([alpha_to_png(alpha)] if alpha is not None else [])
        return Encoded(streams, {
            "realism": float(realism), "kl_bits": round(sum(kls), 1)})

    def decode(self, header, streams: list) -> Media:
        shape = tuple(header.shape)
        has_alpha = len(shape) == 3 and shape[2] in (2, 4)
        if len(streams) != 2 + has_alpha:
            raise CorruptStreamError(f"{self.id}: expected {2 + has_alpha} streams, found "
                                     f"{len(streams)}")
        explicit, implicit = streams[:2]
        level, stop = self.settings(header.quality, CorruptStreamError)
        realism = header.metadata.get("realism", 1.0)
        if not isinstance(realism, (int, float)) or not 0.0 <= realism <= 1.0:
            raise CorruptStreamError(f"corrupt header: realism {realism!r}")
        rgb_shape = shape[:2] + (3,)
        if (level is None) != (not explicit):
            raise CorruptStreamError(f"{self.id}: explicit stream does not match quality")
        cond = to_unit(decode_explicit(explicit, rgb_shape, level)) if explicit else \
            np.zeros((3,) + rgb_shape[:2])
        key = stream_key(self.id, explicit, rgb_shape)
        steps = diffc.timesteps(STEPS)
        codes = rcc.read_steps(implicit, stop, TARGET_BITS) if stop else []
        fn = self._prior(cond)
        x = diffc.decode(codes, fn, key, steps, (3,) + rgb_shape[:2])
        out = diffc.ddim(x, fn, steps, stop)
        if explicit and realism < 1.0:
            out = realism * out + (1.0 - realism) * cond
        y = from_unit(out)
        if len(shape) == 2 or shape[2] == 2:  # gray (+ alpha): the mean of the colour
            y = np.round(y.astype(np.float64).mean(axis=2)).astype(np.uint8)
        if has_alpha:
            a = alpha_from_png(streams[2], shape[1], shape[0], self.id)
            y = np.concatenate([y.reshape(shape[:2] + (-1,)), a[:, :, None]], axis=2)
        return Media(y, "image")


class DualDiffImplicitCodec(DualDiffCodec):
    id = "dualdiff-implicit"
    quality_range = (1, len(IMPLICIT_QUALITIES))
    default_quality = 2
    description = "DiffC only (the dualdiff prior without its explicit branch)"
    options = ()
    levels = tuple((None, stop) for stop in IMPLICIT_QUALITIES)
