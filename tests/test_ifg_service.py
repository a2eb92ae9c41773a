"""interferogram-stack through the running service, then psi on the stack catalog it made.

A tiny simulated SAFE stack (6 dates, 300 range samples, one IW1 sub-swath; bbox of about
190 x 300 pixels around the scene centre), its products given as STAC items (the service's
interface), an interferogram-stack job to ``successful``, its catalog checked (valid offline;
one stack item, one item per secondary with the simulator's baselines within 1 %; links to the
input items), then a psi job on the catalog URL the first job returned, to ``successful``.  Six
dates, not three: psi selects no PS from fewer than about five interferograms.

The optional ``dem`` and ``orbits`` run on a second server, without a network: with both omitted,
the DEM step's download is replaced by the simulator's DEM through the tests-only variable
``SNAPSTAMPS_DEM_AUTO_SOURCE`` (:func:`snapstamps.ifg.download.prepare_dem`; the job's tools run in a CWL runner
in other processes, where a monkeypatch cannot reach) and the orbit downloads really run and fail
fast, the proxies pointing at a closed loopback port (the engine's offline fallback: a warning and
the annotation orbit).  A DEM by http:// URL is served on loopback and orbits staged in from
moto's S3 server on loopback.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

pytest.importorskip("pygeoapi")
pytest.importorskip("cwltool")
pytest.importorskip("xarray_sentinel")
requests = pytest.importorskip("requests")

from test_service import TIMEOUT, Server, _execute, _free_port, _jobs, _wait, running, wait_until_up

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]  # generous: a busy machine


def _item(safe: Path, out: Path, how: str) -> Path:
    """A minimal STAC item of an SLC product, its SAFE as a relative folder or manifest asset."""
    name = safe.name
    date = name.split("_")[5]
    href = f"../{name}" if how == "folder" else f"../{name}/manifest.safe"
    key = "safe" if how == "folder" else "safe_manifest"
    item = {
        "type": "Feature", "stac_version": "1.1.0", "id": name.removesuffix(".SAFE"),
        "geometry": None, "properties": {"datetime": f"{date[:4]}-{date[4:6]}-{date[6:8]}T{date[9:11]}:{date[11:13]}:{date[13:15]}Z",
                                         "product:type": "IW_SLC__1S", "sar:instrument_mode": "IW"},
        "links": [], "assets": {key: {"href": href, "roles": ["data"]}},
    }
    path = out / f"{item['id']}.json"
    path.write_text(json.dumps(item))
    return path


@pytest.fixture(scope="module")
def safe_stack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from snapstamps.simulate.safe_stack import SafeSimConfig, simulate_safe_stack

    d = tmp_path_factory.mktemp("safe") / "sim"
    s = simulate_safe_stack(d, SafeSimConfig(n_dates=6, seed=2, n_samples=300))
    (d / "items").mkdir()
    items = {p: _item(d / p, d / "items", "folder" if k % 2 else "manifest") for k, p in enumerate(s["products"])}
    c = s["scene_centre_lonlat"]
    return {"dir": d, "truth": s, "items": items, "bbox": [c[0] - 0.015, c[1] - 0.01, c[0] + 0.015, c[1] + 0.01]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(Server(tmp_path_factory.mktemp("ifgsvc") / "data")) as srv:
        yield srv


def _inputs(st: dict[str, Any], **over: Any) -> dict[str, Any]:
    t = st["truth"]
    ref = t["reference"]
    out = {
        "reference": str(st["items"][ref]),
        "secondaries": [str(st["items"][p]) for p in t["products"] if p != ref],
        "subswaths": ["IW1"], "polarisation": "VV", "bbox": st["bbox"],
        "dem": str(st["dir"] / t["dem"]), "orbits": str(st["dir"] / "orbits"),
    }
    out.update(over)
    return {k: v for k, v in out.items() if v is not None}


@pytest.mark.parametrize("over,needle", [
    ({"bbox": [12.0, 41.0, 11.0, 42.0]}, "'bbox'"),
    ({"bbox": [100.0, 10.0, 100.1, 10.1]}, "outside sub-swath IW1"),
    ({"subswaths": ["IW2"]}, "has no IW2 VV"),
    ({"polarisation": "HH", "subswaths": None}, "no HH sub-swath"),
    ({"reference": "/nonexistent/S1A.json"}, "input 'reference'"),
    ({"secondaries": ["REF"]}, "given twice"),
    ({"dem": "/nonexistent/dem.tif"}, "input 'dem'"),
    ({"dem": "ftp://example.invalid/dem.tif"}, "input 'dem': ftp:// is not supported"),
    ({"dem": "s3://bucket/dem.tif"}, "input 'dem': s3:// is not supported"),
    ({"dem": "http://127.0.0.1:CLOSED/dem.tif"}, "input 'dem': http://127.0.0.1"),
    ({"orbits": "/nonexistent/orbits"}, "input 'orbits'"),
    ({"orbits": "https://example.invalid/orbits/"}, "input 'orbits': http(s):// folders"),
    ({"orbits": "ftp://example.invalid/orbits/"}, "input 'orbits': ftp:// is not supported"),
    ({"backend": "gamma"}, "backend"),
])
def test_interferogram_stack_invalid_inputs_get_400(server: Server, safe_stack: dict, over: dict, needle: str) -> None:
    """Bad references, AOI, sub-swath, polarisation, DEM or orbits: HTTP 400 before any job exists."""
    if over.get("secondaries") == ["REF"]:
        over = {"secondaries": [str(safe_stack["items"][safe_stack["truth"]["reference"]])]}
    if "CLOSED" in str(over.get("dem")):
        over = {"dem": over["dem"].replace("CLOSED", str(_free_port()))}  # nothing listens there
    before = len(_jobs(server))
    r = _execute(server, "interferogram-stack", _inputs(safe_stack, **over), async_=True)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "InvalidParameterValue" and needle in body["detail"], body
    assert len(_jobs(server)) == before


def test_interferogram_stack_job_then_psi_on_its_catalog(server: Server, safe_stack: dict) -> None:
    """interferogram-stack -> successful, valid stack catalog with truth baselines; psi on it -> successful."""
    import pystac

    from snapstamps.stac.validate import validate_catalog

    truth = safe_stack["truth"]
    r = _execute(server, "interferogram-stack", _inputs(safe_stack, subswaths=None), async_=True)
    assert r.status_code == 201, r.text
    job = r.json()["jobID"]
    seen = _wait(server, job, {"successful", "failed"}, timeout=TIMEOUT)
    assert seen[-1]["status"] == "successful", (seen[-1], (server.data_dir / "jobs" / job / "job.log").read_text()[-3000:])
    assert any(s["status"] == "running" and "coregistration" in s.get("message", "") for s in seen)
    res = requests.get(f"{server.url}/jobs/{job}/results?f=json", timeout=60).json()
    assert res["catalog"]["href"] == f"{server.url}/jobs/{job}/files/catalog.json"

    cat_path = server.data_dir / "catalogs" / job / "catalog.json"
    report = validate_catalog(cat_path)
    assert report.ok, report.errors
    cat = pystac.Catalog.from_file(str(cat_path))
    items = {i.id: i for i in cat.get_items()}
    ref_date = truth["dates"][truth["reference_index"]]
    secs = [d for d in truth["dates"] if d != ref_date]
    assert set(items) == {f"stack-{ref_date}-IW1"} | {f"ifg-{ref_date}-{d}-IW1" for d in secs}
    stack = items[f"stack-{ref_date}-IW1"]
    insar = Path(stack.assets["stamps-export"].get_absolute_href())
    assert insar.name == f"INSAR_{ref_date}" and insar.is_relative_to(cat_path.parent)
    assert (insar / "diff0" / f"{ref_date}_{secs[0]}.diff").is_file()
    item_uri = {p: Path(h).resolve().as_uri() for p, h in safe_stack["items"].items()}
    for k, d in enumerate(truth["dates"]):
        if d == ref_date:
            continue
        it = items[f"ifg-{ref_date}-{d}-IW1"]
        p = it.properties
        want = truth["bperp_scene_centre_m"][k]  # relative to the reference
        assert abs(float(p["insar:perpendicular_baseline"]) - want) <= 0.01 * abs(want), (d, p, want)
        days = (k - truth["reference_index"]) * 12
        assert p["snapstamps:temporal_baseline_days"] == days and p["insar:temporal_baseline"] == abs(days)
        assert p["insar:reference_datetime"].startswith(f"{ref_date[:4]}-{ref_date[4:6]}-{ref_date[6:]}")
        assert p["insar:secondary_datetime"].startswith(f"{d[:4]}-{d[4:6]}-{d[6:]}")
        assert Path(it.assets["interferogram"].get_absolute_href()).is_file()
        assert Path(it.assets["coregistered_secondary"].get_absolute_href()).is_file()
        links = {link.rel: link.href for link in it.links}
        assert links["reference"] == item_uri[truth["reference"]]
        assert links["secondary"] == item_uri[truth["products"][k]]

    # psi on the catalog URL the interferogram-stack job returned
    r = _execute(server, "psi", {"stack": res["catalog"]["href"]}, async_=True)
    assert r.status_code == 201, r.text
    pjob = r.json()["jobID"]
    seen = _wait(server, pjob, {"successful", "failed"}, timeout=TIMEOUT)
    assert seen[-1]["status"] == "successful", (seen[-1], (server.data_dir / "jobs" / pjob / "job.log").read_text()[-3000:])
    pcat = server.data_dir / "catalogs" / pjob / "catalog.json"
    assert validate_catalog(pcat).ok
    meta = json.loads(next(pcat.parent.glob("*/psi_metadata.json")).read_text())
    assert meta["counts"]["ps"] > 100 and len(meta["dates"]) == len(truth["dates"])
    shutil.rmtree(server.data_dir / "jobs" / pjob / "tmp", ignore_errors=True)


# ---------------------------------------------------------------------- optional dem and orbits
class _Files(http.server.SimpleHTTPRequestHandler):
    """Serves a folder on loopback and records ``(path, ranged)`` of every GET."""

    seen: ClassVar[list[tuple[str, bool]]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, "Range" in self.headers))
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def files_url(safe_stack: dict) -> Iterator[str]:
    """The simulated stack's folder over http on a loopback port."""
    import functools

    handler = functools.partial(_Files, directory=str(safe_stack["dir"]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's S3 server on loopback (skips without moto); yields the AWS variables pointing at it."""
    pytest.importorskip("moto.server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path_factory.mktemp("moto") / "moto.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until_up(url, proc, "moto server")
        yield {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_ENDPOINT_URL": url}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def offline_server(tmp_path_factory: pytest.TempPathFactory, safe_stack: dict,
                   request: pytest.FixtureRequest) -> Iterator[Server]:
    """A server whose jobs have no network (proxies on a closed loopback port) and whose DEM step
    copies the simulator's DEM (``SNAPSTAMPS_DEM_AUTO_SOURCE``, tests only) instead of downloading;
    its S3 is moto's server when moto is installed."""
    try:
        aws = request.getfixturevalue("moto_s3")
    except pytest.skip.Exception:
        aws = {}
    closed = f"http://127.0.0.1:{_free_port()}"
    env = dict(os.environ, **aws, HTTP_PROXY=closed, HTTPS_PROXY=closed, http_proxy=closed, https_proxy=closed,
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               SNAPSTAMPS_DEM_AUTO_SOURCE=str(safe_stack["dir"] / safe_stack["truth"]["dem"]),
               # its http DEM comes from a loopback server: the operator allows private addresses
               SNAPSTAMPS_FETCH_ALLOW_PRIVATE="1")
    with running(Server(tmp_path_factory.mktemp("ifgsvc-offline") / "data", env=env)) as srv:
        yield srv


def _two_pairs(st: dict[str, Any], **over: Any) -> dict[str, Any]:
    """Inputs with two secondaries (the dates next to the reference) and without dem and orbits."""
    t = st["truth"]
    k = t["reference_index"]
    near = sorted((i for i in range(len(t["products"])) if i != k), key=lambda i: abs(i - k))[:2]
    return _inputs(st, **{"secondaries": [str(st["items"][t["products"][i]]) for i in sorted(near)],
                          "dem": None, "orbits": None, **over})


def _run_job(server: Server, inputs: dict[str, Any]) -> tuple[Path, str]:
    r = _execute(server, "interferogram-stack", inputs, async_=True)
    assert r.status_code == 201, r.text
    job = r.json()["jobID"]
    seen = _wait(server, job, {"successful", "failed"}, timeout=TIMEOUT)
    job_dir = server.data_dir / "jobs" / job
    log = (job_dir / "job.log").read_text(errors="replace")
    assert seen[-1]["status"] == "successful", (seen[-1], log[-3000:])
    cat = server.data_dir / "catalogs" / job / "catalog.json"
    items = json.loads(cat.read_text())["links"]
    assert sum(1 for link in items if link["rel"] == "item") == 3  # one stack item, two pair items
    return job_dir, re.sub(r"\x1b\[[0-9;]*m", "", log)


def test_interferogram_stack_without_dem_and_orbits_prepares_the_dem_once(offline_server: Server,
                                                                         safe_stack: dict) -> None:
    """dem and orbits omitted: one DEM step for both pairs (its download replaced by the simulator's
    DEM), every pair given that file and --download-orbits; offline: warnings, annotation orbit."""
    job_dir, log = _run_job(offline_server, _two_pairs(safe_stack))
    cwl_job = json.loads((job_dir / "cwl-job.json").read_text())
    assert "dem" not in cwl_job and "orbits" not in cwl_job and cwl_job["download_orbits"] is True
    assert log.count("[job dem_auto] completed success") == 1
    assert "SNAPSTAMPS_DEM_AUTO_SOURCE is set (tests only)" in log
    pairs = re.findall(r"\[job pair(?:_\d+)?\] \S+\$ snapstamps(.*?)--out", log, re.DOTALL)
    assert len(pairs) == 2, log[-3000:]
    for cmd in pairs:
        assert re.search(r"--dem \\\s+\S+/glo30_[-\d._]+\.tif", cmd) and "--download-orbits" in cmd, cmd
        assert "--orbits" not in cmd
    assert log.count("annotation orbit used") >= 2 and "warning: orbit" in log


def test_interferogram_stack_stages_in_an_http_dem_and_s3_orbits(offline_server: Server, safe_stack: dict,
                                                                 files_url: str, moto_s3: dict[str, str]) -> None:
    """dem by http:// URL: checked before the job, downloaded once by it; orbits from an s3:// prefix."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_s3["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    s3.create_bucket(Bucket="orbits")
    for f in (safe_stack["dir"] / "orbits").iterdir():
        s3.upload_file(str(f), "orbits", f"sim/{f.name}")
    dem_url = f"{files_url}/{safe_stack['truth']['dem']}"
    bad = [({"dem": f"{files_url}/dem/missing.tif"}, "input 'dem'"),
           ({"orbits": "s3://orbits/empty/"}, "input 'orbits'"),
           ({"orbits": "s3://no-such-bucket/x/"}, "input 'orbits'")]
    for over, needle in bad:
        r = _execute(offline_server, "interferogram-stack", _two_pairs(safe_stack, **over), async_=True)
        assert r.status_code == 400 and needle in r.json()["description"], r.text
    _Files.seen.clear()
    job_dir, log = _run_job(offline_server, _two_pairs(safe_stack, dem=dem_url, orbits="s3://orbits/sim/"))
    dem_path = "/" + safe_stack["truth"]["dem"]
    assert _Files.seen.count((dem_path, False)) == 1  # downloaded once (besides the one-byte check)
    cwl_job = json.loads((job_dir / "cwl-job.json").read_text())
    assert Path(cwl_job["dem"]["path"]).is_relative_to(job_dir / "stage-in")
    assert sorted(p.name for p in Path(cwl_job["orbits"]["path"]).iterdir()) == sorted(
        p.name for p in (safe_stack["dir"] / "orbits").iterdir())
    assert cwl_job["download_orbits"] is False
    assert "[step dem_auto] will be skipped" in log and "--download-orbits" not in log
    # which orbit each pair used is an INFO line, silenced by the tools' --quiet since the logging
    # change on main: the engine's own tests check the EOF is used; here the staged folder is what it gets
    assert "annotation orbit used" not in log
