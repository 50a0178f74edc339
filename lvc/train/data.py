"""Random training crops from a folder of images (BSDS500 by default).

All images are decoded once into memory (BSDS500 train+test is about 230 MB as
uint8), then crops are drawn with a seeded generator, so a resumed run can
continue the same stream by seeding with the step number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BadInputError, MissingFileError
from ..formats.media import to_rgb8

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def load_folder(folders, min_side: int = 0) -> list:
    """RGB uint8 arrays of every image in ``folders`` (sorted, so the order is stable)."""
    from ..formats.image_io import read_image

    images = []
    for folder in [folders] if isinstance(folders, (str, Path)) else folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise MissingFileError(f"{folder}: no such training folder")
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            x = to_rgb8(read_image(path).data)
            if min(x.shape[:2]) >= min_side:
                images.append(np.ascontiguousarray(x))
    if not images:
        raise BadInputError(f"no training images found in {folders}")
    return images


class CropSampler:
    """Batches of random ``size`` x ``size`` crops with random flips, as float [-1, 1]
    NCHW arrays; ``batch(step)`` is a pure function of (seed, step)."""

    def __init__(self, images: list, size: int = 256, batch_size: int = 8, seed: int = 0):
        self.images = [im for im in images if min(im.shape[:2]) >= size]
        if not self.images:
            raise BadInputError(f"no training image is at least {size} px on both sides")
        self.size, self.batch_size, self.seed = size, batch_size, seed

    def draws(self, step: int):
        """The random choices of batch ``step``: (image index, top, left, flip, rotate)."""
        rng = np.random.default_rng([self.seed, step])
        for _ in range(self.batch_size):
            i = rng.integers(len(self.images))
            shape = self.images[i].shape
            y = rng.integers(0, shape[0] - self.size + 1)
            x = rng.integers(0, shape[1] - self.size + 1)
            yield i, y, x, rng.random() < 0.5, rng.random() < 0.5

    def batch(self, step: int) -> np.ndarray:
        out = np.empty((self.batch_size, 3, self.size, self.size), np.float32)
        for b, (i, y, x, flip, rotate) in enumerate(self.draws(step)):
            crop = self.images[i][y: y + self.size, x: x + self.size]
            if flip:
                crop = crop[:, ::-1]
            if rotate:
                crop = np.rot90(crop)
            out[b] = crop.transpose(2, 0, 1) / 127.5 - 1.0
        return out


class DeviceCropSampler(CropSampler):
    """``CropSampler``'s crops cut, flipped and scaled on ``device`` (a GPU): the images
    are uploaded once and only the random draws stay on the CPU. ``batch(step)`` is a
    float32 tensor on the device with the same values as ``CropSampler.batch(step)``."""

    def __init__(self, images: list, size: int = 256, batch_size: int = 8, seed: int = 0,
                 device="cuda"):
        import torch

        super().__init__(images, size, batch_size, seed)
        self.device = torch.device(device)
        self.tensors = [torch.tensor(im, device=self.device) for im in self.images]

    def batch(self, step: int):
        import torch

        crops = []
        for i, y, x, flip, rotate in self.draws(step):
            crop = self.tensors[i][y: y + self.size, x: x + self.size]
            if flip:
                crop = crop.flip(1)
            if rotate:
                crop = torch.rot90(crop)
            crops.append(crop.permute(2, 0, 1))
        return torch.stack(crops).float() / 127.5 - 1.0


def crop_sampler(images: list, size: int, batch_size: int, seed: int, device="cpu"):
    """``CropSampler`` on the CPU, ``DeviceCropSampler`` on any other device (the same
    crops either way)."""
    if str(device) == "cpu":
        return CropSampler(images, size, batch_size, seed)
    return DeviceCropSampler(images, size, batch_size, seed, device)


def to_device(batch, device):
    """A sampler's batch (numpy or torch) as a float tensor on ``device``."""
    import torch

    return (torch.from_numpy(batch) if isinstance(batch, np.ndarray) else batch).to(device)
