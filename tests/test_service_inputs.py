"""Safe inputs and readable failures, against a real server on loopback.

* Fetch policy: refusals are proven before any connection, with an injected resolver and a
  connector that fails the test if called; through the server, a trap listening on 127.0.0.1
  must receive nothing whatever spelling of a loopback address the request uses.  No test
  reaches a non-loopback address.
* Local paths only under the data roots; no error text echoes a file's or a document's content.
* Request bodies limited in size and depth; every error is JSON with an OGC exception type URI.
* Inputs validated fully before a job exists (integers, lon/lat, coverage, output selections).
* A failed job says which step failed and why; its results are an exception with that cause and
  its log is served.
* Optional API token and CORS.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from test_service import TIMEOUT, Server, _jobs, _wait, running, stack  # noqa: F401

from snapstamps.service.fetch import FetchPolicy, FetchRefused, build_opener

requests = pytest.importorskip("requests")
OGC_EXC = "http://www.opengis.net/def/exceptions/"


# ---------------------------------------------------------------------- policy (no network)
def _resolver(table: dict[str, list[str]]):  # noqa: ANN202
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize("url,addr", [
    ("http://metadata.example/latest/meta-data/", "169.254.169.254"),
    ("http://intranet.example/", "10.1.2.3"),
    ("https://lan.example/x", "192.168.0.10"),
    ("http://cgnat.example/x", "100.64.0.1"),
    ("http://v6.example/x", "::1"),
    ("http://mapped.example/x", "::ffff:127.0.0.1"),
    ("http://ula.example/x", "fd00::1"),
    ("http://zero.example/x", "0.0.0.0"),
])
def test_policy_refuses_private_names_before_connecting(url: str, addr: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_connection(*a, **k):  # noqa: ANN002, ANN003
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    monkeypatch.setattr(socket.socket, "connect", no_connection)
    policy = FetchPolicy(resolver=_resolver({u: [addr] for u in [url.split("/")[2]]}))
    with pytest.raises(FetchRefused, match="loopback, link-local, private or reserved"):
        policy.check_url(url)
    with pytest.raises(OSError, match="fetch policy"):  # and through urllib, the way every reader fetches
        build_opener(policy).open(url, timeout=5)


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://[::1]:8080/", "http://2130706433/", "http://127.1/",
                                 "http://0x7f000001/", "http://169.254.169.254/latest/", "http://localhost/"])
def test_policy_refuses_loopback_and_link_local_spellings(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("connected"))
    with pytest.raises(FetchRefused):
        FetchPolicy().check_url(url)  # the system resolver: all of these are loopback or link-local


def test_policy_host_list_schemes_credentials_and_public_addresses() -> None:
    resolve = _resolver({"data.example.org": ["93.184.216.34"], "evil.example": ["93.184.216.35"]})
    policy = FetchPolicy(allowed_hosts=["*.example.org"], resolver=resolve)
    assert policy.check_url("https://data.example.org/a.json") == ("data.example.org", 443, ["93.184.216.34"])
    with pytest.raises(FetchRefused, match="not in this service's list"):
        policy.check_url("https://evil.example/a.json")
    assert "evil.example" not in resolve.calls  # refused before the lookup
    for bad in ("ftp://data.example.org/x", "file:///etc/passwd", "http://user:pw@data.example.org/x", "http:///x"):
        with pytest.raises(FetchRefused):
            policy.check_url(bad)
    assert FetchPolicy(allow_private=True).check_url("http://127.0.0.1:9/")[2] == ["127.0.0.1"]
    with pytest.raises(FetchRefused, match="allowed buckets"):
        FetchPolicy(s3_buckets=["ok"]).check_s3("s3://other/key")


def test_size_limit_cuts_a_download(tmp_path: Path) -> None:
    """A loopback server (private addresses allowed for this test) sends more than the limit."""
    import http.server

    class Big(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.end_headers()  # no Content-Length: counted while read
            self.wfile.write(b"x" * 50_000)

        def log_message(self, *a) -> None:  # noqa: ANN002
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Big)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        opener = build_opener(FetchPolicy(allow_private=True, max_bytes=10_000))
        with pytest.raises(FetchRefused, match="larger than"):
            with opener.open(f"http://127.0.0.1:{httpd.server_address[1]}/big", timeout=30) as resp:
                while resp.read(4096):
                    pass
    finally:
        httpd.shutdown()


# ---------------------------------------------------------------------- through the server
class Trap:
    """A TCP listener on 127.0.0.1 that counts connections (it must get none)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.hits += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(Server(tmp_path_factory.mktemp("inputs") / "data")) as s:
        yield s


def _exec(srv: Server, process: str, body: dict | bytes | str, headers: dict | None = None) -> requests.Response:
    h = {"Content-Type": "application/json", "Prefer": "respond-async", **(headers or {})}
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{srv.url}/processes/{process}/execution", data=data, headers=h, timeout=120)


def _refused(r: requests.Response, status: int = 400) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["type"].startswith(OGC_EXC) and body["status"] == status and body["detail"]
    return body


def test_ssrf_attempts_reach_nothing(srv: Server, tmp_path: Path) -> None:
    trap = Trap()
    p = trap.port
    try:
        before = len(_jobs(srv))
        urls = [f"http://127.0.0.1:{p}/item.json", f"http://localhost:{p}/item.json", f"http://[::1]:{p}/x.json",
                f"http://2130706433:{p}/item.json", f"http://127.1:{p}/S1A.zip", f"http://0.0.0.0:{p}/item.json",
                "http://169.254.169.254/latest/meta-data/"]
        for url in urls:
            body = {"inputs": {"reference": url, "secondaries": [url], "bbox": [0, 0, 1, 1]}}
            d = _refused(_exec(srv, "interferogram-stack", body))["detail"]
            assert "fetch policy" in d, d
            d = _refused(_exec(srv, "interferogram-stack", {"inputs": {
                "reference": str(tmp_path / "none.json"), "secondaries": ["x"], "bbox": [0, 0, 1, 1], "dem": url}}))
        time.sleep(0.5)
        assert trap.hits == 0, "the server connected to the trap"
        assert len(_jobs(srv)) == before
    finally:
        trap.close()


def test_paths_outside_the_data_roots_are_refused_unread(srv: Server, tmp_path_factory: pytest.TempPathFactory) -> None:
    import tempfile

    outside = Path(tempfile.mkdtemp(prefix="snapstamps-outside-"))  # not under the pytest base folder
    try:
        secret = outside / "item.json"
        secret.write_text(json.dumps({"type": "Feature", "id": "TOP-SECRET-ID", "assets": {}}))
        insar = outside / "INSAR_20200101"
        for d in ("rslc", "diff0", "geo"):
            (insar / d).mkdir(parents=True)
        cases = [
            ("psi", {"stack": "/etc"}), ("psi", {"stack": "/proc/self/environ"}), ("psi", {"stack": str(insar)}),
            ("psi", {"stack": f"file://{insar}"}), ("psi", {"stack": str(secret)}),
            ("interferogram-stack", {"reference": str(secret), "secondaries": [str(secret)], "bbox": [0, 0, 1, 1]}),
            ("interferogram-stack", {"reference": f"file://{secret}", "secondaries": ["x"], "bbox": [0, 0, 1, 1]}),
        ]
        for process, inputs in cases:
            body = _refused(_exec(srv, process, {"inputs": inputs}))
            assert "outside the data folders" in body["detail"], body
            assert "TOP-SECRET-ID" not in json.dumps(body)
        # under the roots, a JSON file that is not an item: its content is not echoed either
        inside = tmp_path_factory.mktemp("inside") / "x.json"
        inside.write_text(json.dumps({"type": "FeatureCollection", "id": "TOP-SECRET-ID"}))
        body = _refused(_exec(srv, "psi", {"inputs": {"stack": str(inside)}}))
        assert "TOP-SECRET-ID" not in json.dumps(body)
    finally:
        import shutil

        shutil.rmtree(outside, ignore_errors=True)


def test_bodies_are_limited_and_errors_are_json(srv: Server) -> None:
    _refused(_exec(srv, "echo", b'{"inputs": {"echoInput": "' + b"a" * 10_000_000 + b'"}}'), 413)
    _refused(_exec(srv, "echo", '{"inputs": {"echoInput": ' + "[" * 5000 + "]" * 5000 + "}}"))
    _refused(_exec(srv, "echo", b"\xff\xfe not utf-8"))
    _refused(_exec(srv, "echo", "[1, 2]"))
    _refused(_exec(srv, "echo", {"inputs": {"echoInput": "x"}, "subscriber": "not an object"}))
    _refused(_exec(srv, "echo", {"inputs": "x"}))
    _refused(_exec(srv, "no-such-process", {"inputs": {}}), 404)
    for path in ("/jobs/" + "a" * 300, "/jobs/x/files/%00", "/jobs/x/files/" + "b" * 300, "/nope", "/jobs/%00/results"):
        r = requests.get(srv.url + path, timeout=60)
        _refused(r, 404)
    r = requests.put(f"{srv.url}/jobs", timeout=60)
    _refused(r, 405)
    assert requests.get(f"{srv.url}/jobs?f=json", timeout=60).status_code == 200  # the server is fine


@pytest.mark.parametrize("inputs,needle", [
    ({"patches": [1.0, 1]}, "patches"),
    ({"patches": [True, 1]}, "patches"),
    ({"reference_area": [999, 999, -5]}, "reference_area"),
    ({"reference_area": [500, 41.9, 100]}, "reference_area"),
    ({"reference_area": [10.0, 45.0, 0]}, "radius"),
    ({"reference_area": [-120.0, -60.0, 1000]}, "does not reach the stack"),
    ({"unwrap_grid_size": "5"}, "unwrap_grid_size"),
])
def test_inputs_are_validated_before_a_job_exists(srv: Server, stack: Path, inputs: dict, needle: str) -> None:  # noqa: F811
    before = len(_jobs(srv))
    body = _refused(_exec(srv, "psi", {"inputs": {"stack": str(stack), **inputs}}))
    assert needle in body["detail"], body
    assert len(_jobs(srv)) == before


@pytest.mark.parametrize("outputs,needle", [
    ("x", "'outputs' must be an object"),
    (["catalog"], "'outputs' must be an object"),
    ({"nope": {}}, "unknown output 'nope'"),
    ({"catalog": {"transmissionMode": "carrier-pigeon"}}, "transmissionMode"),
    ({"catalog": "x"}, "must be an object"),
])
def test_output_selections_are_validated(srv: Server, stack: Path, outputs: object, needle: str) -> None:  # noqa: F811
    body = _refused(_exec(srv, "psi", {"inputs": {"stack": str(stack)}, "outputs": outputs}))
    assert needle in body["detail"], body


def test_a_failed_job_says_which_step_failed_and_why(srv: Server, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A real CWL run whose first step fails (an empty stack): status message, results and log."""
    insar = tmp_path_factory.mktemp("empty") / "INSAR_20200101"
    for d in ("rslc", "diff0", "geo"):
        (insar / d).mkdir(parents=True)
    r = _exec(srv, "psi", {"inputs": {"stack": str(insar)}})
    assert r.status_code == 201, r.text
    job = r.json()["jobID"]
    final = _wait(srv, job, {"successful", "failed"}, timeout=TIMEOUT)[-1]
    assert final["status"] == "failed"
    msg = final["message"]
    assert "\n" not in msg and msg.startswith("failed: step 'prep' failed: ") and "too few dates" in msg, msg
    res = requests.get(f"{srv.url}/jobs/{job}/results?f=json", timeout=60)
    assert res.status_code == 500 and res.json()["detail"] == msg and res.json()["type"].startswith(OGC_EXC)
    log_link = next(ln["href"] for ln in final["links"] if ln["rel"] == "log")
    log = requests.get(log_link, timeout=60)
    assert log.status_code == 200 and log.headers["Content-Type"].startswith("text/plain")
    assert "too few dates" in log.text and "Final process status is permanentFail" in log.text


def test_conformance_and_execution_unit(srv: Server) -> None:
    conf = requests.get(f"{srv.url}/conformance?f=json", timeout=60).json()["conformsTo"]
    base = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/"
    assert base + "job-list" in conf and base + "dismiss" in conf and base + "callback" not in conf
    desc = requests.get(f"{srv.url}/processes/psi?f=json", timeout=60).json()
    assert desc["jobControlOptions"] == ["async-execute", "dismiss"]  # no sync-execute it would not honour
    listed = {p["id"]: p for p in requests.get(f"{srv.url}/processes?f=json", timeout=60).json()["processes"]}
    assert "sync-execute" not in listed["psi"]["jobControlOptions"]
    assert "sync-execute" in listed["echo"]["jobControlOptions"]
    unit = next(ln for ln in desc["links"] if ln["rel"].endswith("/execution-unit"))
    assert unit["href"] == f"{srv.url}/processes/psi/package"
    r = requests.get(unit["href"], timeout=60)
    assert r.status_code == 200 and "cwlVersion" in r.text
    assert requests.get(f"{srv.url}/processes/echo/package", timeout=60).status_code == 404


def test_api_token_and_cors_when_configured(tmp_path_factory: pytest.TempPathFactory) -> None:
    env = {"SNAPSTAMPS_API_TOKEN": "s3cret-token", "SNAPSTAMPS_CORS_ORIGINS": "https://viewer.example"}
    with running(Server(tmp_path_factory.mktemp("token") / "data", env=env)) as s:
        body = {"inputs": {"echoInput": "x"}}
        _refused(_exec(s, "echo", body), 401)
        _refused(_exec(s, "echo", body, {"Authorization": "Bearer wrong"}), 401)
        ok = _exec(s, "echo", body, {"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 201
        job = ok.json()["jobID"]
        assert requests.get(f"{s.url}/jobs/{job}?f=json", timeout=60).status_code == 200  # reading is open
        _refused(requests.delete(f"{s.url}/jobs/{job}", timeout=60), 401)
        assert requests.delete(f"{s.url}/jobs/{job}", headers={"Authorization": "Bearer s3cret-token"},
                               timeout=60).status_code == 200
        r = requests.get(f"{s.url}/processes?f=json", headers={"Origin": "https://viewer.example"}, timeout=60)
        assert r.headers["Access-Control-Allow-Origin"] == "https://viewer.example"
        r = requests.get(f"{s.url}/processes?f=json", headers={"Origin": "https://evil.example"}, timeout=60)
        assert "Access-Control-Allow-Origin" not in r.headers
        pre = requests.options(f"{s.url}/processes/echo/execution", timeout=60,
                               headers={"Origin": "https://viewer.example", "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 200 and "POST" in pre.headers["Access-Control-Allow-Methods"]
