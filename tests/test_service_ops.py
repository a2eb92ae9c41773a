"""Operating the service: bounded queue, restarts, processes that die with their job, the job list.

Each test runs against a real ``snapstamps serve`` on loopback, once with the SQLite store and
once with PostgreSQL (skipped, saying why, where no PostgreSQL server can be started).  Jobs are
small: ``echo`` with a pause, or ``psi`` on a stand-in CWL runner (a ``cwltool`` module first on
the server's ``PYTHONPATH``, which the configured runner ``cwltool`` runs as ``python -m cwltool``)
that starts two ``sleep`` children and waits, so that process groups can be checked without
running the engine.  Every wait has a generous deadline; nothing is timed.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from test_service import (  # noqa: F401  (fixtures)
    TIMEOUT,
    Server,
    _alive,
    _group,
    _kill_workers,
    postgres,
    stack,
    store_db,
)

requests = pytest.importorskip("requests")

MAX_JOBS = 2

FAKE_RUNNER = """\
import subprocess, sys, time
kids = [subprocess.Popen(["sleep", "600"]) for _ in range(2)]
print("INFO [step prep] start", file=sys.stderr, flush=True)
time.sleep(600)
"""


def _fake_cwltool(tmp: Path) -> Path:
    """A folder holding a stand-in ``cwltool`` package (``python -m cwltool`` runs FAKE_RUNNER)."""
    pkg = tmp / "fake-cwltool" / "cwltool"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(FAKE_RUNNER)
    return pkg.parent


def _config(tmp: Path) -> Path:
    """The packaged configuration (runner cwltool) with absolute paths."""
    from snapstamps.service.resources import resource_dir

    src = resource_dir("processes")
    cfg = yaml.safe_load((src / "pygeoapi-config.yml").read_text())
    mgr = cfg["server"]["manager"]
    mgr.update(runner={"runner": "cwltool"}, app_package_dir=str(resource_dir("app-package")))
    for res in cfg["resources"].values():
        res["processor"]["description"] = str(src / res["processor"]["description"])
    out = tmp / "config.yml"
    out.write_text(yaml.safe_dump(cfg))
    return out


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory, store_db: str | None) -> Iterator[Server]:  # noqa: F811
    base = tmp_path_factory.mktemp("ops")
    fake = _fake_cwltool(base)
    srv = Server(base / "data", env={"SNAPSTAMPS_MAX_JOBS": str(MAX_JOBS), "PYTHONPATH": os.pathsep.join(
        p for p in [str(fake), os.environ.get("PYTHONPATH")] if p)}, db=store_db, config=_config(base))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        _kill_workers(srv.data_dir)


def _post(srv: Server, process: str, inputs: dict, prefer_async: bool = True) -> dict:
    headers = {"Prefer": "respond-async"} if prefer_async else {}
    r = requests.post(f"{srv.url}/processes/{process}/execution", json={"inputs": inputs}, headers=headers, timeout=120)
    assert r.status_code == 201, r.text
    return r.json()


def _status(srv: Server, job_id: str) -> dict:
    r = requests.get(f"{srv.url}/jobs/{job_id}?f=json", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def _wait_for(what: str, cond, timeout: float = TIMEOUT, every: float = 0.3):  # noqa: ANN001
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"not reached within {timeout} s: {what}")


def _all_done(srv: Server, ids: list[str]) -> list[dict]:
    def done() -> list[dict] | None:
        st = [_status(srv, i) for i in ids]
        return st if all(s["status"] in ("successful", "failed") for s in st) else None

    return _wait_for(f"jobs {ids} finished", done)


def _t(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def _store(srv: Server):  # noqa: ANN202
    from snapstamps.service.store import open_store

    return open_store(srv.env.get("SNAPSTAMPS_DB") or srv.data_dir / "snapstamps.sqlite")


def _worker_group(srv: Server, job_id: str, members: int = 3) -> int:
    """Wait until the job's worker runs with its runner and two children; return the group id."""
    pidf = srv.data_dir / "jobs" / job_id / "worker.pid"

    def ready() -> int | None:
        if not pidf.exists():
            return None
        pid = int(pidf.read_text())
        return pid if len(_group(pid)) >= members else None

    return _wait_for(f"worker group of {job_id}", ready)


# ---------------------------------------------------------------------- queue
def test_at_most_n_jobs_run_at_once_in_fifo_order(ops: Server) -> None:
    """N+5 quick jobs: never more than N running (their run intervals overlap at most N deep),
    dispatched in the order they were submitted, all successful."""
    ids = [_post(ops, "echo", {"echoInput": f"job {i}", "pause": 1.5})["jobID"] for i in range(MAX_JOBS + 5)]
    waiting = requests.get(f"{ops.url}/jobs?f=json&status=accepted&limit=1000", timeout=60)
    assert waiting.status_code == 200  # queued jobs have no start time: the list still answers
    assert any("started" not in j for j in waiting.json()["jobs"]), waiting.json()
    final = _all_done(ops, ids)
    assert [s["status"] for s in final] == ["successful"] * len(ids), final
    events = sorted([(_t(s["started"]), 1) for s in final] + [(_t(s["finished"]), -1) for s in final])
    depth = peak = 0
    for _, step in events:
        depth += step
        peak = max(peak, depth)
    assert peak <= MAX_JOBS, f"{peak} jobs ran at once"
    assert peak == MAX_JOBS  # and the slots were used
    rows = {j["identifier"]: j for j in _store(ops).list_jobs(limit=1000)[0]}
    dispatched = [rows[i]["dispatched"] for i in ids]
    assert dispatched == sorted(dispatched), "jobs were not started in the order they were submitted"
    for i in ids:
        r = requests.get(f"{ops.url}/jobs/{i}/results?f=json", timeout=60)
        assert r.status_code == 200 and r.json()["echoOutput"].startswith("job ")


def test_queued_and_running_jobs_survive_restarts(ops: Server) -> None:
    """A clean shutdown stops the running job and queues it again; queued jobs wait in the store;
    after the restart all of them run.  A crashed server leaves its workers running: the job
    finishes and the next server reports it."""
    ids = [_post(ops, "echo", {"echoInput": f"r{i}", "pause": 3})["jobID"] for i in range(MAX_JOBS + 2)]
    _wait_for("a job running", lambda: any(_status(ops, i)["status"] == "running" for i in ids))
    ops.stop()
    rows = {j["identifier"]: j for j in _store(ops).list_jobs(limit=1000)[0]}
    assert all(rows[i]["status"] == "accepted" for i in ids), [rows[i]["status"] for i in ids]
    ops.restart()
    final = _all_done(ops, ids)
    assert [s["status"] for s in final] == ["successful"] * len(ids), final

    job = _post(ops, "echo", {"echoInput": "crash", "pause": 4})["jobID"]
    _wait_for("running", lambda: _status(ops, job)["status"] == "running")
    ops.crash()
    time.sleep(0.5)
    ops.restart()
    final = _all_done(ops, [job])[0]
    assert final["status"] == "successful", final


# ---------------------------------------------------------------------- processes die with their job
def test_kill_9_of_a_worker_stops_its_processes_and_fails_the_job(ops: Server, stack: Path) -> None:  # noqa: F811
    job = _post(ops, "psi", {"stack": str(stack)})["jobID"]
    pgid = _worker_group(ops, job)
    members = _group(pgid)
    os.kill(pgid, signal.SIGKILL)  # the worker only: its runner and the runner's children stay
    st = _wait_for("job failed", lambda: (s := _status(ops, job))["status"] == "failed" and s)
    assert "worker process ended unexpectedly" in st["message"]
    _wait_for("no process of the job left", lambda: not [p for p in members if _alive(p)], timeout=60)
    assert not (ops.data_dir / "catalogs" / job).exists()  # nothing published
    r = requests.get(f"{ops.url}/jobs/{job}/results?f=json", timeout=60)
    assert r.status_code == 500 and "ended unexpectedly" in r.json()["detail"]


def test_dismiss_stops_the_group_with_or_without_a_live_worker(ops: Server, stack: Path) -> None:  # noqa: F811
    for kill_worker_first in (False, True):
        job = _post(ops, "psi", {"stack": str(stack)})["jobID"]
        pgid = _worker_group(ops, job)
        members = _group(pgid)
        if kill_worker_first:
            os.kill(pgid, signal.SIGKILL)
        r = requests.delete(f"{ops.url}/jobs/{job}?f=json", timeout=120)
        assert r.status_code == 200 and r.json()["status"] == "dismissed", r.text
        _wait_for("no process of the job left", lambda m=members: not [p for p in m if _alive(p)], timeout=30)
        for path in ("", "/results", "/log"):
            g = requests.get(f"{ops.url}/jobs/{job}{path}?f=json", timeout=60)
            assert g.status_code == 404 and g.json()["type"].endswith("/no-such-job"), (path, g.text)
        assert requests.delete(f"{ops.url}/jobs/{job}", timeout=60).status_code == 404
        assert not (ops.data_dir / "jobs" / job).exists()


def test_server_shutdown_leaves_no_process_and_requeues_the_job(ops: Server, stack: Path) -> None:  # noqa: F811
    job = _post(ops, "psi", {"stack": str(stack)})["jobID"]
    pgid = _worker_group(ops, job)
    members = _group(pgid)
    ops.stop()
    _wait_for("no process of the job left", lambda: not [p for p in members if _alive(p)], timeout=30)
    ops.restart()
    st = _status(ops, job)
    assert st["status"] in ("accepted", "running") and "failed" not in st["message"], st
    _worker_group(ops, job)  # it runs again
    assert requests.delete(f"{ops.url}/jobs/{job}", timeout=120).status_code == 200


# ---------------------------------------------------------------------- job list
def test_job_list_pages_newest_first_with_filters(ops: Server) -> None:
    first = _post(ops, "echo", {"echoInput": "a"})["jobID"]
    second = _post(ops, "echo", {"echoInput": "b"})["jobID"]
    _all_done(ops, [first, second])
    r = requests.get(f"{ops.url}/jobs?f=json&limit=2", timeout=60).json()
    assert [j["jobID"] for j in r["jobs"]] == [second, first]  # newest first
    total = r["numberMatched"]
    assert total >= 2 and r["numberReturned"] == 2
    nxt = next(ln["href"] for ln in r["links"] if ln["rel"] == "next")
    r2 = requests.get(nxt, timeout=60).json()
    assert first not in [j["jobID"] for j in r2["jobs"]] and r2["numberMatched"] == total
    big = requests.get(f"{ops.url}/jobs?f=json&limit=1000", timeout=60).json()
    assert len(big["jobs"]) == min(total, 1000)
    assert len(requests.get(f"{ops.url}/jobs?f=json&limit=5000", timeout=60).json()["jobs"]) == min(total, 1000)
    only = requests.get(f"{ops.url}/jobs?f=json&status=successful&processID=echo&type=process&limit=1000",
                        timeout=60).json()
    assert only["jobs"] and all(j["status"] == "successful" and j["processID"] == "echo" for j in only["jobs"])
    assert only["numberMatched"] == len(only["jobs"])
    assert requests.get(f"{ops.url}/jobs?f=json&processID=psi&status=successful", timeout=60).json()["numberMatched"] == 0
    created = _status(ops, second)["created"]
    win = requests.get(f"{ops.url}/jobs?f=json&datetime={created}/..", timeout=60).json()
    assert [j["jobID"] for j in win["jobs"]] == [second]
    before = requests.get(f"{ops.url}/jobs?f=json&datetime=../2000-01-01T00:00:00Z", timeout=60).json()
    assert before["numberMatched"] == 0
    for bad in ("limit=0", "limit=x", "offset=-1", "status=done", "type=coverage", "datetime=yesterday"):
        e = requests.get(f"{ops.url}/jobs?f=json&{bad}", timeout=60)
        assert e.status_code == 400 and e.json()["type"].startswith("http://www.opengis.net/def/exceptions/"), bad
