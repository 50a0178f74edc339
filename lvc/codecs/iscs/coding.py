"""Slice-coded latents through ``lvc.entropy``: z, then y stage by stage.

One function for both sides (``lvc.codecs.latent_coding``). Order in the stream: z
with the host's EntropyBottleneck tables; then per stage of the layout
(``SliceLayout.stages``) the symbols ``round(y - mu)`` of its slices, slice after
slice, each in channel-major order, with the host's Gaussian scale table.

Slice-parallel decoding: the (scale, mean) networks of a stage's slices need only
earlier stages, so they run side by side on ``workers`` threads. Every network still
runs single-threaded inside its worker (the caller holds ``single_thread``), so each
result is bit-identical to a one-worker run and the worker count never changes the
stream or the decoded image (tested). The ANS symbols of a stage are then coded in
one call, in slice order.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import torch

from ..latent_coding import code_symbols
from ..zoo.codec import code_z


def _run(fn, items: list, pool):
    """``fn`` over ``items``, on ``pool``'s threads when there is one (inference mode
    and grad mode are per thread, so each task enters it again)."""
    def task(item):
        with torch.inference_mode():
            return fn(item)

    return list(pool.map(task, items) if pool is not None and len(items) > 1 else
                map(task, items))


def code_hyper(host, coder, y=None, size=None) -> torch.Tensor:
    """Code or read z as the host codec does (``zoo.codec.code_z``) and return
    ``h_s(z_hat)``; ``size`` is y's (h, w) when decoding."""
    return host.model.h_s(code_z(host, coder, y, size))


def code_slices(handle, coder, hyper: torch.Tensor, y=None, workers: int = 1) -> torch.Tensor:
    """Code or read y stage by stage given the hyper features; returns y_hat."""
    layout, slices = handle.slices.layout, handle.slices
    h, w = hyper.shape[-2:]
    starts, done = layout.starts(), {}
    gc = handle.host.model.gaussian_conditional
    widest = max(len(stage) for stage in layout.stages())
    with (ThreadPoolExecutor(min(workers, widest)) if workers > 1 and widest > 1
          else nullcontext()) as pool:
        for stage in layout.stages():
            params = _run(lambda i: slices.params(i, hyper, done), stage, pool)
            means = torch.cat([m.flatten() for _, m in params])
            indexes = torch.cat([gc.build_indexes(s).flatten() for s, _ in params])
            values = None if y is None else torch.cat(
                [y[:, starts[i]:starts[i] + layout.sizes[i]].flatten() for i in stage])
            flat = code_symbols(coder, values, means, indexes.numpy(), handle.host.gaussian)
            for i, part in zip(stage, flat.split([m.numel() for _, m in params])):
                done[i] = part.view(1, layout.sizes[i], h, w)
    return torch.cat([done[i] for i in range(len(layout.sizes))], 1)


def code_latents(handle, coder, x=None, size=None, workers: int = 1) -> torch.Tensor:
    """Encode padded image ``x`` with an ``Encoder`` or decode the latent of ``size``
    (h, w) with a ``Decoder``; returns the dequantized (permuted) latent."""
    y = None if x is None else handle.host.model.g_a(x)
    hyper = code_hyper(handle.host, coder, y, size)
    return code_slices(handle, coder, hyper, y, workers)
