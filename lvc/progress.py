"""Progress of long work inside one call: tiles, pieces, diffusion steps.

Codecs wrap their long loops in ``track(items, label, total)``. Nothing is shown and
nothing is paid unless a front end has installed a reporter with ``reporting(...)``
(the CLI does, on a terminal), so a library user or a DataLoader worker sees no
output. A reporter is honoured only in the process that installed it: a forked worker
inherits the variable but must not draw on its parent's terminal.
"""

from __future__ import annotations

import contextlib
import contextvars
import os

_REPORTER = contextvars.ContextVar("lvc_progress", default=None)


class Reporter:
    """What a front end implements: ``start(label, total)`` returns ``advance()``;
    ``finish()`` is called when the loop ends (or is left early)."""

    def start(self, label: str, total: int | None):  # pragma: no cover - interface
        raise NotImplementedError

    def finish(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def track(items, label: str, total: int | None = None):
    """Yield from ``items``, reporting one step per item to the installed reporter."""
    installed = _REPORTER.get()
    if installed is None or installed[1] != os.getpid():
        yield from items
        return
    reporter = installed[0]
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    advance = reporter.start(label, total)
    try:
        for item in items:
            yield item
            advance()
    finally:
        reporter.finish()


@contextlib.contextmanager
def reporting(reporter: Reporter | None):
    """Send ``track`` steps to ``reporter`` (None: report nothing) inside the block."""
    token = _REPORTER.set(None if reporter is None else (reporter, os.getpid()))
    try:
        yield reporter
    finally:
        _REPORTER.reset(token)
