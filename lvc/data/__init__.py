"""Datasets over ``.lvc`` files for training pipelines (``torch.utils.data``).

``LVCDataset`` is map-style over a folder, a glob or a list of ``.lvc`` files, with
labels from sub-folder names (ImageFolder) or a ``name,label`` CSV. Shards, packing and
latent access (issue 22's other parts) are not built yet.
"""

from .dataset import LVCDataset, find_lvc_files, read_labels

__all__ = ["LVCDataset", "find_lvc_files", "read_labels"]
