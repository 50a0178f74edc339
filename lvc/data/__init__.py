"""Training from compressed data: datasets over ``.lvc`` files and shards, packing.

- ``LVCDataset``: map-style, over a folder, a glob or a list of ``.lvc`` files.
- ``ShardDataset``: iterable, over ``codec pack`` tar shards (WebDataset layout),
  split across DataLoader workers and DDP ranks.
- ``pack`` / ``unpack``: a folder tree of media files to shards and back (``codec
  pack`` / ``codec unpack``), locally or on Dask.
Labels follow ImageFolder (sub-folder names) or a ``name,label`` CSV. Every dataset
takes ``output="latent"`` for a learned codec's latent (``lvc.decode_latent``).
"""

from .dataset import LVCDataset, find_lvc_files
from .labels import read_labels
from .pack import pack, unpack
from .shard_dataset import ShardDataset

__all__ = ["LVCDataset", "ShardDataset", "find_lvc_files", "pack", "read_labels", "unpack"]
