"""numba's ``njit`` for the ifg kernels, with its on-disk cache wherever one can be written.

numba caches compiled kernels in ``NUMBA_CACHE_DIR`` when set, else next to the sources
(``__pycache__``); where the package folder is read-only (a system install, a container run as
another user) this module points ``NUMBA_CACHE_DIR`` at a per-user temporary folder before numba
is imported (``$HOME`` is often a throw-away folder under a CWL runner).  Where none is writable (a
read-only install run by another user with an unwritable ``HOME``) ``njit(cache=True)`` raises
at decoration; :func:`njit` then compiles in memory for this process only (a few seconds per
process, see :data:`COMPILE_NOTE`), instead of failing the import.  The kernels never use
``fastmath``: they must give the numpy expressions' results to the last bit where stated.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar


def _cache_dir() -> None:
    """Point numba's cache at a per-user temporary folder where the package folder is read-only."""
    if os.environ.get("NUMBA_CACHE_DIR") or os.access(Path(__file__).parent, os.W_OK):
        return
    d = str(Path(tempfile.gettempdir()) / f"snapstamps-numba-{os.getuid()}")
    os.environ["NUMBA_CACHE_DIR"] = d
    if "numba" in sys.modules:  # already imported: its configuration was read then
        sys.modules["numba"].config.CACHE_DIR = d


_cache_dir()

import numba  # noqa: E402

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
