"""Adapter to the external SNAPHU executable (shipped by the ``snaphu`` PyPI package).

The step-6 kernel (:func:`snapstamps.psi.unwrap.unwrap_3d`) stays pure: it builds the grid and
snaphu's statistical costs and hands them to a grid solver; :func:`run_snaphu` is that solver.
It writes the inputs to a temporary folder, runs ``snaphu`` in DEFO mode with user costs and
reads the result back.  Failures are :class:`snapstamps.errors.ExternalToolError` (one line:
the tool, its exit status and the last line it printed).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ExternalToolError

__all__ = ["snaphu_executable", "run_snaphu"]


def snaphu_executable() -> Path:
    """Path of the snaphu binary shipped inside the ``snaphu`` PyPI package."""
    try:
        import snaphu  # only step 6 needs it
    except ImportError:
        raise ExternalToolError("snaphu: the snaphu package is not installed (pip install snaphu)") from None
    exe = Path(snaphu.__file__).parent / "snaphu"
    if not exe.is_file():
        raise ExternalToolError(f"{exe}: snaphu executable missing from the snaphu package")
    return exe


def run_snaphu(
    grid: np.ndarray,
    row_cost: np.ndarray,
    col_cost: np.ndarray,
    workdir: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """Unwrap one complex grid ``(n_i, n_j)`` with snaphu in DEFO mode and user-supplied costs.

    Writes ``snaphu.in`` (complex64, native endian, row-major), ``snaphu.costinfile`` (int16:
    the whole row-cost array then the whole column-cost array, 4 shorts per adjacency) and
    ``snaphu.conf`` into a temporary directory (inside ``workdir`` if given), runs
    ``snaphu -d -f snaphu.conf snaphu.in n_j`` and returns the float32 unwrapped phase (rad).

    Raises:
        ValueError: the cost arrays do not match the grid (a caller's bug).
        ExternalToolError: snaphu is missing, failed or wrote an output of the wrong size.
    """
    n_i, n_j = grid.shape
    if row_cost.shape != (n_i - 1, n_j, 4) or col_cost.shape != (n_i, n_j - 1, 4):
        raise ValueError("cost arrays do not match the grid")
    exe = snaphu_executable()
    with tempfile.TemporaryDirectory(prefix="snaphu_", dir=workdir) as tmp:
        d = Path(tmp)
        np.ascontiguousarray(grid, dtype=np.complex64).tofile(d / "snaphu.in")
        np.concatenate(
            [np.ascontiguousarray(row_cost, dtype=np.int16).ravel(), np.ascontiguousarray(col_cost, dtype=np.int16).ravel()]
        ).tofile(d / "snaphu.costinfile")
        (d / "snaphu.conf").write_text(
            "OUTFILE snaphu.out\n"
            "COSTINFILE snaphu.costinfile\n"
            "STATCOSTMODE DEFO\n"
            "INFILEFORMAT COMPLEX_DATA\n"
            "OUTFILEFORMAT FLOAT_DATA\n"
        )
        try:
            proc = subprocess.run(
                [os.fspath(exe), "-d", "-f", "snaphu.conf", "snaphu.in", str(n_j)],
                cwd=d, capture_output=True, text=True,
            )
        except OSError as exc:
            raise ExternalToolError(f"{exe}: cannot run snaphu ({exc.strerror or exc})") from None
        out_path = d / "snaphu.out"
        if proc.returncode != 0 or not out_path.is_file():
            tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
            raise ExternalToolError(f"snaphu failed (exit {proc.returncode}): {tail[0]}")
        out = np.fromfile(out_path, dtype=np.float32)
        if out.size != n_i * n_j:
            raise ExternalToolError(f"snaphu wrote {out.size} values, expected {n_i * n_j}")
        return out.reshape(n_i, n_j)
