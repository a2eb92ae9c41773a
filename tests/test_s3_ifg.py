"""interferogram-stack with its inputs on S3: STAC items by s3:// URL, SAFEs as s3:// prefixes or zips.

moto's S3 server on a loopback port (the fixtures of ``test_s3``); a tiny simulated SAFE stack
(3 dates, 300 range samples, IW1 VV, as ``test_ifg_service`` but fewer dates) uploaded to a bucket:
the reference as a ``.SAFE`` prefix (plus a preview and a VH measurement the job must not
download), one secondary as a ``.SAFE`` prefix and one as a ``.zip`` object, each with a STAC item
on S3 (relative and absolute SAFE hrefs).  An interferogram-stack job given the s3:// item URLs
stages in only what the engine reads, reaches ``successful``, and its catalog links the s3:// items;
a missing item, a missing SAFE or a missing sub-swath gets 400 before any job exists.  The http(s)
zip path is checked in-process against a loopback http server that ignores ``Range``.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pygeoapi")
pytest.importorskip("cwltool")
pytest.importorskip("xarray_sentinel")
boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server")
requests = pytest.importorskip("requests")

from test_s3 import AWS_ENV, _upload_dir, moto_url  # noqa: F401 - the moto server fixture, reused
from test_service import TIMEOUT, Server, _execute, _jobs, _wait, running

BUCKET = "slc"


def _zip_safe(safe: Path, out: Path) -> Path:
    """``out/<product>.zip`` holding ``<product>.SAFE/...`` as ESA's zips do."""
    z = out / f"{safe.name.removesuffix('.SAFE')}.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(safe.rglob("*")):
            if f.is_file():
                zf.write(f, f"{safe.name}/{f.relative_to(safe).as_posix()}")
    return z


def _item(name: str, href: str) -> dict[str, Any]:
    date = name.split("_")[5]
    return {"type": "Feature", "stac_version": "1.1.0", "id": name.removesuffix(".SAFE"), "geometry": None,
            "properties": {"datetime": f"{date[:4]}-{date[4:6]}-{date[6:8]}T{date[9:11]}:{date[11:13]}:{date[13:15]}Z"},
            "links": [], "assets": {"product": {"href": href, "roles": ["data"]}}}


@pytest.fixture(scope="module")
def s3c(moto_url: str) -> Any:  # noqa: F811
    """A boto3 client of the moto server."""
    return boto3.client("s3", endpoint_url=moto_url)


@pytest.fixture(scope="module")
def s3_safes(s3c: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The simulated stack on s3://slc/: reference and one secondary as prefixes, one secondary as a zip."""
    from snapstamps.simulate.safe_stack import SafeSimConfig, simulate_safe_stack

    d = tmp_path_factory.mktemp("safe3") / "sim"
    t = simulate_safe_stack(d, SafeSimConfig(n_dates=3, seed=2, n_samples=300))
    s3 = s3c
    s3.create_bucket(Bucket=BUCKET)
    ref = t["reference"]
    secs = [p for p in t["products"] if p != ref]
    items: dict[str, str] = {}
    for p in [ref, secs[0]]:
        _upload_dir(s3, d / p, BUCKET, f"safe/{p}/")
        items[p] = f"s3://{BUCKET}/items/{p.removesuffix('.SAFE')}.json"
        body = _item(p, f"../safe/{p}")  # relative to the item
        s3.put_object(Bucket=BUCKET, Key=items[p].split(f"{BUCKET}/", 1)[1], Body=json.dumps(body).encode())
    # objects the job must not download: a preview and the measurement of another polarisation
    vh = next((d / ref / "measurement").glob("*-vv-*.tiff")).name.replace("-vv-", "-vh-")
    s3.put_object(Bucket=BUCKET, Key=f"safe/{ref}/preview/quick-look.png", Body=b"png")
    s3.put_object(Bucket=BUCKET, Key=f"safe/{ref}/measurement/{vh}", Body=b"vh")
    z = _zip_safe(d / secs[1], d)
    s3.upload_file(str(z), BUCKET, f"zips/{z.name}")
    items[secs[1]] = f"s3://{BUCKET}/items/{secs[1].removesuffix('.SAFE')}.json"
    s3.put_object(Bucket=BUCKET, Key=f"items/{secs[1].removesuffix('.SAFE')}.json",
                  Body=json.dumps(_item(secs[1], f"s3://{BUCKET}/zips/{z.name}")).encode())
    # an item whose SAFE is not there
    s3.put_object(Bucket=BUCKET, Key="items/dangling.json",
                  Body=json.dumps(_item(secs[0], f"s3://{BUCKET}/nowhere/{secs[0]}")).encode())
    c = t["scene_centre_lonlat"]
    return {"dir": d, "truth": t, "items": items, "secondaries": secs, "zip": z,
            "bbox": [c[0] - 0.015, c[1] - 0.01, c[0] + 0.015, c[1] + 0.01]}


@pytest.fixture(scope="module")
def s3_ifg_server(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:  # noqa: F811
    env = dict(os.environ, **AWS_ENV, AWS_ENDPOINT_URL=moto_url)
    with running(Server(tmp_path_factory.mktemp("ifgsvc-s3") / "data", env=env)) as srv:
        yield srv


def _inputs(st: dict[str, Any], **over: Any) -> dict[str, Any]:
    t = st["truth"]
    out = {"reference": st["items"][t["reference"]], "secondaries": [st["items"][p] for p in st["secondaries"]],
           "subswaths": ["IW1"], "polarisation": "VV", "bbox": st["bbox"],
           "dem": str(st["dir"] / t["dem"]), "orbits": str(st["dir"] / "orbits")}
    out.update(over)
    return {k: v for k, v in out.items() if v is not None}


def test_missing_s3_objects_get_400_before_any_job(s3_ifg_server: Server, s3_safes: dict) -> None:
    before = len(_jobs(s3_ifg_server))
    for over, needle in [
        ({"reference": f"s3://{BUCKET}/items/missing.json"}, "input 'reference': s3://slc/items/missing.json"),
        ({"secondaries": [f"s3://{BUCKET}/items/dangling.json"]}, "no manifest.safe"),
        ({"secondaries": ["s3://no-such-bucket/item.json"]}, "NoSuchBucket"),
        ({"secondaries": [f"s3://{BUCKET}/safe/S1A_MISSING.SAFE"]}, "the SAFE cannot be used"),  # a SAFE URL itself
        ({"subswaths": ["IW2"]}, "has no IW2 VV"),
        ({"polarisation": "VH", "subswaths": None}, "no VH sub-swath"),  # a VH tiff alone is not a layer
    ]:
        r = _execute(s3_ifg_server, "interferogram-stack", _inputs(s3_safes, **over), async_=True)
        assert r.status_code == 400, r.text
        assert needle in r.json()["description"], (needle, r.json())
    assert len(_jobs(s3_ifg_server)) == before


@pytest.mark.slow
def test_interferogram_stack_from_s3_items(s3_ifg_server: Server, s3_safes: dict) -> None:
    """s3:// items, SAFEs as s3 prefixes and an s3 zip: staged in once (needed members only), successful,
    the catalog links the s3:// items."""
    import pystac

    t = s3_safes["truth"]
    r = _execute(s3_ifg_server, "interferogram-stack", _inputs(s3_safes), async_=True)
    assert r.status_code == 201, r.text
    job = r.json()["jobID"]
    seen = _wait(s3_ifg_server, job, {"successful", "failed"}, timeout=TIMEOUT)
    job_dir = s3_ifg_server.data_dir / "jobs" / job
    assert seen[-1]["status"] == "successful", (seen[-1], (job_dir / "job.log").read_text(errors="replace")[-3000:])

    cwl_job = json.loads((job_dir / "cwl-job.json").read_text())
    staged = [Path(cwl_job["reference"]["path"])] + [Path(x["path"]) for x in cwl_job["secondaries"]]
    assert [p.name for p in staged] == [t["reference"], *s3_safes["secondaries"]]
    for p in staged:
        assert p.is_relative_to(job_dir / "stage-in") and (p / "manifest.safe").is_file()
        assert len(list((p / "measurement").iterdir())) == 1  # IW1 VV only
    ref_dir = staged[0]
    assert not (ref_dir / "preview").exists() and not list((ref_dir / "measurement").glob("*-vh-*"))

    cat = pystac.Catalog.from_file(str(s3_ifg_server.data_dir / "catalogs" / job / "catalog.json"))
    links: dict[str, set[str]] = {}
    for it in cat.get_items():
        for link in it.links:
            if link.rel in ("reference", "secondary"):
                links.setdefault(link.rel, set()).add(link.href)
    assert links["reference"] == {s3_safes["items"][t["reference"]]}
    assert links["secondary"] == {s3_safes["items"][p] for p in s3_safes["secondaries"]}


class _NoRange(http.server.SimpleHTTPRequestHandler):
    """Serves a folder on loopback, ignoring ``Range`` (as Python's server does); counts GETs."""

    gets: list[str] = []  # noqa: RUF012

    def do_GET(self) -> None:
        type(self).gets.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_http_zip_safe_is_listed_and_staged_in_partially(s3_safes: dict, tmp_path: Path) -> None:
    """An http:// .zip SAFE (server without range support): listed, then only the needed members extracted."""
    from snapstamps.stac.remote_safe import open_remote_safe, stage_in_safe
    from snapstamps.stac.s3io import RemoteReadError
    from snapstamps.stac.slc import resolve_slc, safe_layers, swath_footprints

    z: Path = s3_safes["zip"]
    with zipfile.ZipFile(z, "a") as zf:  # a member the engine does not read
        zf.writestr(f"{z.stem}.SAFE/preview/quick-look.png", b"png")
    item = tmp_path / "item.json"
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(_NoRange, directory=str(z.parent)))
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/{z.name}"
        item.write_text(json.dumps(_item(f"{z.stem}.SAFE", url)))
        r = resolve_slc(str(item), remote=True)
        assert r.remote and r.product == f"{z.stem}.SAFE" and safe_layers(r.safe) == {("IW1", "VV")}
        assert "IW1" in swath_footprints(r.safe, "VV")
        safe = stage_in_safe(url, tmp_path / "in", ["IW1"], "VV")
        assert safe.name == f"{z.stem}.SAFE" and (safe / "manifest.safe").is_file()
        assert not (safe / "preview").exists() and len(list((safe / "measurement").iterdir())) == 1
        with pytest.raises(RemoteReadError, match="no IW2 VV"):
            stage_in_safe(url, tmp_path / "in2", ["IW2"], "VV")
        with pytest.raises(RemoteReadError, match="HTTP 404"):
            open_remote_safe(url.replace(".zip", "-missing.zip"))
        with pytest.raises(RemoteReadError, match="cannot be listed"):
            open_remote_safe(url.replace(".zip", ".SAFE"))
    finally:
        httpd.shutdown()
        httpd.server_close()
