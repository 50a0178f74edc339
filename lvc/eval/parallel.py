"""Run many independent jobs: in process, on a local process pool, or on Dask.

``scheduler`` selects the backend for dataset-scale runs:
- ``None``: this process (``workers <= 1``) or a local process pool;
- ``"local"`` / ``"local:N"``: a Dask ``LocalCluster`` of N (default ``workers``)
  single-threaded worker processes, started and stopped here;
- ``"tcp://host:port"``: an existing Dask distributed scheduler (its workers need
  lvc installed and the data paths visible).
Jobs must be picklable module-level functions; results come back as they finish.
"""

from __future__ import annotations

import contextlib
import sys

from .. import threads
from ..errors import BadInputError, CodecUnavailableError


def map_unordered(fn, items: list, workers: int = 1, scheduler: str | None = None):
    """Yield ``(index, fn(items[index]))`` as each job finishes."""
    if scheduler:
        yield from _dask_map(fn, items, workers, scheduler)
    elif workers > 1 and len(items) > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        n = min(workers, len(items))
        with ProcessPoolExecutor(max_workers=n, initializer=threads.worker_init,
                                 initargs=(n,)) as pool:
            futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
            for future in as_completed(futures):
                yield futures[future], future.result()
    else:
        for i, item in enumerate(items):
            yield i, fn(item)


def map_ordered(fn, items: list, workers: int = 1, scheduler: str | None = None):
    """Like ``map_unordered`` but yields results in input order (buffering early ones)."""
    done, nxt = {}, 0
    for i, result in map_unordered(fn, items, workers, scheduler):
        done[i] = result
        while nxt in done:
            yield done.pop(nxt)
            nxt += 1


@contextlib.contextmanager
def dask_client(scheduler: str, workers: int = 2):
    """A ``distributed.Client`` for ``local[:N]`` or a scheduler address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise CodecUnavailableError(
            "Dask runs need the 'distributed' package: pip install 'lvc[dist]'") from None
    if scheduler == "local" or scheduler.startswith("local:"):
        n = int(scheduler.split(":", 1)[1]) if ":" in scheduler else max(workers, 1)
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.run(threads.worker_init, n)
            yield client
    elif scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://")):
        with Client(scheduler) as client:
            hosts = [w["host"] for w in client.scheduler_info()["workers"].values()]
            client.run(threads.dask_worker_init, {h: hosts.count(h) for h in hosts})
            yield client
    else:
        raise BadInputError(f"--scheduler must be 'local', 'local:N' or tcp://host:port, "
                            f"not {scheduler!r}")


def _dask_map(fn, items, workers, scheduler):
    if not items:
        return
    from distributed import as_completed

    with dask_client(scheduler, workers) as client:
        futures = client.map(fn, items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for future in as_completed(futures):
            yield index[future.key], future.result()


@contextlib.contextmanager
def progress(total: int, label: str, enabled: bool | None = None):
    """Yield an ``advance()`` callable; a rich progress bar on stderr when enabled
    (default: more than one job and stderr is a terminal)."""
    if enabled is None:
        enabled = total > 1 and sys.stderr.isatty()
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True,
                  redirect_stdout=sys.stdout.isatty()) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
