"""One path for the PSI parameters, from the request to the run.

A parameter reaches the engine by one route whatever its entry (``snapstamps psi`` flags, a
parameter file, the CWL tool's inputs, the service's named inputs and ``parameters``), and a
parameter given twice with two values is an error, never a silent precedence.  The bug this
guards against: ``parameters: {da_thresh: 0.3}`` in a psi request ran at 0.4, because the CWL
passed its own default ``--da-thresh 0.4`` after ``--param``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from snapstamps.cli import main

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
#: generous: a whole psi job on a busy shared machine
JOB_DEADLINE_S = 900


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

    return simulate_stamps_stack(tmp_path_factory.mktemp("sim"), SimConfig(width=120, length=300, n_dates=12, seed=3))


def _parms(out: Path) -> dict:
    return json.loads((out / "parms.json").read_text())


# ---------------------------------------------------------------------- command line
def test_cli_param_reaches_the_run(stack: Path, tmp_path: Path) -> None:
    assert main(["-q", "psi", str(stack), "--out", str(tmp_path / "a"), "--end", "0", "--param", "da_thresh=0.3"]) == 0
    assert _parms(tmp_path / "a")["da_thresh"] == 0.3
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps({"da_thresh": 0.35, "weed_standard_dev": "inf"}))
    assert main(["-q", "psi", str(stack), "--out", str(tmp_path / "b"), "--end", "0", "--params", str(pfile)]) == 0
    p = _parms(tmp_path / "b")
    assert p["da_thresh"] == 0.35 and p["weed_standard_dev"] == "inf"
    # the same value twice is fine
    assert main(["-q", "psi", str(stack), "--out", str(tmp_path / "c"), "--end", "0", "--param", "da=0.3",
                 "--da-thresh", "0.3"]) == 0
    assert _parms(tmp_path / "c")["da_thresh"] == 0.3


def test_cli_parameter_given_twice_is_a_one_line_error(stack: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x"
    rc = main(["-q", "psi", str(stack), "--out", str(out), "--end", "0", "--param", "da_thresh=0.3",
               "--da-thresh", "0.4"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "da_thresh" in err and "--da-thresh" in err and "0.3" in err, err
    assert not (out / "parms.json").exists()
    pfile = tmp_path / "p.json"
    pfile.write_text(json.dumps({"da_thresh": 0.35}))
    rc = main(["-q", "psi", str(stack), "--out", str(out), "--end", "0", "--params", str(pfile), "--param", "da_t=0.3"])
    err = capsys.readouterr().err
    assert rc == 2 and "da_thresh" in err and str(pfile) in err, err


def test_process_inputs_map_to_parameters() -> None:
    from snapstamps.errors import ParameterError
    from snapstamps.psi.config import updates_from_inputs

    assert updates_from_inputs({"stack": "s", "amplitude_dispersion": 0.3, "patches": [2, 1],
                                "reference_area": [12.5, 41.9, 500], "parameters": {"scn_w": 50}}) == {
        "da_thresh": 0.3, "rg_patches": 2, "az_patches": 1, "ref_centre_lonlat": [12.5, 41.9], "ref_radius": 500,
        "scn_wavelength": 50}
    assert updates_from_inputs({"stack": "s"}) == {}  # nothing given, nothing passed: the engine's defaults
    with pytest.raises(ParameterError, match="da_thresh is given twice.*amplitude_dispersion.*parameters"):
        updates_from_inputs({"amplitude_dispersion": 0.3, "parameters": {"da_thresh": 0.4}})
    with pytest.raises(ParameterError, match="da_thresh"):
        updates_from_inputs({"parameters": {"da_thresh": 5}})  # out of the model's range


# ---------------------------------------------------------------------- CWL tool
def test_cwl_prep_tool_passes_parameters_without_defaults(stack: Path, tmp_path: Path) -> None:
    """The prep tool alone: ``parameters: [da_thresh=0.3]`` runs at 0.3 (it passed --da-thresh 0.4 last)."""
    pytest.importorskip("cwltool")
    bindir = Path(PY).parent
    exe = shutil.which("snapstamps", path=str(bindir))
    if exe is None:
        shim = tmp_path / "shim"
        shim.mkdir()
        (shim / "snapstamps").write_text(f'#!/bin/sh\nexec "{PY}" -m snapstamps.cli "$@"\n')
        (shim / "snapstamps").chmod(0o755)
        bindir = shim
    (tmp_path / "job.json").write_text(json.dumps({"stack": {"class": "Directory", "path": str(stack)},
                                                   "parameters": ["da_thresh=0.3"], "patches": [2, 1]}))
    env = dict(os.environ, PATH=os.pathsep.join([str(bindir), os.environ.get("PATH", "")]))
    proc = subprocess.run([PY, "-m", "cwltool", "--quiet", "--no-container", "--outdir", str(tmp_path / "out"),
                           str(ROOT / "cwl/tools/psi-prep.cwl"), str(tmp_path / "job.json")],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    p = _parms(Path(json.loads(proc.stdout)["work"]["path"]))
    assert p["da_thresh"] == 0.3 and (p["rg_patches"], p["az_patches"]) == (2, 1)


# ---------------------------------------------------------------------- service
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``snapstamps serve`` on a free loopback port; stopped (with any job worker) at the end."""
    pytest.importorskip("pygeoapi")
    pytest.importorskip("cwltool")
    requests = pytest.importorskip("requests")
    data = tmp_path_factory.mktemp("svc") / "data"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(data.parent / "server.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([PY, "-m", "snapstamps.cli", "serve", "--port", str(port), "--data-dir", str(data)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            # local inputs only from the data roots: the tests' stacks are under the base temp folder
                            env={**os.environ, "SNAPSTAMPS_DATA_ROOTS": str(data.parent.parent)})
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(data.parent / 'server.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/conformance?f=json", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.3)
        yield url, data
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
        for pidf in (data / "jobs").glob("*/worker.pid"):
            try:
                os.killpg(int(pidf.read_text()), signal.SIGKILL)
            except (ProcessLookupError, PermissionError, ValueError):
                pass


def _execute(url: str, inputs: dict) -> "object":
    import requests

    return requests.post(f"{url}/processes/psi/execution", json={"inputs": inputs}, timeout=60,
                         headers={"Content-Type": "application/json", "Prefer": "respond-async"})


def test_parameter_given_twice_is_refused_by_the_service(server: tuple[str, Path], stack: Path) -> None:
    import requests

    url, _ = server
    before = len(requests.get(f"{url}/jobs?f=json&limit=1000", timeout=30).json()["jobs"])
    r = _execute(url, {"stack": str(stack), "amplitude_dispersion": 0.3, "parameters": {"da_thresh": 0.5}})
    assert r.status_code == 400, r.text
    assert "da_thresh" in r.json()["description"] and "amplitude_dispersion" in r.json()["description"]
    assert len(requests.get(f"{url}/jobs?f=json&limit=1000", timeout=30).json()["jobs"]) == before
    # a parameter value the native engine does not implement: 400 too, not a failed job
    r = _execute(url, {"stack": str(stack), "parameters": {"slc_osf": 2}})
    assert r.status_code == 400 and "slc_osf" in r.json()["description"], r.text
    assert len(requests.get(f"{url}/jobs?f=json&limit=1000", timeout=30).json()["jobs"]) == before


@pytest.mark.slow
def test_da_thresh_in_parameters_is_what_the_job_runs_at(server: tuple[str, Path], stack: Path) -> None:
    """``parameters: {da_thresh: 0.3}`` through the service: the job's parms.json and
    psi_metadata.json say 0.3, and every candidate has D_A below 0.3."""
    import requests

    url, data = server
    r = _execute(url, {"stack": str(stack), "parameters": {"da_thresh": 0.3}})
    assert r.status_code == 201, r.text
    job = r.json()["jobID"]
    deadline = time.monotonic() + JOB_DEADLINE_S
    while True:
        st = requests.get(f"{url}/jobs/{job}?f=json", timeout=30).json()
        if st["status"] in ("successful", "failed", "dismissed"):
            break
        assert time.monotonic() < deadline, f"job not finished after {JOB_DEADLINE_S} s: {st}"
        time.sleep(1)
    assert st["status"] == "successful", (st, (data / "jobs" / job / "job.log").read_text()[-3000:])
    def found(name: str) -> list[Path]:
        return [*(data / "jobs" / job).rglob(name), *(data / "catalogs" / job).rglob(name)]

    metas = found("psi_metadata.json")
    assert metas, sorted(str(p) for p in (data / "catalogs" / job).rglob("*"))
    for m in metas:
        assert json.loads(m.read_text())["parameters"]["da_thresh"] == 0.3
    for p in found("parms.json"):
        assert json.loads(p.read_text())["da_thresh"] == 0.3
    import pandas as pd

    pts = found("ps_points.csv")
    assert pts and pd.read_csv(pts[0])["amplitude_dispersion"].max() < 0.3
