"""The chunk runner of the psi kernels: order, threads, errors, BLAS limit."""

from __future__ import annotations

import threading
import time

import pytest
from threadpoolctl import threadpool_info

from snapstamps.psi.parallel import available_workers, map_ordered, resolve_workers


def test_results_in_item_order_on_several_threads() -> None:
    seen: set[int] = set()

    def slow_square(x: int) -> int:
        seen.add(threading.get_ident())
        time.sleep(0.002 * ((7 * x) % 5))  # finish out of order
        return x * x

    got = list(map_ordered(slow_square, range(23), 3))
    assert got == [x * x for x in range(23)]
    assert len(seen) >= 2  # the calling thread and pool threads both worked
    assert list(map_ordered(slow_square, range(5), 1)) == [0, 1, 4, 9, 16]
    assert list(map_ordered(slow_square, [], 4)) == []


def test_an_error_in_a_chunk_reaches_the_caller() -> None:
    def boom(x: int) -> int:
        if x == 4:
            raise ValueError("chunk 4 failed")
        return x

    with pytest.raises(ValueError, match="chunk 4 failed"):
        list(map_ordered(boom, range(10), 2))


def test_blas_single_threaded_while_running_and_restored_after() -> None:
    before = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
    inside: list[list[int]] = []

    def probe(_: int) -> None:
        inside.append([d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"])

    list(map_ordered(probe, range(2), 2))
    assert inside and all(all(n == 1 for n in v) for v in inside)
    assert [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"] == before


def test_workers_resolution() -> None:
    assert resolve_workers(None) == available_workers() >= 1
    assert resolve_workers(3) == 3
    with pytest.raises(ValueError, match="workers"):
        resolve_workers(0)
