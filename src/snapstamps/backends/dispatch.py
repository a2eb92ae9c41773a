"""Which engine runs psi: the native one or StaMPS (``psi --backend native|stamps|auto``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ParameterError

__all__ = ["PSI_BACKENDS", "resolve_psi_backend", "run_psi_backend"]

PSI_BACKENDS = ("native", "stamps", "auto")


def resolve_psi_backend(backend: str) -> str:
    """``native`` or ``stamps`` for a requested backend (``auto``: stamps when found)."""
    if backend not in PSI_BACKENDS:
        raise ParameterError(f"unknown psi backend {backend!r}; choose one of {', '.join(PSI_BACKENDS)}")
    if backend == "auto":
        from .stamps import stamps_available

        return "stamps" if stamps_available() else "native"
    return backend


def run_psi_backend(
    backend: str,
    insar_dir: Path | None,
    out: Path,
    start: int = 0,
    end: int = 8,
    updates: dict[str, Any] | None = None,
    mask_file: Path | None = None,
    show_progress: bool = True,
    patches: list[str] | None = None,
) -> dict[str, Any]:
    """Run psi with ``backend`` (native, stamps or auto) and return the run summary (same keys as native).

    ``patches`` (native only) restricts steps 1-4 to the named patch directories.
    """
    chosen = resolve_psi_backend(backend)
    if chosen == "native":
        from ..workflows.psi import run_psi

        summary = run_psi(insar_dir, Path(out), start=start, end=end, param_updates=updates,
                          mask_file=mask_file, show_progress=show_progress, patches=patches)
        summary.setdefault("backend", "native")
        return summary
    if patches:
        raise ParameterError("--patch is only supported by the native backend")
    from .stamps import run_stamps_psi

    return run_stamps_psi(insar_dir, Path(out), start=start, end=end, param_updates=updates, mask_file=mask_file)
