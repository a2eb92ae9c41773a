"""The service's CWL runner setting (``server.manager.runner``): checked when the server starts (a
wrong key or value stops it with one line), handed to the workers, and a job run under
``toil-cwl-runner`` (single-machine batch system) when so configured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_service import Server, _execute, _kill_workers, _wait  # noqa: F401

requests = pytest.importorskip("requests")
PY = sys.executable


def _config(tmp: Path, runner: object, **extra: object) -> Path:
    """The packaged configuration with ``runner`` (and further manager settings) and absolute paths."""
    from snapstamps.service.resources import resource_dir

    src = resource_dir("processes")
    cfg = yaml.safe_load((src / "pygeoapi-config.yml").read_text())
    mgr = cfg["server"]["manager"]
    mgr.update(runner=runner, app_package_dir=str(resource_dir("app-package")), **extra)
    for res in cfg["resources"].values():
        res["processor"]["description"] = str(src / res["processor"]["description"])
    out = tmp / f"config-{abs(hash(json.dumps(runner, sort_keys=True, default=str)))}.yml"
    out.write_text(yaml.safe_dump(cfg))
    return out


def _toil_available() -> None:
    if shutil.which("toil-cwl-runner", path=os.pathsep.join([str(Path(PY).parent), os.environ.get("PATH", "")])) is None:
        pytest.skip("toil-cwl-runner not installed (pip install 'toil[cwl]'; make test installs it)")


@pytest.mark.parametrize("runner,extra,needle", [
    ({"runner": "cwltool", "batch_sytem": "slurm"}, {}, "unknown runner option(s) ['batch_sytem']"),
    ({"runner": "toil-cwl-runnr"}, {}, "runner must be one of cwltool, toil-cwl-runner (got 'toil-cwl-runnr')"),
    ({"runner": "cwltool", "max_cores": 4}, {}, "runner option max_cores is Toil's"),
    ({"runner": "cwltool", "extra_args": "--debug"}, {}, "extra_args must be a list of strings"),
    (["cwltool"], {}, "expected a mapping of runner options or a runner name"),
    ({"runner": "cwltool"}, {"runner_args": ["--parallel"]}, "runner_args is no longer read"),
])
def test_a_wrong_runner_setting_stops_the_server_start(tmp_path: Path, runner: object, extra: dict, needle: str) -> None:
    """A typo in ``runner`` fails ``snapstamps serve`` at once: exit status 2, one line naming the setting."""
    cfg = _config(tmp_path, runner, **extra)
    proc = subprocess.run([PY, "-m", "snapstamps.cli", "serve", "--port", "1", "--config", str(cfg),
                           "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: server.manager.runner"), proc.stderr
    assert needle in lines[0]


def test_worker_command_follows_the_runner_setting(tmp_path: Path) -> None:
    """The worker builds its command with the configured runner's options (cwl_runner.runner_command)."""
    from snapstamps.service.manager import runner_config_from_settings
    from snapstamps.service.worker import runner_command

    cfg = runner_config_from_settings({"runner": "cwltool"})
    cmd = runner_command({"runner": cfg.to_mapping(), "app_package": "a.cwl#x"}, tmp_path)
    assert cmd[1:3] == ["-m", "cwltool"] and "--no-container" in cmd and "--parallel" in cmd
    assert cmd[cmd.index("--outdir") + 1] == str(tmp_path / "out")
    assert cmd[-2:] == ["a.cwl#x", str(tmp_path / "cwl-job.json")]
    _toil_available()
    cfg = runner_config_from_settings({"runner": {"runner": "toil-cwl-runner", "batch_system": "slurm",
                                                  "job_store": "file:/shared/js", "extra_args": ["--retryCount", "2"]}})
    cmd = runner_command({"runner": cfg.to_mapping(), "app_package": "a.cwl#x"}, tmp_path)
    assert cmd[0].endswith("toil-cwl-runner")
    for a, b in [("--batchSystem", "slurm"), ("--jobStore", "file:/shared/js"), ("--retryCount", "2"),
                 ("--workDir", str(tmp_path / "toil-work"))]:
        assert cmd[cmd.index(a) + 1] == b


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_service_runs_a_psi_job_under_toil_when_configured(tmp_path: Path) -> None:
    """With ``runner: {runner: toil-cwl-runner, batch_system: single_machine}`` a psi job runs under
    Toil (its leader's log is the job log) to a valid catalog whose items link the stack as posted."""
    _toil_available()
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack
    from snapstamps.stac.validate import validate_catalog

    stack = simulate_stamps_stack(tmp_path / "sim", SimConfig(width=100, length=200, n_dates=10, seed=4))
    cfg = _config(tmp_path, {"runner": "toil-cwl-runner", "batch_system": "single_machine", "max_cores": 2})
    srv = Server(tmp_path / "data", config=cfg)
    srv.start()
    try:
        r = _execute(srv, "psi", {"stack": str(stack)}, async_=True)
        assert r.status_code == 201, r.text
        job_id = r.json()["jobID"]
        seen = _wait(srv, job_id, {"successful", "failed"}, timeout=800)
        assert seen[-1]["status"] == "successful", seen[-1]
    finally:
        srv.stop()
        _kill_workers(srv.data_dir)
    job_dir = srv.data_dir / "jobs" / job_id
    log = (job_dir / "job.log").read_text()
    assert "Issued job 'CWLJob'" in log and "psi-prep" in log  # Toil's leader ran the package
    assert not (job_dir / "toil-jobstore").exists()  # the default job store is cleaned on success
    cat = srv.data_dir / "catalogs" / job_id
    assert validate_catalog(cat).ok
    links = [link for p in cat.rglob("*.json") for link in json.loads(p.read_text()).get("links", [])
             if link["rel"] == "derived_from"]
    assert links and {link["href"] for link in links} == {stack.resolve().as_uri()}
