"""The CLI's progress display, on stderr when it is a terminal (silent otherwise, and
with ``--quiet``): a files bar for batches, and inside a file the codec's own steps
(tiles, pieces, diffusion steps, from ``lvc.progress.track``) once a loop has run for
more than ``DELAY`` seconds. Result and error lines go through ``echo``, which prints
them above a live bar, so the bar never leaves debris between lines.
"""

from __future__ import annotations

import sys
import time

import click

from ..progress import Reporter


def is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


class TerminalProgress(Reporter):
    DELAY = 1.0  # seconds a loop runs before its bar appears

    def __init__(self, files: int, label: str, enabled: bool | None = None, console=None):
        self.enabled = is_terminal(sys.stderr) if enabled is None else enabled
        self.files, self.label, self.console = files, label, console
        self.bar = None
        self.file_task = None
        self.steps = []  # open loops, innermost last: {"task", "done", "t0"}

    def __enter__(self):
        if self.enabled and self.files > 1:
            self._show()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()  # transient: the bar's lines are cleared
            self.bar = None

    def _show(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
            TimeElapsedColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(),
                            console=self.console or Console(stderr=True), transient=True,
                            redirect_stdout=False, redirect_stderr=False)
        self.bar.start()
        if self.files > 1:
            self.file_task = self.bar.add_task(self.label, total=self.files)

    def file_done(self) -> None:
        if self.bar is not None and self.file_task is not None:
            self.bar.advance(self.file_task)
            self.bar.refresh()

    # ------------------------------------------------ lvc.progress.Reporter
    def start(self, label: str, total: int | None):
        step = {"task": None, "done": 0, "t0": time.monotonic()}
        self.steps.append(step)

        def advance():
            step["done"] += 1
            if not self.enabled:
                return
            if step["task"] is not None:
                self.bar.advance(step["task"])
            elif time.monotonic() - step["t0"] >= self.DELAY:
                if self.bar is None:
                    self._show()
                step["task"] = self.bar.add_task(label, total=total, completed=step["done"])

        return advance

    def finish(self) -> None:
        step = self.steps.pop()
        if step["task"] is not None and self.bar is not None:
            self.bar.remove_task(step["task"])

    # ------------------------------------------------ output lines
    def echo(self, line: str, err: bool = False) -> None:
        """Print a result (stdout) or error (stderr) line; above the bar while one is
        drawn on the terminal that line goes to."""
        if self.bar is not None and (err or is_terminal(sys.stdout)):
            self.bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(line, err=err)

