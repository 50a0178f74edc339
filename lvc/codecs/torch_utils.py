"""Torch helpers shared by the neural codecs (one copy, imported by each).

``stable_cpu``: inference whose float results do not depend on the thread count.
oneDNN (mkldnn) convolutions give results that depend on the number of threads
(LiVeAction: 1 vs 3 threads, 46 of 3.1 M decoded samples of a 1024x1024 image one
level apart), and an entropy model whose parameters differ by one ulp between encoder
and decoder desynchronises the stream. PyTorch's native convolution and the MKL
matmuls are bit-identical for any thread count and across processes for LiVeAction's
layers (1x1 and depthwise convolutions), so codecs run their networks with oneDNN
switched off, at some cost in speed.

``single_thread``: dense 3x3 convolutions on PyTorch's native path still differ in the
last bit between 1 and 2 threads (measured on MLICv2's hyper-synthesis: 9e-9), so
codecs whose entropy parameters come from such layers (hyperpriors, slice contexts)
compute them with one thread on both sides.
"""

from __future__ import annotations

import contextlib
import threading

import torch

from .. import threads

_ONEDNN_LOCK = threading.Lock()
_onednn_users = [0, True]  # [blocks inside stable_cpu, flag to restore]


@contextlib.contextmanager
def stable_cpu(small_kernels: bool = False, onednn_free: bool = False):
    """Inference (``torch.inference_mode``) with thread-count independent float results
    (oneDNN off, see above). ``small_kernels``: a network of many small ops, which
    takes fewer threads when the machine is busy (``lvc.threads``). ``onednn_free``:
    the block's results do not depend on oneDNN (LiVeAction's integer synthesis, which
    only needs it for speed), so it leaves the switch as it is.

    The oneDNN switch is process-wide: it is turned off when the first of any
    concurrent (threaded) codec calls enters and restored when the last one leaves.
    The first call in a process applies lvc's thread policy (``lvc.threads``)."""
    threads.apply(small_kernels=small_kernels)
    if not onednn_free:
        with _ONEDNN_LOCK:
            if _onednn_users[0] == 0:
                _onednn_users[1] = torch.backends.mkldnn.enabled
                torch.backends.mkldnn.enabled = False
            _onednn_users[0] += 1
    try:
        with torch.inference_mode():
            yield
    finally:
        if not onednn_free:
            with _ONEDNN_LOCK:
                _onednn_users[0] -= 1
                if _onednn_users[0] == 0:
                    torch.backends.mkldnn.enabled = _onednn_users[1]


_THREADS_LOCK = threading.Lock()


@contextlib.contextmanager
def single_thread():
    """Run the block with ``torch.set_num_threads(1)`` (restored after; the setting is
    process-wide, so concurrent blocks are serialised)."""
    with _THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)
