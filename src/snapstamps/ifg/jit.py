"""numba's ``njit`` for the ifg kernels, with its on-disk cache wherever one can be written.

numba caches compiled kernels next to the sources (``__pycache__``), else in the user's cache
folder (``$HOME/.cache/numba``), or in ``NUMBA_CACHE_DIR`` when set.  Where none is writable (a
read-only install run by another user with an unwritable ``HOME``) ``njit(cache=True)`` raises
at decoration; :func:`njit` then compiles in memory for this process only (a few seconds per
process, see :data:`COMPILE_NOTE`), instead of failing the import.  The kernels never use
``fastmath``: they must give the numpy expressions' results to the last bit where stated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import numba

__all__ = ["njit", "uncached"]

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("snapstamps")

#: names of the kernels compiled without an on-disk cache in this process
uncached: list[str] = []

COMPILE_NOTE = "first call compiles (about 1-3 s per kernel) unless numba's cache holds it"


def njit(**options: Any) -> Callable[[F], F]:
    """``numba.njit(cache=True, **options)``, falling back to ``cache=False`` when no cache folder is writable."""

    def deco(func: F) -> F:
        try:
            return numba.njit(cache=True, **options)(func)  # type: ignore[no-any-return,unused-ignore]
        except RuntimeError as exc:  # "cannot cache function ...: no locator available"
            uncached.append(func.__qualname__)
            log.debug("numba: %s compiled without a cache (%s)", func.__qualname__, exc)
            return numba.njit(cache=False, **options)(func)  # type: ignore[no-any-return,unused-ignore]

    return deco
