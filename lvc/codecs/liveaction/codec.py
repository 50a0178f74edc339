"""``liveaction-rgb``: the LiVeAction image codec (network + integer context entropy model).

Quality ``q`` (1..8) is the rate level ``rate_levels[q - 1] = (k, delta)`` of the
weights (``train.RATE_LEVELS``): the first ``k`` latent channels are sent, each
companded latent value ``v`` as the integer ``round(v / delta)``; the decoder sees
``q * delta`` on those channels and zero on the others.

Layouts: RGB goes through the network as is. Gray is replicated to RGB and the
decoded R, G, B are averaged back to one plane. Alpha (LA, RGBA) is not coded by the
network: the colour is, and the alpha plane travels as a second, lossless PNG
stream (as the JPEG codec does), so decoded alpha is exact. 8-bit samples only.

Tiles: an image larger than ``tile_size`` (1024 px) on either side is cut into a grid
of near-equal tiles, every tile edge but the last on a multiple of F (16), and each
tile is coded independently into its own latent stream (row-major), so memory stays
bounded (a 4000x3000 image codes in well under 2 GB) and tiles could be decoded in
parallel or streamed. The header metadata then holds ``{"tile": size}``, from which
the decoder rebuilds the grid; images that fit in one tile carry no metadata.
Streams: ``[latent stream per tile..., alpha PNG (LA/RGBA only)]``. The network
normalises over a whole tile (GroupNorm, global linear attention), so tiling
changes the reconstruction slightly (``benchmarks/liveaction_large.py`` measures it).

Determinism: entropy decoding is integer-only (``entropy.py``). The network runs in
float32 with oneDNN (mkldnn) switched off (``stable_cpu``, shared with the other neural
codecs in ``lvc/codecs/torch_utils.py``): oneDNN's 1x1 convolutions give results
that depend on the thread count (1 vs 3 threads: 46 of 3.1 M decoded samples of a
1024x1024 image one level apart), while PyTorch's native convolution and the MKL
matmuls are bit-identical for any thread count (checked for 1..4 threads and across
processes). The depthwise 3x3 convolution, whose native grouped kernel runs one tiny
kernel per channel, is computed as nine multiply-adds of shifted views instead
(``model.depthwise3``: faster than oneDNN's and thread-count independent); the encoder
has no convolutions and is unaffected.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from ...errors import BadInputError, CorruptStreamError, UnsupportedMediaError
from ...formats.container import Header
from ...formats.media import Media, as_image
from ...progress import track
from ..base import Codec, Encoded, Latent
from ..classical.image import alpha_from_png, alpha_to_png, split_alpha
from ..torch_utils import stable_cpu
from . import weights as _weights
from .entropy import decode_latents, encode_latents
from .train import RATE_LEVELS

TILE_SIZE = 1024
"""Default tile side in pixels (a multiple of F = 16)."""


# ---------------------------------------------------------------- network helpers
def analyse(model, image: np.ndarray) -> torch.Tensor:
    """Companded latent ``(C, h, w)`` (float, in [-127, 127]) of an (H, W, 3) uint8 image
    ((H, W) gray is replicated to R, G and B)."""
    with stable_cpu(small_kernels=True):
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0)
        x = x[None].expand(3, -1, -1) if x.dim() == 2 else x.permute(2, 0, 1)
        return model.quantizer.compand(model.encode(x[None]))[0]


def level_symbols(companded, channels: int, delta: float) -> np.ndarray:
    """The integers sent for one rate level: ``round(v / delta)`` of the first channels."""
    return torch.round(companded[:channels] / delta).to(torch.int32).numpy()


def latent_tensor(model, symbols: np.ndarray, delta: float) -> torch.Tensor:
    """The decoder's input ``(1, latent channels, *axes)`` on the model's device from a
    tile's integers ``(k, *axes)``: ``symbols * delta``, zero on the channels not sent."""
    device = next(model.parameters()).device
    latent = torch.zeros((1, model.config.latent_channels) + symbols.shape[1:], device=device)
    latent[0, :symbols.shape[0]] = torch.from_numpy(symbols).to(device).float() * delta
    return latent


def synthesise(model, symbols: np.ndarray, delta: float, size: tuple,
               gray: bool = False, decoder=None) -> np.ndarray:
    """(H, W, 3) uint8 reconstruction of an (H, W) = ``size`` tile from its integers;
    (H, W, 1), the mean of R, G and B before rounding, when ``gray``. Runs where
    ``model`` is (a GPU changes the float reconstruction only, never the stream).
    ``decoder``: what ``Weights.decoder_on`` gives (the CPU's integer products); None:
    the float32 reference decoder of ``model``."""
    with stable_cpu(small_kernels=True, onednn_free=decoder is not None):
        y = model.decode(latent_tensor(model, symbols, delta), size=size, decoder=decoder)[0]
        if gray:
            y = y.mean(dim=0, keepdim=True)
        return ((y + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0) \
            .cpu().numpy()


def tile_edges(size: int, tile: int, factor: int) -> list:
    """Edges of the near-equal tiles covering ``0..size`` (interior edges on multiples of
    ``factor``; one tile when ``size <= tile``)."""
    n = -(-size // tile)  # tiles needed
    step = -(-size // n)  # a near-equal share each...
    step = -(-step // factor) * factor  # ...rounded up to a multiple of F (still <= tile)
    return list(range(0, size, step)) + [size]


def tile_count(shape: tuple, tile: int | None, factor: int) -> int:
    """How many tiles ``tile_boxes`` makes, by arithmetic (no list): what a header's
    declared size implies is checked against the streams before anything is built."""
    count = 1
    for size in shape:
        n = -(-size // (tile or size)) if size else 1
        step = -(-(-(-size // n)) // factor) * factor if size else 1
        count *= max(1, -(-size // step))
    return count


def tile_boxes(shape: tuple, tile: int | None, factor: int) -> list:
    """Index tuples (slices) of the tiles covering ``shape`` along any number of axes,
    row-major (``tile=None``: one tile)."""
    edges = [tile_edges(n, tile or n, factor) for n in shape]
    return [tuple(slice(a, b) for a, b in box)
            for box in itertools.product(*[list(zip(e, e[1:])) for e in edges])]


def tile_grid(height: int, width: int, tile: int | None, factor: int) -> list:
    """``(y0, y1, x0, x1)`` of every tile of an image, row-major (``tile=None``: one)."""
    return [(ys.start, ys.stop, xs.start, xs.stop)
            for ys, xs in tile_boxes((height, width), tile, factor)]


# ---------------------------------------------------------------- the codec
class LiVeActionBase(Codec):
    """What every LiVeAction codec shares: its weights (by codec id) and quality levels."""

    decode_memory = 4.0  # uint8/float output plus one tile of float work at a time
    device_decode = "synthesis"  # integer latents: only the synthesis network moves

    lossless = False

    def weights(self) -> _weights.Weights:
        return _weights.load_weights(self.id)

    def fingerprint(self) -> bytes:
        return self.weights().fingerprint

    def _level(self, w: _weights.Weights, quality: int, error) -> tuple:
        if not 1 <= quality <= len(w.rate_levels):
            raise error(f"{self.id}: quality {quality} is not one of the installed weights' "
                        f"levels 1..{len(w.rate_levels)}")
        return w.rate_levels[quality - 1]

    def header_tile(self, header: Header, factor: int, shape: tuple | None = None,
                    max_tile: int | None = None) -> int | None:
        """The tile size a header declares (None: untiled), checked: a multiple of the
        factor, no larger than the codec's own tile (``max_tile``), and absent only when
        every axis of ``shape`` fits in one tile, as encoders write them. This bounds the
        memory of every tile before any stream is decoded."""
        tile = header.metadata.get("tile")
        if tile is not None and (type(tile) is not int or tile < factor or tile % factor
                                 or (max_tile is not None and tile > max_tile)):
            raise CorruptStreamError(f"corrupt header: {self.id} tile size {tile!r}")
        if tile is None and max_tile is not None and shape is not None and \
                any(n > max_tile for n in shape):
            raise CorruptStreamError(f"corrupt header: {self.id} declares an untiled "
                                     f"{'x'.join(map(str, shape))}, larger than its tiles "
                                     f"({max_tile})")
        return tile

    def check_stream_count(self, count: int, streams: list) -> None:
        if len(streams) != count:
            raise CorruptStreamError(f"{self.id}: expected {count} stream(s), found "
                                     f"{len(streams)}: the file is corrupt")


class LiVeActionCodec(LiVeActionBase):
    """LiVeAction: wavelet packet transform + lightweight encoder, int latents coded with
    an integer context model, small CPU-trained decoder. Weights: ``weights.py``."""

    id = "liveaction-rgb"
    modality = "image"
    quality_range = (1, len(RATE_LEVELS))
    default_quality = 4
    description = "LiVeAction (wavelet packet + tiny encoder, CPU-trained small decoder)"
    tile_size = TILE_SIZE

    def encode(self, media: Media, quality: int) -> Encoded:
        self.check_media(media)
        data = as_image(media.data, self.id).data
        if data.dtype != np.uint8:
            raise UnsupportedMediaError(f"{self.id} codes 8-bit images, not {data.dtype}")
        w = self.weights()
        k, delta = self._level(w, quality, BadInputError)
        factor = w.model.config.factor
        tile = self.tile_size
        if tile < factor or tile % factor:
            raise BadInputError(f"{self.id}: tile size {tile} is not a multiple of {factor}")
        color, alpha = split_alpha(data)
        height, width = color.shape[:2]
        tiled = height > tile or width > tile
        streams = []
        boxes = list(tile_grid(height, width, tile if tiled else None, factor))
        for y0, y1, x0, x1 in track(boxes, f"{self.id}: encoding tiles"):
            symbols = level_symbols(analyse(w.model, color[y0:y1, x0:x1]), k, delta)
            streams.append(encode_latents(symbols, w.tables[delta]))
        if alpha is not None:
            streams.append(alpha_to_png(alpha))
        return Encoded(streams, {"tile": tile} if tiled else {})

    def _tiles(self, header: Header, streams: list):
        """Checked header fields and each tile's decoded integers:
        ``(weights, delta, channels, [((y0, y1, x0, x1), symbols), ...] (lazy))``."""
        shape = tuple(header.shape)
        if header.dtype != "uint8" or len(shape) not in (2, 3):
            raise CorruptStreamError(f"corrupt header: {self.id} cannot hold a {header.dtype} "
                                     f"image of shape {shape}")
        w = self.weights()
        k, delta = self._level(w, header.quality, CorruptStreamError)
        factor = w.model.config.factor
        height, width = shape[:2]
        tile = self.header_tile(header, factor, (height, width), self.tile_size)
        channels = shape[2] if len(shape) == 3 else 1
        self.check_stream_count(tile_count((height, width), tile, factor) + (channels in (2, 4)),
                                streams)
        tiles = ((box, decode_latents(stream, (k, -(-(box[1] - box[0]) // factor),
                                               -(-(box[3] - box[2]) // factor)),
                                      w.tables[delta]))
                 for box, stream in zip(tile_grid(height, width, tile, factor), streams))
        return w, delta, channels, tiles

    def decode(self, header: Header, streams: list, device=None) -> Media:
        w, delta, channels, tiles = self._tiles(header, streams)
        # int8 products on the CPU (``integer_synthesis``): 2x faster for 0.001-0.041 dB on
        # Kodak. Not for the signal models: their narrow products gain little (a volume
        # decode was slower) and 4-channel audio lost 0.2 dB.
        model, decoder = w.model_on(device), w.decoder_on(device)
        height, width = tuple(header.shape)[:2]
        with_alpha = channels in (2, 4)
        out = np.empty((height, width, channels), np.uint8)
        color = slice(0, channels - with_alpha)
        count = len(streams) - with_alpha  # one stream per tile (checked), then alpha
        for (y0, y1, x0, x1), symbols in track(tiles, f"{self.id}: decoding tiles", count):
            out[y0:y1, x0:x1, color] = synthesise(model, symbols, delta, (y1 - y0, x1 - x0),
                                                  gray=channels in (1, 2), decoder=decoder)
        if with_alpha:
            out[:, :, -1] = alpha_from_png(streams[-1], width, height, self.id)
        return Media(np.ascontiguousarray(out[:, :, 0]) if channels == 1 else out, "image")

    def decode_latent(self, header: Header, streams: list) -> Latent:
        """The sent channels' integers, (k, ceil(H/16), ceil(W/16)) int8; tiles (their
        interior edges on multiples of 16) are placed side by side, so a tiled image's
        latent has the same layout as an untiled one's."""
        w, delta, _, tiles = self._tiles(header, streams)
        factor = w.model.config.factor
        height, width = tuple(header.shape)[:2]
        k = w.rate_levels[header.quality - 1][0]
        symbols = np.empty((k, -(-height // factor), -(-width // factor)), np.int8)
        for (y0, y1, x0, x1), tile in tiles:
            if tile.size and (tile.min() < -128 or tile.max() > 127):  # encoders send |v| <= 127
                raise CorruptStreamError(f"{self.id}: latent value outside int8: the file is "
                                         "corrupt")
            symbols[:, y0 // factor:-(-y1 // factor), x0 // factor:-(-x1 // factor)] = tile
        return Latent(symbols, symbols.astype(np.float32) * np.float32(delta), self.id,
                      header.quality)
