"""What a dataset item is: a decoded ``.lvc`` file (or its latent) as an array or tensor.

Shared by ``LVCDataset`` (files) and ``ShardDataset`` (tar shards), so both give the
same samples for the same bytes. Each DataLoader worker process sets its own torch
thread count (the cores it may use divided by the workers) on first use, so
``num_workers=N`` does not oversubscribe the machine with N x the default threads.
"""

from __future__ import annotations

import os

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


def _threads_per_worker() -> int:
    import torch.utils.data as tud

    info = tud.get_worker_info()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // (info.num_workers if info else 1))


_threads_set_in = None  # the pid whose torch threads were set (a forked worker re-sets)


def set_worker_threads() -> None:
    """Once per process: torch and BLAS threads = cores / DataLoader workers (numpy's
    OpenBLAS threads spin after each call: left at the machine's core count in every
    worker they take the cores the other workers decode on)."""
    global _threads_set_in
    if _threads_set_in != os.getpid():
        import torch
        from threadpoolctl import threadpool_limits

        threads = _threads_per_worker()
        torch.set_num_threads(threads)
        threadpool_limits(threads)
        _threads_set_in = os.getpid()


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
