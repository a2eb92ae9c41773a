"""interferogram-stack through the running service, then psi on the stack catalog it made.

A tiny simulated SAFE stack (6 dates, 300 range samples, one IW1 sub-swath; bbox of about
190 x 300 pixels around the scene centre), its products given as STAC items (the service's
interface), an interferogram-stack job to ``successful``, its catalog checked (valid offline;
one stack item, one item per secondary with the simulator's baselines within 1 %; links to the
input items), then a psi job on the catalog URL the first job returned, to ``successful``.  Six
dates, not three: psi selects no PS from fewer than about five interferograms.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pygeoapi")
pytest.importorskip("cwltool")
pytest.importorskip("xarray_sentinel")
requests = pytest.importorskip("requests")

from test_service import Server, _execute, _jobs, _kill_workers, _wait

pytestmark = pytest.mark.slow


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
    srv = Server(tmp_path_factory.mktemp("ifgsvc") / "data")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        _kill_workers(srv.data_dir)


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
    ({"dem": "https://example.invalid/dem.tif"}, "input 'dem'"),
    ({"orbits": "/nonexistent/orbits"}, "input 'orbits'"),
    ({"backend": "gamma"}, "backend"),
])
def test_interferogram_stack_invalid_inputs_get_400(server: Server, safe_stack: dict, over: dict, needle: str) -> None:
    """Bad references, AOI, sub-swath, polarisation, DEM or orbits: HTTP 400 before any job exists."""
    if over.get("secondaries") == ["REF"]:
        over = {"secondaries": [str(safe_stack["items"][safe_stack["truth"]["reference"]])]}
    before = len(_jobs(server))
    r = _execute(server, "interferogram-stack", _inputs(safe_stack, **over), async_=True)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["type"] == "InvalidParameterValue" and needle in body["description"], body
    assert len(_jobs(server)) == before


def test_interferogram_stack_job_then_psi_on_its_catalog(server: Server, safe_stack: dict) -> None:
    """interferogram-stack -> successful, valid stack catalog with truth baselines; psi on it -> successful."""
    import pystac

    from snapstamps.stac.validate import validate_catalog

    truth = safe_stack["truth"]
    r = _execute(server, "interferogram-stack", _inputs(safe_stack, subswaths=None), async_=True)
    assert r.status_code == 201, r.text
    job = r.json()["jobID"]
    seen = _wait(server, job, {"successful", "failed"}, timeout=150)
    assert seen[-1]["status"] == "successful", (seen[-1], (server.data_dir / "jobs" / job / "job.log").read_text()[-3000:])
    assert any(s["status"] == "running" and "coregistration" in s.get("message", "") for s in seen)
    res = requests.get(f"{server.url}/jobs/{job}/results?f=json", timeout=10).json()
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
    seen = _wait(server, pjob, {"successful", "failed"}, timeout=150)
    assert seen[-1]["status"] == "successful", (seen[-1], (server.data_dir / "jobs" / pjob / "job.log").read_text()[-3000:])
    pcat = server.data_dir / "catalogs" / pjob / "catalog.json"
    assert validate_catalog(pcat).ok
    meta = json.loads(next(pcat.parent.glob("*/psi_metadata.json")).read_text())
    assert meta["counts"]["ps"] > 100 and len(meta["dates"]) == len(truth["dates"])
    shutil.rmtree(server.data_dir / "jobs" / pjob / "tmp", ignore_errors=True)
