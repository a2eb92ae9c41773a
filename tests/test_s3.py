"""S3 stage-in and stage-out against a real S3 API: moto's server mode on a loopback port.

The moto server is started by the module fixture on a free port and stopped after; credentials
and endpoint reach boto3 (in this process and in the service's workers) through the usual AWS
environment variables.  A bucket policy that denies the upload of one job's ``catalog.json``
makes a stage-out fail half-way: the job must fail with a clear message and leave no catalog,
neither locally nor in the bucket.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server")
requests = pytest.importorskip("requests")

from test_service import TIMEOUT, Server, _execute, _free_port, _wait, running, wait_until_up  # noqa: E402

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server on loopback; the AWS variables point boto3 at it for the module."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    saved = {k: os.environ.get(k) for k in [*AWS_ENV, "AWS_ENDPOINT_URL"]}
    try:
        wait_until_up(url, proc, "moto server")
        os.environ.update(AWS_ENV, AWS_ENDPOINT_URL=url)
        yield url
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture(scope="module")
def s3(moto_url: str) -> Any:
    return boto3.client("s3", endpoint_url=moto_url)


def _upload_dir(s3: Any, local: Path, bucket: str, prefix: str) -> None:
    for f in sorted(local.rglob("*")):
        if f.is_file():
            s3.upload_file(str(f), bucket, f"{prefix}{f.relative_to(local).as_posix()}")


def _keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


@pytest.fixture(scope="module")
def s3_stack(s3: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny simulated stack on s3://stacks/sim/INSAR_<date>/ and a stack catalog on s3://stacks/cat/."""
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

    insar = simulate_stamps_stack(tmp_path_factory.mktemp("sim"), SimConfig(width=120, length=300, n_dates=12, seed=5))
    s3.create_bucket(Bucket="stacks")
    _upload_dir(s3, insar, "stacks", f"sim/{insar.name}/")
    item = {
        "type": "Feature", "stac_version": "1.1.0", "id": "stack-IW2", "geometry": None,
        "properties": {"datetime": "2024-03-17T00:00:00Z", "sar:beam_ids": ["IW2"]},
        "links": [{"rel": "root", "href": "../catalog.json"}, {"rel": "parent", "href": "../catalog.json"}],
        "assets": {"stamps-export": {"href": f"s3://stacks/sim/{insar.name}/", "roles": ["data", "stamps-export"]}},
    }
    cat = {"type": "Catalog", "stac_version": "1.1.0", "id": "stack", "description": "stack",
           "links": [{"rel": "root", "href": "./catalog.json"}, {"rel": "item", "href": "./stack-IW2/stack-IW2.json"}]}
    s3.put_object(Bucket="stacks", Key="cat/catalog.json", Body=json.dumps(cat).encode())
    s3.put_object(Bucket="stacks", Key="cat/stack-IW2/stack-IW2.json", Body=json.dumps(item).encode())
    return {"insar": insar, "prefix_url": f"s3://stacks/sim/{insar.name}/", "catalog_url": "s3://stacks/cat/catalog.json"}


# ---------------------------------------------------------------------- staging, in-process
def test_stage_in_from_prefix_and_from_stack_catalog(s3_stack: dict, tmp_path: Path) -> None:
    from snapstamps.service.staging import check_stack_ref, stage_in_stack

    insar: Path = s3_stack["insar"]
    expected = sorted(p.relative_to(insar).as_posix() for p in insar.rglob("*") if p.is_file())
    for ref, sub in ((s3_stack["prefix_url"], "a"), (s3_stack["catalog_url"], "b"), ("s3://stacks/cat/", "c")):
        check_stack_ref(ref)
        local = stage_in_stack(ref, tmp_path / sub)
        assert local.name == insar.name
        assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()) == expected
        assert (local / "rslc").is_dir() and (local / "diff0").is_dir()


def test_stage_in_errors_are_clear(s3_stack: dict, tmp_path: Path) -> None:
    from snapstamps.service.staging import StagingError, check_stack_ref, stage_in_stack

    with pytest.raises(StagingError, match="NoSuchBucket"):
        check_stack_ref("s3://no-such-bucket/x/INSAR_20240317/")
    with pytest.raises(StagingError, match="neither an INSAR_<date> prefix"):
        check_stack_ref("s3://stacks/nothing-here/")
    with pytest.raises(StagingError, match="not found|404"):
        check_stack_ref("s3://stacks/cat/missing.json")
    with pytest.raises(StagingError):
        stage_in_stack("s3://stacks/cat/missing.json", tmp_path)


def test_stage_out_uploads_everything_catalog_last(s3: Any, tmp_path: Path) -> None:
    from snapstamps.service.staging import stage_out

    cat = tmp_path / "cat"
    (cat / "item").mkdir(parents=True)
    (cat / "item" / "item.json").write_text("{}")
    (cat / "item" / "data.csv").write_text("a,b\n")
    (cat / "catalog.json").write_text("{}")
    s3.create_bucket(Bucket="out-ok")
    url = stage_out(cat, "s3://out-ok/runs/job1")
    assert url == "s3://out-ok/runs/job1/catalog.json"
    assert sorted(_keys(s3, "out-ok")) == ["runs/job1/catalog.json", "runs/job1/item/data.csv", "runs/job1/item/item.json"]
    head = s3.head_object(Bucket="out-ok", Key="runs/job1/catalog.json")
    assert head["ContentType"] == "application/json"


def test_stage_out_failures_leave_nothing(s3: Any, tmp_path: Path) -> None:
    from snapstamps.service.staging import StagingError, stage_out

    cat = tmp_path / "cat"
    (cat / "a").mkdir(parents=True)
    for i in range(3):
        (cat / "a" / f"f{i}.json").write_text("{}")
    (cat / "catalog.json").write_text("{}")
    with pytest.raises(StagingError, match=r"bucket 'no-such-bucket' does not exist.*nothing was published"):
        stage_out(cat, "s3://no-such-bucket/p")
    # denied half-way: the root catalog.json (uploaded last) is refused; the rest is removed again
    s3.create_bucket(Bucket="out-deny")
    s3.put_bucket_policy(Bucket="out-deny", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::out-deny/p/catalog.json"}]}))
    with pytest.raises(StagingError, match=r"failed at catalog.json: .*(denied|403).*nothing was published"):
        stage_out(cat, "s3://out-deny/p")
    assert _keys(s3, "out-deny") == []


# ---------------------------------------------------------------------- through the service
@pytest.fixture(scope="module")
def s3_server(moto_url: str, s3: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s3.create_bucket(Bucket="results")
    env = dict(os.environ, **AWS_ENV, AWS_ENDPOINT_URL=moto_url, SNAPSTAMPS_STAGE_OUT="s3://results/jobs")
    with running(Server(tmp_path_factory.mktemp("svc-s3") / "data", env=env)) as srv:
        yield srv


def test_service_refuses_a_missing_s3_stack(s3_server: Server) -> None:
    r = _execute(s3_server, "psi", {"stack": "s3://stacks/no/INSAR_20200101/"}, async_=True)
    assert r.status_code == 400 and "stack" in r.json()["description"]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_service_stages_in_from_s3_and_out_to_s3_and_a_failed_upload_publishes_nothing(
        s3_server: Server, s3_stack: dict, s3: Any, tmp_path: Path) -> None:
    from snapstamps.service.staging import download_prefix
    from snapstamps.stac.validate import validate_catalog

    ok = _execute(s3_server, "psi", {"stack": s3_stack["catalog_url"], "patches": [2, 1]}, async_=True)
    assert ok.status_code == 201, ok.text
    bad = _execute(s3_server, "psi", {"stack": str(s3_stack["insar"])}, async_=True)
    assert bad.status_code == 201, bad.text
    ok_id, bad_id = ok.json()["jobID"], bad.json()["jobID"]
    # the second job's catalog.json may not be written: its stage-out fails after the other files
    s3.put_bucket_policy(Bucket="results", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::results/jobs/{bad_id}/catalog.json"}]}))

    st = _wait(s3_server, ok_id, {"successful", "failed"}, timeout=TIMEOUT)[-1]
    assert st["status"] == "successful", st
    res = requests.get(f"{s3_server.url}/jobs/{ok_id}/results?f=json", timeout=60).json()
    assert res["staged_catalog"]["href"] == f"s3://results/jobs/{ok_id}/catalog.json"
    keys = _keys(s3, "results", f"jobs/{ok_id}/")
    assert f"jobs/{ok_id}/catalog.json" in keys and any(k.endswith("ps_points.parquet") for k in keys)
    assert any(k.startswith(f"jobs/{ok_id}/viewer/") for k in keys)
    local = download_prefix(s3, f"s3://results/jobs/{ok_id}/", tmp_path / "down")
    assert validate_catalog(local).ok  # the bucket's copy is a complete, valid catalog
    assert (s3_server.data_dir / "catalogs" / ok_id / "catalog.json").is_file()

    st = _wait(s3_server, bad_id, {"successful", "failed"}, timeout=TIMEOUT)[-1]
    assert st["status"] == "failed"
    assert f"stage-out to s3://results/jobs/{bad_id}/ failed at catalog.json" in st["message"]
    assert "nothing was published" in st["message"]
    assert _keys(s3, "results", f"jobs/{bad_id}/") == []  # nothing half-way in the bucket
    assert not (s3_server.data_dir / "catalogs" / bad_id).exists()  # nor locally
    assert not list((s3_server.data_dir / "catalogs").glob(f".{bad_id}*"))
    r = requests.get(f"{s3_server.url}/jobs/{bad_id}/results?f=json", timeout=60)
    assert r.status_code >= 400
