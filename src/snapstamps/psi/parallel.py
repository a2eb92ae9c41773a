"""Threads for the chunked numerical kernels of steps 2 and 3.

The kernels process pixels, cells or tiles in independent chunks whose heavy work is numpy
ufuncs, selections, BLAS and pocketfft calls, which release the GIL; running the chunks on a
few threads uses the machine's cores without extra processes or copies of the inputs.  Results
never depend on the number of threads: chunk boundaries are fixed by the kernels, and results
are consumed in chunk order.

While the chunks run, the BLAS libraries are limited to one thread each (``threadpoolctl``):
OpenBLAS would otherwise split a large enough product over its own threads, which then spin
waiting for work (more so when called from several threads at once) -- measured here, step 3
took 4x the CPU time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Any, TypeVar

__all__ = ["available_workers", "resolve_workers", "map_ordered"]

T = TypeVar("T")
R = TypeVar("R")


def available_workers() -> int:
    """Number of CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int | None) -> int:
    """``workers`` threads, or all available CPUs for ``None``; at least 1."""
    if workers is None:
        return available_workers()
    if int(workers) < 1:
        raise ValueError(f"workers must be >= 1 (got {workers})")
    return int(workers)


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    """threadpoolctl's view of the BLAS libraries loaded now (numpy's at least)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def map_ordered(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``fn(item)`` for each item, in order, computed on ``workers`` threads.

    The calling thread is one of them: items go in rounds of ``workers``, the first of a round
    computed here and the others on ``workers - 1`` pool threads (each thread that allocates
    gets its own malloc arena, which keeps the memory it has used; fewer threads, less resident
    memory).  Results are yielded in item order as each round completes, so only one round of
    results is held at a time.  With one worker this is a plain loop in the calling thread.
    """
    with _blas_controller().limit(limits=1, user_api="blas"):
        if workers <= 1:
            for item in items:
                yield fn(item)
            return
        it = iter(items)
        with ThreadPoolExecutor(max_workers=workers - 1) as pool:
            while True:
                batch = list(islice(it, workers))
                if not batch:
                    return
                futures: list[Future[R]] = [pool.submit(fn, x) for x in batch[1:]]
                first = fn(batch[0])
                yield first
                for f in futures:
                    yield f.result()
