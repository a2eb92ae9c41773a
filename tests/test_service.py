"""The OGC API - Processes service, driven over loopback with OWSLib and plain HTTP.

One server (``python -m snapstamps.cli serve``) on a free loopback port per module,
restarted once; a tiny simulated stack; every process the tests start is stopped.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("pygeoapi")
pytest.importorskip("cwltool")
requests = pytest.importorskip("requests")
pytest.importorskip("owslib")

#: Generous deadlines (seconds): the machine running the tests may be busy; nothing here is timed.
TIMEOUT = 600
START_TIMEOUT = 240
#: PostgreSQL server binaries (Debian's layout; the newest installed major version).
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
             default=Path("/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A ``snapstamps serve`` subprocess on loopback.

    Local inputs are accepted from the pytest base temporary folder (``SNAPSTAMPS_DATA_ROOTS``),
    where the tests write their stacks; ``env`` adds to (or overrides) the environment; ``db`` is
    the job store (None: SQLite in the data dir; a PostgreSQL URL: ``SNAPSTAMPS_DB``).
    """

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, db: str | None = None,
                 config: Path | None = None) -> None:
        self.data_dir = data_dir
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        self.env.setdefault("SNAPSTAMPS_DATA_ROOTS", str(data_dir.parent.parent))
        self.env.update(env or {})
        if db:
            self.env["SNAPSTAMPS_DB"] = db
        self.config = config
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"server-{self.port}.log"

    def start(self) -> None:
        log = open(self.log_path, "ab")
        cmd = [sys.executable, "-m", "snapstamps.cli", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(self.data_dir.parent / f'server-{self.port}.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/conformance?f=json", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        """SIGTERM (a clean shutdown: running jobs are stopped and queued again), waiting for the exit."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)

    def crash(self) -> None:
        """SIGKILL the server (its job workers, in their own sessions, go on)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def restart(self, new_port: bool = True) -> None:
        """Start again (on a new port: the old one may linger in TIME_WAIT)."""
        if new_port:
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
        self.start()


class PostgresServer:
    """A throw-away PostgreSQL server on a unix socket (initdb + pg_ctl), for the store tests.

    As root the server runs as the ``postgres`` user (initdb refuses root), in a private folder
    under /tmp that user can reach.  Each :meth:`database` is a fresh database.
    """

    def __init__(self) -> None:
        import shutil
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="snapstamps-pg-"))
        self.data = self.dir / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.n = 0
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "snapstamps", "--auth=trust",
                   "--no-sync", "-E", "UTF8"])
        opts = f"-c listen_addresses='' -c unix_socket_directories={self.dir} -c fsync=off -c max_connections=200"
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "pg.log"), "-o", opts,
                   "-w", "-t", "120", "start"])

    def _run(self, cmd: list[str]) -> None:
        proc = subprocess.run(self.prefix + cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {proc.stderr[-2000:]}")

    def database(self) -> str:
        """A new empty database; its libpq URL."""
        import psycopg

        self.n += 1
        name = f"snapstamps_{self.n}"
        with psycopg.connect(f"host={self.dir} user=snapstamps dbname=postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://snapstamps@/{name}?host={self.dir}"

    def stop(self) -> None:
        import shutil

        try:
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def postgres_missing() -> str | None:
    """Why a PostgreSQL server cannot be started here, or None."""
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL is not installed ({PG_BIN}/initdb missing; `make test` installs it as root)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'snapstamps[postgres]')"
    if os.geteuid() == 0 and subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
        return "running as root without a 'postgres' user to run the server"
    return None


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session (skipped, with the reason, where it cannot run)."""
    why = postgres_missing()
    if why:
        pytest.skip(why)
    pg = PostgresServer()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def store_db(request: pytest.FixtureRequest) -> str | None:
    """The job store of a test server: None (SQLite in its data dir) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres").database()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

    return simulate_stamps_stack(tmp_path_factory.mktemp("sim"), SimConfig(width=120, length=300, n_dates=12, seed=3))


def wait_until_up(url: str, proc: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers; fail if ``proc`` exits or ``timeout`` passes first."""
    deadline = time.time() + timeout
    while True:
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.2)


@contextmanager
def running(srv: Server) -> Iterator[Server]:
    """Start ``srv``; on exit stop it and kill any job worker it left behind."""
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        _kill_workers(srv.data_dir)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(Server(tmp_path_factory.mktemp("svc") / "data")) as srv:
        yield srv


def _kill_workers(data_dir: Path) -> None:
    for pidf in (data_dir / "jobs").glob("*/worker.pid"):
        try:
            os.killpg(int(pidf.read_text()), signal.SIGKILL)
        except (ProcessLookupError, PermissionError, ValueError):
            pass


def _execute(server: Server, process: str, inputs: dict[str, Any], async_: bool = False) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if async_:
        headers["Prefer"] = "respond-async"
    return requests.post(f"{server.url}/processes/{process}/execution", json={"inputs": inputs},
                         headers=headers, timeout=30)


def _job(server: Server, job_id: str) -> dict:
    r = requests.get(f"{server.url}/jobs/{job_id}?f=json", timeout=60)
    r.raise_for_status()
    return r.json()


def _jobs(server: Server) -> list[dict]:
    r = requests.get(f"{server.url}/jobs?f=json&limit=1000", timeout=60)
    r.raise_for_status()
    return r.json()["jobs"]


def _wait(server: Server, job_id: str, until: set[str], timeout: float = TIMEOUT) -> list[dict]:
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = _job(server, job_id)
        seen.append(st)
        if st["status"] in until:
            return seen
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} not {until} after {timeout} s: {seen[-1]}")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _group(pgid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                st = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(st[2]) == pgid and st[0] not in ("Z", "X"):
                out.append(int(p.name))
    return out


# ---------------------------------------------------------------------- describe (OWSLib)
def test_list_and_describe_with_owslib(server: Server) -> None:
    from owslib.ogcapi.processes import Processes

    p = Processes(server.url)
    ids = {proc["id"] for proc in p.processes()}
    assert {"echo", "psi", "interferogram-stack"} <= ids
    psi = p.process("psi")
    assert {"stack", "amplitude_dispersion", "patches", "reference_area", "backend", "unwrap_grid_size",
            "weed_standard_dev"} <= set(psi["inputs"])
    assert "async-execute" in psi["jobControlOptions"]
    ifg = p.process("interferogram-stack")
    assert {"reference", "secondaries", "subswaths", "polarisation", "bbox", "dem", "orbits", "backend"} <= set(ifg["inputs"])


def test_execute_echo_sync_with_owslib(server: Server) -> None:
    from owslib.ogcapi.processes import Processes

    out = Processes(server.url).execute("echo", {"echoInput": "Echo"})  # response=document, sync
    assert out == {"echoOutput": "Echo"}  # an OGC results document


def test_execute_async_with_owslib_gets_a_job(server: Server) -> None:
    """OWSLib's async execute sends ``"response": "document"``: it gets a statusInfo with a job id."""
    from owslib.ogcapi.processes import Processes

    out = Processes(server.url).execute("echo", {"echoInput": "Echo"}, async_=True)
    assert out["status"] == "accepted" and out["jobID"]
    _wait(server, out["jobID"], {"successful"})
    res = requests.get(f"{server.url}/jobs/{out['jobID']}/results?f=json", timeout=30).json()
    assert res == {"echoOutput": "Echo"}


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize("process,inputs,needle", [
    ("echo", {"echoInput": 42}, "echoInput"),
    ("echo", {}, "missing required input 'echoInput'"),
    ("echo", {"echoInput": "x", "pause": 99}, "pause"),
    ("psi", {"stack": "/nonexistent/INSAR_20200101"}, "stack"),
    ("psi", {"stack": "STACK", "amplitude_dispersion": -1}, "amplitude_dispersion"),
    ("psi", {"stack": "STACK", "patches": [2]}, "patches"),
    ("psi", {"stack": "STACK", "backend": "stamps"}, "backend"),
    ("psi", {"stack": "STACK", "bogus": 1}, "unknown input"),
    ("psi", {"stack": "STACK", "parameters": {"no_such_parameter": 1}}, "parameters"),
])
def test_invalid_inputs_get_400_before_any_job(server: Server, stack: Path, process: str, inputs: dict,
                                               needle: str) -> None:
    inputs = {k: (str(stack) if v == "STACK" else v) for k, v in inputs.items()}
    before = len(_jobs(server))
    r = _execute(server, process, inputs, async_=True)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "InvalidParameterValue" and needle in body["detail"]
    assert body["type"].startswith("http://www.opengis.net/def/exceptions/")
    after = len(_jobs(server))
    assert after == before


def test_callback_subscribers_are_refused(server: Server, stack: Path) -> None:
    """pygeoapi 0.21 would POST to any subscriber URL (SSRF): we refuse it before a job exists."""
    before = len(_jobs(server))
    r = requests.post(f"{server.url}/processes/psi/execution",
                      json={"inputs": {"stack": str(stack)},
                            "subscriber": {"successUri": "http://127.0.0.1:9/hook"}},
                      headers={"Content-Type": "application/json", "Prefer": "respond-async"}, timeout=30)
    assert r.status_code == 400 and "subscriber" in r.json()["detail"]
    assert len(_jobs(server)) == before


def test_interferogram_stack_is_executable_and_validated(server: Server) -> None:
    """interferogram-stack runs as a job (no more 501); bad inputs still get 400 before any job."""
    desc = requests.get(f"{server.url}/processes/interferogram-stack?f=json", timeout=60).json()
    assert "async-execute" in desc["jobControlOptions"] and "catalog" in desc["outputs"]
    assert desc["inputs"]["dem"]["minOccurs"] == 0 and desc["inputs"]["orbits"]["minOccurs"] == 0  # GLO-30, downloads
    before = len(_jobs(server))
    r = _execute(server, "interferogram-stack", {"reference": "/nonexistent/a.json", "secondaries": ["b"],
                                                 "bbox": [0, 0, 1, 1], "dem": "/nonexistent/dem.tif"}, async_=True)
    assert r.status_code == 400, r.text
    assert "input 'reference'" in r.json()["detail"]
    assert len(_jobs(server)) == before


def test_runner_hands_proxies_and_the_test_dem_source_to_the_tools(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    """cwltool passes only PATH, HOME and TMPDIR to tools: the worker preserves the proxies (orbit and
    DEM downloads) and the tests-only SNAPSTAMPS_DEM_AUTO_SOURCE when they are set, nothing else."""
    from snapstamps.service.worker import runner_command

    for var in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "https_proxy", "SNAPSTAMPS_DEM_AUTO_SOURCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    cmd = runner_command({"runner": "cwltool", "runner_args": ["--no-container"], "app_package": "a.cwl#x"}, tmp_path)
    pairs = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--preserve-environment"]
    assert pairs == ["HTTPS_PROXY"] and cmd[-2:] == ["a.cwl#x", str(tmp_path / "cwl-job.json")]


# ---------------------------------------------------------------------- psi async
@pytest.fixture(scope="module")
def psi_job(server: Server, stack: Path) -> dict:
    r = _execute(server, "psi", {"stack": str(stack), "patches": [2, 1]}, async_=True)
    assert r.status_code == 201, r.text
    body = r.json()
    job_id = body["jobID"]
    assert body["status"] == "accepted" and r.headers["Location"].endswith(f"/jobs/{job_id}")
    seen = _wait(server, job_id, {"successful", "failed"})
    return {"id": job_id, "seen": seen}


@pytest.mark.slow
def test_psi_async_runs_to_successful_and_publishes_a_valid_catalog(server: Server, psi_job: dict) -> None:
    from snapstamps.stac.validate import validate_catalog

    final = psi_job["seen"][-1]
    assert final["status"] == "successful", final
    assert final["progress"] == 100
    assert any(s["status"] == "running" and 0 < s["progress"] < 100 for s in psi_job["seen"])
    r = requests.get(f"{server.url}/jobs/{psi_job['id']}/results?f=json", timeout=60)
    assert r.status_code == 200
    res = r.json()
    base = f"{server.url}/jobs/{psi_job['id']}"
    assert res["catalog"]["href"] == f"{base}/files/catalog.json"  # http hrefs when served
    assert res["viewer"]["href"] == f"{base}/viewer/index.html"
    assert res["report"]["href"] == f"{base}/files/report.html"
    cat = server.data_dir / "catalogs" / psi_job["id"] / "catalog.json"  # on disk
    assert cat.is_file()
    report = validate_catalog(cat)
    assert report.ok, report.errors
    assert psi_job["id"] in {j["jobID"] for j in _jobs(server)}
    assert (server.data_dir / "jobs" / psi_job["id"] / "job.log").stat().st_size > 0


@pytest.mark.slow
def test_psi_catalog_has_quicklooks_cogs_report_and_viewer_link(server: Server, psi_job: dict) -> None:
    """The job's catalog: thumbnail/overview/visual quicklooks, COGs with proj/raster fields,
    report and viewer links (relative on disk); all of them served over HTTP."""
    import pystac

    cat_path = server.data_dir / "catalogs" / psi_job["id"] / "catalog.json"
    cat = pystac.Catalog.from_file(str(cat_path))
    assert {(l.rel, l.href) for l in cat.links} >= {("preview", "./viewer/index.html"),
                                                    ("describedby", "./report.html")}
    items = {i.id.split("-", 2)[-1]: i for i in cat.get_items()}
    assert set(items) == {"ps-points", "stamps-exports", "rasters"}
    for item in items.values():
        assert item.get_single_link("preview").href == "../viewer/index.html"
        assert item.get_single_link("describedby").href == "../report.html"
    roles = {r for a in items["ps-points"].assets.values() for r in (a.roles or [])}
    assert {"thumbnail", "overview", "visual"} <= roles
    assert items["ps-points"].assets["thumbnail"].media_type == "image/png"
    for key in ("mean_velocity", "mean_velocity_100m"):
        a = items["rasters"].assets[key].to_dict()
        assert a["proj:code"].startswith("EPSG:326") and len(a["proj:shape"]) == 2 and a["raster:bands"]
        assert "cloud-optimized" in a["type"]

    base = f"{server.url}/jobs/{psi_job['id']}"
    res = requests.get(f"{base}/results?f=json", timeout=60).json()
    r = requests.get(res["viewer"]["href"], timeout=60)
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"] and "<html" in r.text.lower()
    assert requests.get(f"{base}/viewer/data/meta.js", timeout=60).status_code == 200
    assert requests.get(f"{base}/viewer", timeout=60, allow_redirects=False).status_code == 308
    r = requests.get(res["report"]["href"], timeout=60)
    assert r.status_code == 200 and "PSI report" in r.text
    for src in re.findall(r"src='([^']+)'", r.text):  # the report's quicklooks resolve when served
        assert requests.get(f"{base}/files/{src}", timeout=60).status_code == 200, src
    served = requests.get(res["catalog"]["href"], timeout=60)
    assert served.status_code == 200
    links = {l["rel"]: l["href"] for l in served.json()["links"]}
    assert links["self"] == f"{base}/files/catalog.json" and links["preview"] == f"{base}/viewer/index.html"
    item_href = next(l["href"] for l in served.json()["links"] if l["rel"] == "item")
    assert requests.get(f"{base}/files/{item_href.removeprefix('./')}", timeout=60).status_code == 200
    assert requests.get(res["thumbnail"]["href"], timeout=60).headers["Content-Type"] == "image/png"
    assert requests.head(res["mean_velocity"]["href"], timeout=60).status_code == 200
    # read-only and confined to the job's catalog
    assert requests.post(f"{base}/files/catalog.json", timeout=60).status_code in (404, 405)
    (server.data_dir / "secret.txt").write_text("s3cr3t-c0ntent")
    for path in ("files/../../secret.txt", "files/%2e%2e/%2e%2e/secret.txt", "files/..%2f..%2fsecret.txt",
                 "viewer/../../../secret.txt", "files//etc/passwd", "files/%2fetc%2fpasswd",
                 "files/nonexistent.json"):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.request("GET", f"/jobs/{psi_job['id']}/{path}")  # sent as is, not normalised by a client
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status == 308:  # werkzeug merges '//' with a redirect: follow it
            loc = resp.getheader("Location")
            assert loc.startswith((f"/jobs/{psi_job['id']}/", f"{base}/")), loc
            follow = requests.get(loc if "://" in loc else server.url + loc, timeout=60)
            resp, body = follow, follow.content
            resp.status = follow.status_code  # type: ignore[attr-defined]
        assert resp.status in (404, 400), (path, resp.status)
        assert b"s3cr3t-c0ntent" not in body and b"root:x:" not in body
    for job in ("..", "%2e%2e", "no-such-job"):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.request("GET", f"/jobs/{job}/files/jobs.db")
        resp = conn.getresponse()
        resp.read()
        conn.close()
        assert resp.status == 404, (job, resp.status)


@pytest.mark.slow
def test_dismiss_stops_the_job_and_its_processes(server: Server, stack: Path) -> None:
    r = _execute(server, "psi", {"stack": str(stack), "patches": [2, 1]}, async_=True)
    job_id = r.json()["jobID"]
    pidf = server.data_dir / "jobs" / job_id / "worker.pid"
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and not (pidf.exists() and len(_group(int(pidf.read_text()))) >= 2):
        time.sleep(0.1)
    pid = int(pidf.read_text())
    members = _group(pid)
    assert len(members) >= 2, "worker and its CWL runner"
    d = requests.delete(f"{server.url}/jobs/{job_id}?f=json", timeout=30)
    assert d.status_code == 200 and d.json()["status"] == "dismissed"
    deadline = time.time() + 30  # "within a few seconds"; DELETE itself waits for the group to end
    while time.time() < deadline and [p for p in members if _alive(p)]:
        time.sleep(0.2)
    assert not [p for p in members if _alive(p)], "processes of the dismissed job still run"
    assert not _group(pid)
    assert requests.get(f"{server.url}/jobs/{job_id}?f=json", timeout=60).status_code == 404
    assert not (server.data_dir / "jobs" / job_id).exists()


@pytest.mark.slow
def test_restart_keeps_finished_jobs_and_fails_orphans(server: Server, stack: Path, psi_job: dict) -> None:
    r = _execute(server, "psi", {"stack": str(stack)}, async_=True)
    orphan = r.json()["jobID"]
    pidf = server.data_dir / "jobs" / orphan / "worker.pid"
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and not pidf.exists():
        time.sleep(0.1)
    server.crash()  # the machine "crashed" under the job: server and worker die at once
    os.killpg(int(pidf.read_text()), signal.SIGKILL)
    server.restart()
    done = _job(server, psi_job["id"])
    assert done["status"] == "successful"
    r = requests.get(f"{server.url}/jobs/{psi_job['id']}/results?f=json", timeout=60)
    assert r.status_code == 200
    viewer = r.json()["viewer"]["href"]
    assert viewer.startswith(server.url)  # links follow the server's new address
    assert requests.get(viewer, timeout=60).status_code == 200
    st = _job(server, orphan)
    assert st["status"] == "failed" and "worker process ended unexpectedly" in st["message"]
