"""What a dataset item is: a decoded ``.lvc`` file (or its latent) as an array or tensor.

Shared by ``LVCDataset`` (files) and ``ShardDataset`` (tar shards), so both give the
same samples for the same bytes. Each DataLoader worker process applies lvc's thread
policy on first use (``lvc.threads``: the cores it may use divided by the workers),
so ``num_workers=N`` does not oversubscribe the machine with N x the default threads.
"""

from __future__ import annotations

import numpy as np

from ..errors import BadInputError

OUTPUTS = ("array", "uint8", "float", "latent")
"""``array``: what ``lvc.decode`` gives; ``uint8``: images as uint8 HWC tensors;
``float``: images float32 CHW in [0, 1]; ``latent``: a learned codec's latent values
(float32 (C, h, w) tensor, ``lvc.decode_latent``) without running its synthesis."""


def check_output(output: str) -> str:
    if output not in OUTPUTS:
        raise BadInputError(f"output is one of {', '.join(OUTPUTS)}, not {output!r}")
    return output


def set_worker_threads() -> None:
    """Once per process: lvc's thread policy (``lvc.threads``) for one of the
    DataLoader's workers, torch and BLAS alike (numpy's OpenBLAS threads spin after
    each call: left at the core count in every worker they take the cores the other
    workers decode on)."""
    import torch.utils.data as tud

    from .. import threads

    info = tud.get_worker_info()
    threads.apply(info.num_workers if info else 1)


def load_sample(data: bytes, output: str):
    """The sample ``output`` asks for, from ``.lvc`` bytes."""
    import lvc

    set_worker_threads()
    if output == "latent":
        import torch

        return torch.from_numpy(np.ascontiguousarray(lvc.decode_latent(data).values))
    return to_sample(lvc.decode_media(data), output)


def to_sample(media, output: str):
    """A decoded Media as ``output`` says; audio is a float32 ``(channels, frames)``
    tensor in [-1, 1] with its sample rate (``(array, rate)`` for ``"array"``)."""
    import torch

    data = media.data if media.data.flags.writeable else media.data.copy()
    if output == "array":
        return (data, media.sample_rate) if media.modality == "audio" else data
    if media.modality == "audio":
        from ..formats.audio_io import pcm_to_float32

        x = data if data.dtype.kind == "f" else pcm_to_float32(data)
        x = np.asarray(x, np.float32).reshape(len(data), -1).T
        return torch.from_numpy(np.ascontiguousarray(x)), media.sample_rate
    if media.modality != "image":
        x = torch.from_numpy(np.ascontiguousarray(data))
        return x if output == "uint8" else x.float()
    x = torch.from_numpy(np.ascontiguousarray(data if data.ndim == 3 else data[:, :, None]))
    if output == "uint8":
        return x
    return x.permute(2, 0, 1).float().div_(float(np.iinfo(data.dtype).max))
