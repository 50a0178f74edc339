"""The thread policy every lvc codec and command runs under.

Why: torch's OpenMP threads spin-wait between parallel regions (libgomp: 300,000
spins). On a busy machine a spinning thread holds a core that another process, or the
thread's own partner, needs: a LiVeAction decode took 0.34 s idle and 2.1-2.8 s beside
two CPU-bound processes, 4.3-7.2 s beside four. And N worker processes (batch
``--workers``, Dask, DataLoader workers) each with torch's default of one thread per
core oversubscribe the cores N times. (Measured: ``benchmarks/busy_machine.py``.)

The policy:
- a short spin before a waiting OpenMP thread sleeps (``GOMP_SPINCOUNT=1000``, set when
  lvc is imported unless ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` is set; it takes
  effect only if torch is loaded after lvc). Beside two busy processes this alone took
  the LiVeAction decode from 2.7 s to 0.86 s and MLICv2's from 4.8 s to 3.5 s, at
  no cost idle; fully passive waiting (``OMP_WAIT_POLICY=PASSIVE``) was 2.5x slower on
  an idle machine (0.86 s against 0.34 s), the decoder's many small parallel regions
  each waking sleeping threads.
- intra-op threads (torch, and BLAS/OpenMP pools through threadpoolctl) = the cores
  this process may use (CPU affinity, cgroup CPU quota) divided by the concurrent
  worker processes, at least 1.
- networks made of many small kernels (the LiVeAction family: ``stable_cpu(small_kernels=
  True)``) also take no more threads than the cores other runnable processes leave
  free right now (``/proc/loadavg``): a barrier that waits for a descheduled thread
  costs them more than the second core gains (0.68 s with one thread against 0.86 s
  with two, beside two busy processes). Dense convolutions (MLICv2, dualdiff) keep
  their threads: one thread was slower for them under load (4.3 s against 3.5 s).
- ``LVC_THREADS=N`` (or ``codec --threads N``) fixes the count; ``LVC_THREADS=torch``
  leaves torch's defaults and OpenMP's waiting alone (the old behaviour).

Decoded results do not depend on the thread count (``torch_utils.stable_cpu``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .errors import BadInputError

ENV = "LVC_THREADS"
TORCH_DEFAULT = "torch"
_applied = {}  # pid -> threads last applied in that process (a forked child applies again)
_workers = {}  # pid -> concurrent worker processes this one is one of
_fork_cap = {}  # pid of a forked child -> torch's thread count when lvc first looked
_IMPORT_PID = os.getpid()


def setting() -> str | int | None:
    """``LVC_THREADS`` parsed: None (the policy), an int, or ``"torch"``."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value == TORCH_DEFAULT:
        return TORCH_DEFAULT
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise BadInputError(f"{ENV}={value!r}: a number of threads >= 1, 'auto' or 'torch'")
    return n


def configure_environment() -> None:
    """At ``import lvc``: the passive OpenMP wait policy, unless opted out."""
    try:
        if setting() == TORCH_DEFAULT:
            return
    except BadInputError:
        return  # reported when threads are applied
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "1000")


def _cgroup_quota() -> float | None:
    """CPUs the cgroup may use (cgroup v2 ``cpu.max`` or v1 CFS quota), None: no limit."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by the cgroup quota."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else (os.cpu_count() or 1)
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, int(quota)))
    return max(1, cores)


def others_running() -> int:
    """Runnable tasks of other processes now, the least of up to three readings 1 ms
    apart (a kernel thread waking for a moment is not a busy machine); 0 where /proc
    cannot be read."""
    import time

    count = _others_now()
    for _ in range(2):
        if count == 0:
            break
        time.sleep(0.001)
        count = min(count, _others_now())
    return count


def _others_now() -> int:
    """``/proc/loadavg``'s count of runnable tasks less this process's own running
    threads (an OpenMP thread still spinning from the last parallel region is ours)."""
    try:
        runnable = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        own = 0
        for task in Path("/proc/self/task").iterdir():
            with contextlib.suppress(OSError):
                stat = (task / "stat").read_text()
                own += stat[stat.rindex(")") + 2] == "R"
        return max(0, runnable - max(own, 1))
    except (OSError, ValueError, IndexError):
        return 0


def threads_for(workers: int = 1, small_kernels: bool = False) -> int | None:
    """The intra-op thread count for one of ``workers`` concurrent processes, capped by
    the free cores for ``small_kernels`` networks (None: ``LVC_THREADS=torch``)."""
    fixed = setting()
    if fixed == TORCH_DEFAULT:
        return None
    if fixed is not None:
        return fixed
    cores = available_cores()
    n = cores // max(1, workers)
    if small_kernels and n > 1:
        n = min(n, cores - others_running())
    return max(1, n)


def apply(workers: int | None = None, small_kernels: bool = False) -> int | None:
    """Set torch's and the BLAS/OpenMP pools' threads for this process to the policy's
    count now (cheap when unchanged); ``workers`` is remembered for later calls
    (default: what ``worker_init`` recorded, else 1). Returns the count (None: left
    to torch)."""
    pid = os.getpid()
    if workers is not None:
        _workers[pid] = max(1, workers)
    n = threads_for(_workers.get(pid, 1), small_kernels)
    if n is not None and pid != _IMPORT_PID:
        n = min(n, _forked_limit(pid))
    if n is not None and _applied.get(pid) != n:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(n)
        threadpool_limits(n)
    _applied[pid] = n
    return n


def _forked_limit(pid: int) -> int:
    """In a process forked after lvc was imported: no more threads than torch had when
    lvc first looked. GNU OpenMP cannot start a larger team in a child forked from a
    process that used one (it hangs), which is why DataLoader workers and the fuzz
    children run torch with one thread; lvc must not undo that."""
    if pid not in _fork_cap:
        import torch

        _fork_cap[pid] = torch.get_num_threads()
    return _fork_cap[pid]


def worker_init(workers: int) -> None:
    """Initializer of a worker process among ``workers`` (process pools, Dask): the
    count is applied when the worker first runs a network, so a worker that only
    runs classical codecs never imports torch."""
    _workers[os.getpid()] = max(1, workers)
    _applied.pop(os.getpid(), None)


def dask_worker_init(per_host: dict) -> None:
    """``Client.run`` target: this Dask worker shares its host with ``per_host[host]``
    worker processes, each running one task per thread."""
    from distributed import get_worker

    worker = get_worker()
    host = worker.address.split("://")[-1].rsplit(":", 1)[0]
    worker_init(per_host.get(host, 1) * max(1, worker.state.nthreads))
