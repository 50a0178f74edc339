"""LiVeAction codecs for audio, hyperspectral cubes and volumes (``signals.SPECS``).

The image codec's pipeline on any number of axes: the signal is put on
``(C, *axes)`` in [-1, 1] (``signals.py``), cut into tiles of at most ``spec.tile``
per axis (edges on multiples of F, as the image codec's tiles), and each tile coded
independently: encoder -> Laplace companding -> the first ``k`` latent channels
rounded to multiples of ``delta`` (quality level ``k, delta``) -> the integer context
model of ``entropy.py``. That model is 2-D, so a latent ``(k, *s)`` is coded as the
plane ``(k, prod(s[:-1]), s[-1])``: an audio latent as one row, a volume latent as
its slices stacked vertically (the vertical context then crosses slice borders,
which costs a little rate and nothing else).

Streams, in order: for every piece (an audio channel for ``liveaction-audio``, else
the whole signal), for every tile (row-major), one latent stream. Header metadata:
``range`` ([min, max] of a cube or volume, float64), a volume's ``affine`` and
``spacing`` and its source ``format``, and ``tile`` when the signal was tiled.
Determinism as the image codec (``stable_cpu``, integer entropy decoding).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...errors import BadInputError, CorruptStreamError, UnsupportedMediaError
from ...formats.audio_io import float_to_pcm, pcm_to_float32
from ...formats.container import Header
from ...formats.media import Media
from ...progress import track
from ..base import Encoded
from ..torch_utils import stable_cpu
from .codec import LiVeActionBase, latent_tensor, level_symbols, tile_boxes, tile_count
from .entropy import decode_latents, encode_latents
from .signals import (SPECS, audio_gain, cube_axes, cube_from_axes, from_unit, to_unit,
                      value_range)

MIN_SIDE = 2
"""Cubes and volumes need at least 2 samples along every axis (1 is a 2-D image)."""


def plane_shape(shape: tuple) -> tuple:
    """``(k, *s)`` -> the ``(k, h, w)`` plane the 2-D context model codes."""
    k, *s = shape
    return k, math.prod(s[:-1]), s[-1]


def fold(symbols: np.ndarray) -> np.ndarray:
    return symbols.reshape(plane_shape(symbols.shape))


def analyse_signal(model, x: np.ndarray) -> torch.Tensor:
    """Companded latent ``(latent, *ceil(axes / F))`` of one ``(C, *axes)`` float32 tile."""
    with stable_cpu(small_kernels=True):
        return model.quantizer.compand(model.encode(torch.from_numpy(x)[None]))[0]


def tile_latents(model, x: np.ndarray, tile: int) -> tuple:
    """(tile size or None, companded latents of every tile of ``x`` ``(C, *axes)``):
    the signal is tiled only when an axis is longer than ``tile``. Shared by the
    encoder and the table fitting of ``weights.export_weights``."""
    tiled = any(n > tile for n in x.shape[1:])
    boxes = tile_boxes(x.shape[1:], tile if tiled else None, model.config.factor)
    return (tile if tiled else None,
            [analyse_signal(model, np.ascontiguousarray(x[(slice(None),) + b])) for b in boxes])


def synthesise_signal(model, symbols: np.ndarray, delta: float, size: tuple) -> np.ndarray:
    """``(C, *size)`` float32 from a tile's integers ``(k, *latent axes)`` (not clamped:
    a gained audio piece may exceed [-1, 1]; callers clip after undoing the scaling)."""
    with stable_cpu(small_kernels=True):
        latent = latent_tensor(model, symbols, delta)
        return model.decode(latent, size=size, clamp=False)[0].cpu().numpy()


def _gains(header: Header, codec_id: str, count: int) -> list:
    value = header.metadata.get("gain")
    if (not isinstance(value, list) or len(value) != count
            or not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0
                       for v in value)):
        raise CorruptStreamError(f"corrupt header: {codec_id} needs {count} positive gain(s), "
                                 f"found {value!r}")
    return [float(v) for v in value]


def _range(header: Header, codec_id: str) -> tuple:
    """The header's [min, max]: finite, ordered, with a finite span, inside the output
    dtype (a range of +-1e308 would otherwise decode silently to garbage)."""
    value = header.metadata.get("range")
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
            or value[0] > value[1] or not math.isfinite(float(value[1]) - float(value[0]))):
        raise CorruptStreamError(f"corrupt header: {codec_id} needs a [min, max] range, "
                                 f"found {value!r}")
    dtype = np.dtype(header.dtype)
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    if value[0] < float(info.min) or value[1] > float(info.max):
        raise CorruptStreamError(f"corrupt header: range {value!r} is outside {dtype.name}")
    return float(value[0]), float(value[1])


class LiVeActionSignalCodec(LiVeActionBase):
    """Shared pipeline; subclasses map their media to pieces ``(C, *axes)`` and back."""

    decode_memory = 16.0  # float32 pieces and the output dtype (float64 at most)

    @property
    def spec(self):
        return SPECS[self.id]

    # ------------------------------------------------------------ modality hooks
    def to_pieces(self, media: Media) -> tuple:
        """(list of float32 ``(C, *axes)`` arrays in [-1, 1], header metadata)."""
        raise NotImplementedError

    def piece_shapes(self, header: Header) -> list:
        """The axes of every piece of a signal of the header's shape."""
        raise NotImplementedError

    def from_pieces(self, header: Header, pieces: list) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------ the pipeline
    def encode(self, media: Media, quality: int) -> Encoded:
        self.check_media(media)
        pieces, meta = self.to_pieces(media)
        w = self.weights()
        k, delta = self._level(w, quality, BadInputError)
        streams, tile = [], None
        for x in track(pieces, f"{self.id}: encoding"):  # same axes, so the same tiles
            tile, latents = tile_latents(w.model, x, self.spec.tile)
            streams += [encode_latents(fold(level_symbols(v, k, delta)), w.tables[delta])
                        for v in latents]
        return Encoded(streams, {**meta, "tile": tile} if tile else meta)

    def decode(self, header: Header, streams: list, device=None) -> Media:
        w = self.weights()
        model = w.model_on(device)
        k, delta = self._level(w, header.quality, CorruptStreamError)
        factor = w.model.config.factor
        shapes = self.piece_shapes(header)
        if any(min(shape) < 1 for shape in shapes):
            raise CorruptStreamError(f"corrupt header: {self.id} cannot hold an empty signal "
                                     f"{tuple(header.shape)}")
        tile = self.header_tile(header, factor, tuple(max(n) for n in zip(*shapes)),
                                self.spec.tile)
        self.check_stream_count(sum(tile_count(shape, tile, factor) for shape in shapes),
                                streams)
        grids = [tile_boxes(shape, tile, factor) for shape in shapes]
        stream, pieces = track(streams, f"{self.id}: decoding tiles"), []  # one per tile
        for shape, grid in zip(shapes, grids):
            out = np.empty((w.model.config.in_channels,) + tuple(shape), np.float32)
            for box in grid:
                size = tuple(b.stop - b.start for b in box)
                latent = (k,) + tuple(-(-n // factor) for n in size)
                symbols = decode_latents(next(stream), plane_shape(latent),
                                         w.tables[delta]).reshape(latent)
                out[(slice(None),) + box] = synthesise_signal(model, symbols, delta, size)
            pieces.append(out)
        stream.close()  # counts the last tile
        return Media(self.from_pieces(header, pieces), header.modality)


# ---------------------------------------------------------------- audio
class LiVeActionAudioCodec(LiVeActionSignalCodec):
    """Mono model; every channel of any layout is coded on its own."""

    id = "liveaction-audio"
    modality = "audio"
    quality_range = (1, len(SPECS["liveaction-audio"].rate_levels))
    default_quality = 4
    description = SPECS["liveaction-audio"].description

    def _float(self, media: Media) -> np.ndarray:
        data = pcm_to_float32(media.data)
        data = data[:, None] if data.ndim == 1 else data
        if data.shape[0] == 0:
            raise UnsupportedMediaError(f"{self.id}: the audio has no samples")
        if not np.isfinite(data).all():
            raise BadInputError(f"{self.id}: the audio holds NaN or infinite samples")
        return np.clip(data, -1.0, 1.0)

    def _gained(self, pieces: list) -> tuple:
        """The pieces at the models' level (``signals.audio_gain``) and their gains."""
        gains = [audio_gain(x) for x in pieces]
        return [x * np.float32(g) for x, g in zip(pieces, gains)], {"gain": gains}

    def to_pieces(self, media: Media) -> tuple:
        data = self._float(media)
        return self._gained([np.ascontiguousarray(c[None]) for c in data.T])

    def piece_shapes(self, header: Header) -> list:
        channels = header.shape[1] if len(header.shape) == 2 else 1
        return [(header.shape[0],)] * channels

    def from_pieces(self, header: Header, pieces: list) -> np.ndarray:
        gains = _gains(header, self.id, len(pieces))
        data = np.concatenate([x / np.float32(g) for x, g in zip(pieces, gains)], 0).T
        return float_to_pcm(np.clip(data, -1.0, 1.0).reshape(header.shape), header.dtype)


class LiVeActionAudio4Codec(LiVeActionAudioCodec):
    """4-channel model: the channels of a 4-channel recording are coded jointly."""

    id = "liveaction-audio4"
    quality_range = (1, len(SPECS["liveaction-audio4"].rate_levels))
    description = SPECS["liveaction-audio4"].description

    def to_pieces(self, media: Media) -> tuple:
        data = self._float(media)
        if data.shape[1] != self.spec.channels:
            raise UnsupportedMediaError(
                f"{self.id} codes {self.spec.channels}-channel audio jointly; this has "
                f"{data.shape[1]} channel(s) (liveaction-audio codes any layout)")
        return self._gained([np.ascontiguousarray(data.T)])

    def piece_shapes(self, header: Header) -> list:
        if len(header.shape) != 2 or header.shape[1] != self.spec.channels:
            raise CorruptStreamError(f"corrupt header: {self.id} holds "
                                     f"{self.spec.channels}-channel audio, not {header.shape}")
        return [(header.shape[0],)]


# ---------------------------------------------------------------- cubes and volumes
class _ArrayCodec(LiVeActionSignalCodec):
    """Linear [min, max] -> [-1, 1] scaling; ``range`` in the header."""

    def axes(self, data: np.ndarray) -> np.ndarray:
        """The model's axis order of the media array (a view)."""
        return data

    def unaxes(self, x: np.ndarray) -> np.ndarray:
        return x

    def axes_shape(self, shape: tuple) -> tuple:
        return shape

    def to_pieces(self, media: Media) -> tuple:
        data = media.data
        if data.ndim != 3 or min(data.shape) < MIN_SIDE:
            raise UnsupportedMediaError(f"{self.id}: a {self.modality} needs 3 axes of at "
                                        f"least {MIN_SIDE} samples, not {data.shape}")
        lo, hi = value_range(data, self.id)
        return [to_unit(self.axes(data), lo, hi)[None]], {"range": [lo, hi]}

    def piece_shapes(self, header: Header) -> list:
        return [self.axes_shape(tuple(header.shape))]

    def from_pieces(self, header: Header, pieces: list) -> np.ndarray:
        return from_unit(self.unaxes(pieces[0][0]), *_range(header, self.id), header.dtype)


class LiVeActionCubeCodec(_ArrayCodec):
    id = "liveaction-hsi"
    modality = "hyperspectral"
    quality_range = (1, len(SPECS["liveaction-hsi"].rate_levels))
    default_quality = 3
    description = SPECS["liveaction-hsi"].description

    def axes(self, data: np.ndarray) -> np.ndarray:
        return cube_axes(data)

    def unaxes(self, x: np.ndarray) -> np.ndarray:
        return cube_from_axes(x)

    def axes_shape(self, shape: tuple) -> tuple:
        return (shape[2], shape[0], shape[1])


class LiVeActionVolumeCodec(_ArrayCodec):
    id = "liveaction-volume"
    modality = "volume"
    quality_range = (1, len(SPECS["liveaction-volume"].rate_levels))
    default_quality = 3
    description = SPECS["liveaction-volume"].description

    def to_pieces(self, media: Media) -> tuple:
        pieces, meta = super().to_pieces(media)
        kept = {k: media.metadata[k] for k in ("affine", "spacing", "format", "nifti")
                if k in media.metadata}
        return pieces, {**kept, **meta}
