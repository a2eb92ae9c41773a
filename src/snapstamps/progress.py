"""Progress reporting: a bar per step on a terminal, plain log lines otherwise.

Kernels accept an optional ``progress(fraction)`` callback; :func:`step_progress` gives
one for a named step and closes it when the step ends.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("snapstamps")

ProgressFn = Callable[[float], None]


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

