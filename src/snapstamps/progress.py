"""Progress reporting, one mechanism for every pipeline: the ``snapstamps`` logger.

Lines (a step started or done, an orbit found, a pair's burst done, a parameter adapted) are
records of the ``snapstamps`` logger, info or warning; :func:`setup_logging` shows them on
stderr (``HH:MM:SS message``, ``HH:MM:SS warning: message``; ``--quiet`` keeps the warnings).
Kernels accept an optional ``progress(fraction)`` callback; :func:`step_progress` gives one for
a named step: a bar on a terminal, log lines at every 25 % otherwise.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

log = logging.getLogger("snapstamps")

ProgressFn = Callable[[float], None]


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever ``sys.stderr`` is when a record is emitted (tests swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if record.levelno >= logging.WARNING:
            head, _, rest = line.partition(" ")
            return f"{head} warning: {rest}"
        return line


def setup_logging(quiet: bool = False) -> None:
    """Show the ``snapstamps`` logger's lines on stderr (warnings only when ``quiet``); idempotent."""
    logger = logging.getLogger("snapstamps")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


def _is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def step_progress(name: str, enabled: bool = True) -> Iterator[ProgressFn]:
    """Yield a ``progress(fraction)`` callback for one processing step.

    On a terminal a rich progress bar is drawn; otherwise a log line is written at
    the start, at every 25 % and at the end (with the elapsed time).
    """
    t0 = time.perf_counter()
    if enabled and _is_tty():
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            transient=False,
        ) as bar:
            task = bar.add_task(name, total=1.0)

            def update(fraction: float) -> None:
                bar.update(task, completed=min(max(fraction, 0.0), 1.0))

            yield update
            bar.update(task, completed=1.0)
        return

    log.info("%s: started", name)
    last = [0.0]

    def update_log(fraction: float) -> None:
        if fraction - last[0] >= 0.25 and fraction < 1.0:
            last[0] = fraction
            log.info("%s: %3.0f%%", name, 100 * fraction)

    yield update_log
    log.info("%s: done in %.1f s", name, time.perf_counter() - t0)

