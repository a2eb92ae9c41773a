"""PSI patches on an existing Dask cluster (a local ``distributed`` cluster on 127.0.0.1) give
the same result as the local run; a bad or unreachable scheduler address is one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from snapstamps.errors import ParameterError
from snapstamps.workflows.psi import check_scheduler_address, run_psi


def test_scheduler_address_is_checked(tmp_path: Path) -> None:
    assert check_scheduler_address("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    for bad in ["127.0.0.1:8786", "http://127.0.0.1:8786", "tcp://host", "tcp://a b:1", ""]:
        with pytest.raises(ParameterError, match="is not an address tcp://HOST:PORT"):
            check_scheduler_address(bad)
    with pytest.raises(ParameterError, match="dask scheduler 'localhost'"):
        run_psi(None, tmp_path / "x", start=1, end=1, dask_scheduler="localhost")


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_psi_patches_on_a_dask_cluster_equal_the_local_run(tmp_path: Path) -> None:
    """Steps 1-4 of 2 patches as tasks on a 2-worker cluster (processes): the same PS, velocities
    and adaptations as the local run; `snapstamps psi --dask-scheduler` reaches the cluster too."""
    distributed = pytest.importorskip("distributed")
    import pandas as pd

    from snapstamps.cli import main
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

    insar = simulate_stamps_stack(tmp_path / "sim", SimConfig(width=100, length=240, n_dates=10, seed=4))
    updates = {"rg_patches": 2, "az_patches": 1}
    local = run_psi(insar, tmp_path / "local", param_updates=updates, show_progress=False)

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, protocol="tcp") as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        with distributed.Client(address) as client, distributed.get_task_stream(client=client) as stream:
            remote = run_psi(insar, tmp_path / "dask", param_updates=updates, show_progress=False, dask_scheduler=address)
        ran = {(str(t["key"]).split("-")[1], t["worker"]) for t in stream.data if str(t["key"]).startswith("psi-step")}
        assert {step for step, _ in ran} == {"step1", "step2", "step3", "step4"}
        assert len({worker for _, worker in ran}) == 2  # both workers took patches
        # the CLI path: resume steps 1-4 of the cluster run's directory on the cluster
        rc = main(["-q", "psi", "--out", str(tmp_path / "dask"), "--start", "1", "--end", "4", "--dask-scheduler", address])
        assert rc == 0

    assert remote["adaptations"] == local["adaptations"]
    assert {a["parameter"] for a in remote["adaptations"]} >= {"filter_grid_size[PATCH_1]", "filter_grid_size[PATCH_2]"}
    a = pd.read_parquet(tmp_path / "dask" / "ps_points.parquet")
    b = pd.read_parquet(tmp_path / "local" / "ps_points.parquet")
    assert len(a) > 50
    pd.testing.assert_frame_equal(a, b, rtol=1e-9, atol=0)
    for name in ("ps_mean_v.xy", "ps_data.xy"):
        np.testing.assert_allclose(np.loadtxt(tmp_path / "dask" / name), np.loadtxt(tmp_path / "local" / name), rtol=1e-9)
    for patch in ("PATCH_1", "PATCH_2"):
        x, y = np.load(tmp_path / "dask" / patch / "ps2.npz"), np.load(tmp_path / "local" / patch / "ps2.npz")
        assert sorted(x.files) == sorted(y.files)
        for k in x.files:
            np.testing.assert_array_equal(x[k], y[k])
    meta = json.loads((tmp_path / "dask" / "psi_metadata.json").read_text())
    assert meta["counts"]["ps"] == len(a)


def test_unreachable_scheduler_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheduler nobody listens on (a free loopback port): ParameterError naming the address."""
    pytest.importorskip("distributed")
    monkeypatch.setattr("snapstamps.workflows.psi.DASK_CONNECT_TIMEOUT_S", 2.0)
    import socket

    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

    insar = simulate_stamps_stack(tmp_path / "sim", SimConfig(width=60, length=120, n_dates=6, seed=5))
    run_psi(insar, tmp_path / "run", end=0, show_progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ParameterError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        run_psi(None, tmp_path / "run", start=1, end=1, show_progress=False, dask_scheduler=f"tcp://127.0.0.1:{port}")
