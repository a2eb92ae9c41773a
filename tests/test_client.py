"""The service client (:mod:`snapstamps.client`) against a real ``snapstamps serve`` on loopback.

The server and the tiny simulated stack are those of ``test_service.py`` (its ``Server`` and
``running`` helpers); every process started here is stopped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pygeoapi")
pytest.importorskip("cwltool")
pytest.importorskip("requests")

from test_service import Server, running  # noqa: E402  (the running-server helpers)

from snapstamps.client import Client, JobFailedError, ServiceError, _CatalogDownload  # noqa: E402
from snapstamps.errors import InputError  # noqa: E402


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

    return simulate_stamps_stack(tmp_path_factory.mktemp("sim"), SimConfig(width=120, length=300, n_dates=12, seed=3))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(Server(tmp_path_factory.mktemp("svc") / "data")) as srv:
        yield srv


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_client_refuses_bad_urls_and_reports_invalid_inputs(server: Server, stack: Path) -> None:
    with pytest.raises(InputError, match="http"):
        Client("ftp://127.0.0.1/")
    client = Client(server.url)
    assert {"psi", "interferogram-stack"} <= set(client.processes())
    before = len(client.jobs())
    with pytest.raises(ServiceError, match="HTTP 400.*amplitude_dispersion"):
        client.submit_psi(str(stack), amplitude_dispersion=-1)
    with pytest.raises(ServiceError, match="HTTP 400.*stack"):
        client.submit_psi("/nonexistent/INSAR_20200101")
    assert len(client.jobs()) == before  # refused before any job existed


@pytest.mark.slow
def test_client_submits_waits_and_downloads_the_catalog(server: Server, stack: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd
    import pystac

    from snapstamps.stac.validate import validate_catalog

    client = Client(server.url)
    job = client.submit_psi(str(stack), patches=[2, 1])
    assert job.status == "accepted" and job.process == "psi"
    seen: list[tuple[str, int]] = []
    job.wait(timeout=1800, interval=0.3, progress=True)
    seen.append((job.status, job.progress))
    assert job.status == "successful" and job.progress == 100 and job.done
    assert client.job(job.id).status == "successful"

    cat_path = job.download(tmp_path / "dl")
    assert cat_path == tmp_path / "dl" / job.id / "catalog.json"
    served = server.data_dir / "catalogs" / job.id
    # every asset of every item is a local file with the bytes the server holds
    cat = pystac.Catalog.from_file(str(cat_path))
    items = list(cat.get_items(recursive=True))
    assert {i.id.split("-", 2)[-1] for i in items} >= {"ps-points", "rasters"}
    n_assets = 0
    for item in items:
        for key, asset in item.assets.items():
            local = Path(asset.get_absolute_href())
            assert local.is_file() and local.is_relative_to(cat_path.parent), (item.id, key, asset.href)
            assert _sha(local) == _sha(served / local.relative_to(cat_path.parent)), key
            n_assets += 1
    assert n_assets >= 5
    report = validate_catalog(cat_path)
    assert report.ok, report.errors
    # the report came along; the viewer stays online (absolute link)
    links = {ln["rel"]: ln["href"] for ln in json.loads(cat_path.read_text())["links"]}
    assert "self" not in links and (cat_path.parent / links["describedby"]).is_file()
    assert links["preview"].startswith(f"{server.url}/jobs/{job.id}/viewer/")
    # the downloaded point product reads as the server's
    pq = next(cat_path.parent.rglob("ps_points.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(pq), pd.read_parquet(served / pq.relative_to(cat_path.parent)))
    with pytest.raises(InputError, match="already exists"):
        job.download(tmp_path / "dl")
    assert job.download(tmp_path / "dl", assets=False, overwrite=True).is_file()
    assert not list((tmp_path / "dl" / job.id).rglob("*.parquet"))  # only STAC documents and the report
    assert "job " + job.id in capsys.readouterr().out  # the progress bar was drawn


@pytest.mark.slow
def test_a_failed_job_raises_with_its_message(server: Server, stack: Path) -> None:
    """A threshold so low that prep finds no candidate: the job fails and wait() says why."""
    client = Client(server.url)
    job = client.submit_psi(str(stack), amplitude_dispersion=0.001)
    with pytest.raises(JobFailedError) as err:
        job.wait(timeout=1800, interval=0.3, progress=False)
    assert err.value.job.status == "failed"
    assert f"job {job.id} (psi) failed:" in str(err.value)
    msg = err.value.job.message
    assert msg and msg in str(err.value) and "\n" not in str(err.value)
    # the cause, in one line: the step and its error (the service's failure message)
    assert "prep" in msg and "da_thresh=0.001" in msg, msg
    assert err.value.log is not None and "prep" in err.value.log  # GET /jobs/<id>/log
    with pytest.raises(JobFailedError):
        job.results()


def test_download_stays_inside_the_job_files() -> None:
    d = _CatalogDownload(None, "http://127.0.0.1:9/jobs/j1/files/", Path("/nonexistent"), True)  # type: ignore[arg-type]
    assert d.local("http://127.0.0.1:9/jobs/j1/files/catalog.json") == "catalog.json"
    assert d.local("http://127.0.0.1:9/jobs/j1/files/items/a%20b.json") == "items/a b.json"
    for bad in ("http://127.0.0.1:9/jobs/j1/files/../../secret", "http://127.0.0.1:9/jobs/j1/files/%2e%2e/x",
                "http://127.0.0.1:9/jobs/j2/files/catalog.json", "http://evil.example/jobs/j1/files/catalog.json",
                "http://127.0.0.1:9/jobs/j1/files/a/../../x", "file:///etc/passwd"):
        assert d.local(bad) is None, bad
