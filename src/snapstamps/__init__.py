"""snapstamps: Sentinel-1 PSI (SNAP + StaMPS compatible) with a native Python engine.

The Python API (see the README's "Python API" section) is exported here and imported on first
use, so ``import snapstamps`` loads nothing heavy:

* :func:`run_psi`, :func:`run_ifg_stack`: run the pipelines (:mod:`snapstamps.api`);
* :func:`open_step`, :func:`open_points`, :func:`open_displacements`: read a step's saved state
  (xarray) and the final products (pandas, xarray);
* :class:`Client`: submit jobs to a ``snapstamps serve`` service, wait, download the results
  (:mod:`snapstamps.client`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "run_psi": "api",
    "run_ifg_stack": "api",
    "open_step": "api",
    "open_points": "api",
    "open_displacements": "api",
    "PsiRunSummary": "api",
    "STEP_NAMES": "api",
    "PsiParams": "psi.config",
    "Client": "client",
    "Job": "client",
    "JobFailedError": "client",
}

__all__ = [
    "__version__", "run_psi", "run_ifg_stack", "open_step", "open_points", "open_displacements",
    "PsiRunSummary", "STEP_NAMES", "PsiParams", "Client", "Job", "JobFailedError",
]

if TYPE_CHECKING:
    from .api import (
        STEP_NAMES,
        PsiRunSummary,
        open_displacements,
        open_points,
        open_step,
        run_ifg_stack,
        run_psi,
    )
    from .client import Client, Job, JobFailedError
    from .psi.config import PsiParams


def __getattr__(name: str) -> Any:
    """Import the API's modules when one of their names is first used (PEP 562)."""
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'snapstamps' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
