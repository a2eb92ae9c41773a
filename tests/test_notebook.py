"""The step-by-step notebook (docs/psi-step-by-step.ipynb) runs, offline, in a kernel of this Python.

nbclient executes it in a temporary folder with a kernel spec written for ``sys.executable``
(so the notebook sees this checkout's snapstamps, whatever kernels the machine has); the kernel
talks to nbclient over IPC sockets in the test's temporary folder, not the network.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "psi-step-by-step.ipynb"


def test_notebook_is_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, cell.source[:60]


@pytest.mark.slow
def test_notebook_runs_and_plots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "jupyter" / "kernels" / "snapstamps-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "snapstamps tests", "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    from jupyter_client.manager import AsyncKernelManager

    # IPC sockets in the temporary folder: the kernel opens no TCP port at all
    km = AsyncKernelManager(kernel_name="snapstamps-test", transport="ipc", ip=str(tmp_path / "kernel-ipc"))
    client = nbclient.NotebookClient(nb, km=km, timeout=900, resources={"metadata": {"path": str(run_dir)}})
    client.execute()  # raises CellExecutionError with the cell's traceback on any error
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.get("output_type") == "display_data" and "image/png" in o.get("data", {})]
    assert len(images) >= 6  # one per plotting cell
    assert (run_dir / "psi-step-by-step" / "psi" / "ps_points.parquet").is_file()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "candidates ->" in printed and "velocity change" in printed
