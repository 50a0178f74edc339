"""lvc as a numcodecs codec (id ``lvc``): Zarr arrays and xarray datasets store their
chunks as ``.lvc`` files.

    import zarr
    from lvc.data.zarr_codec import LVCZarrCodec
    z = zarr.array(cube, chunks=(64, 64, 32),
                   compressor=LVCZarrCodec("liveaction-hsi", max_error=1))

Zarr (format 2) hands the compressor each chunk as an array of the chunk shape
(edge chunks padded), so the codec sees shapes and dtypes as ``lvc.encode`` wants
them. The config (``codec``, ``quality``, ``max_error``) is stored in the array's
metadata; numcodecs finds this class through the ``numcodecs.codecs`` entry point.
"""

from __future__ import annotations

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray, ndarray_copy
from numcodecs.registry import register_codec


class LVCZarrCodec(Codec):
    """Encode each chunk with ``lvc.encode(chunk, codec, quality, max_error=...)``."""

    codec_id = "lvc"

    def __init__(self, codec: str | None = None, quality: int | None = None, max_error=None):
        self.codec, self.quality, self.max_error = codec, quality, max_error

    def encode(self, buf):
        import lvc

        array = np.asarray(buf)
        return lvc.encode(np.ascontiguousarray(array), self.codec, self.quality,
                          max_error=self.max_error)

    def decode(self, buf, out=None):
        import lvc

        array = lvc.decode(bytes(ensure_contiguous_ndarray(buf)))
        return array if out is None else ndarray_copy(array, out)

    def get_config(self) -> dict:
        return {"id": self.codec_id, "codec": self.codec, "quality": self.quality,
                "max_error": self.max_error}


register_codec(LVCZarrCodec)
