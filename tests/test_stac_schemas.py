"""Where the STAC schemas come from (issue 14): no copies of shared data in the repository; a schema
directory (``shared/data/stac-schemas`` read in place), the fetch cache, and core-only validation
with a warning when neither a directory nor the network is there."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

pystac = pytest.importorskip("pystac")

from snapstamps.stac import validate as V  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SHARED_SCHEMAS = SHARED_DATA / "stac-schemas"
needs_shared = pytest.mark.skipif(not (SHARED_SCHEMAS / "schema-map.json").is_file(),
                                  reason="shared/data/stac-schemas is not beside the checkout")

PROJ = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
SAR = "https://stac-extensions.github.io/sar/v1.3.0/schema.json"
PROJJSON = "https://proj.org/schemas/v0.7/projjson.schema.json"
EXAMPLE_EXT = "https://schemas.example.invalid/ex/v1.0.0/schema.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared/data is not beside the checkout")
def test_no_tracked_file_is_a_copy_of_a_shared_data_file() -> None:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout ({exc})")
    tracked = [REPO / p for p in listed.decode().split("\0") if p]
    by_size: dict[int, list[Path]] = {}
    for p in tracked:
        if p.is_file() and not p.is_symlink() and p.stat().st_size > 0:
            by_size.setdefault(p.stat().st_size, []).append(p)
    shared: dict[str, Path] = {}
    for p in SHARED_DATA.rglob("*"):
        if p.is_file() and p.stat().st_size in by_size:
            shared[_sha256(p)] = p
    copies = [f"{p.relative_to(REPO)} == {shared[h]}" for ps in by_size.values() for p in ps
              if (h := _sha256(p)) in shared]
    assert not copies, "tracked copies of shared data:\n" + "\n".join(copies)
    assert not (REPO / "src" / "snapstamps" / "stac" / "schemas").exists()


# ---------------------------------------------------------------------- catalogs
def _projjson() -> dict[str, Any]:
    from pyproj import CRS

    return CRS.from_epsg(4326).to_json_dict()


def _write_catalog(root: Path, *, band: str = "C", projjson: Any = None, extra: dict[str, Any] | None = None,
                   extensions: tuple[str, ...] = (SAR, PROJ)) -> Path:
    """A small catalog with one item using the sar and projection extensions (``proj:projjson``
    makes the projection schema reference the PROJJSON schema)."""
    from datetime import datetime, timezone

    cat = pystac.Catalog("schemas-test", "catalog for the schema tests")
    geom = {"type": "Polygon", "coordinates": [[[12.4, 41.8], [12.6, 41.8], [12.6, 42.0], [12.4, 42.0], [12.4, 41.8]]]}
    props: dict[str, Any] = {"sar:instrument_mode": "IW", "sar:frequency_band": band, "sar:polarizations": ["VV"],
                             "sar:product_type": "SLC", "proj:code": "EPSG:4326",
                             "proj:projjson": _projjson() if projjson is None else projjson}
    props.update(extra or {})
    item = pystac.Item("item-1", geom, [12.4, 41.8, 12.6, 42.0], datetime(2024, 3, 17, tzinfo=timezone.utc), props,
                       stac_extensions=list(extensions))
    cat.add_item(item)
    cat.normalize_hrefs(str(root))
    cat.save(pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog.json"


def _with_bad_bbox(catalog: Path) -> Path:
    """``catalog`` with its item's ``bbox`` cut to two numbers (invalid against the core item schema)."""
    item_file = next(catalog.parent.rglob("item-1.json"))
    d = json.loads(item_file.read_text())
    d["bbox"] = d["bbox"][:2]
    item_file.write_text(json.dumps(d))
    return catalog


@pytest.fixture(scope="module")
def stack_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stack catalog the project writes for a small simulated stack (sar, processing, insar)."""
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack
    from snapstamps.stac.stack import write_stack_catalog

    tmp = tmp_path_factory.mktemp("stack")
    insar = simulate_stamps_stack(tmp / "sim", SimConfig(width=60, length=120, n_dates=5, seed=1))
    return write_stack_catalog([insar], tmp / "stac", swaths=["IW2"], polarisation="VV")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every outgoing connection fails, as on a machine without network."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@needs_shared
def test_catalogs_validate_offline_against_the_shared_schemas(stack_catalog: Path, tmp_path: Path,
                                                              no_network: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(V.ENV_SCHEMAS, raising=False)
    assert V.default_schema_dir() == V.SHARED_SCHEMA_DIR  # beside the checkout, read in place
    for schema_dir in (None, SHARED_SCHEMAS):
        report = V.validate_catalog(stack_catalog, schema_dir, fetch=False, cache_dir=tmp_path / "cache")
        assert report.ok and not report.skipped, report.errors
        exts = {u: w for u, w in report.used.items() if "stac-extensions" in u}
        assert set(exts) >= {SAR} and set(exts.values()) == {"directory"}
        assert str(SHARED_SCHEMAS) in report.schemas
    good = _write_catalog(tmp_path / "good")
    report = V.validate_catalog(good, SHARED_SCHEMAS, fetch=False, cache_dir=tmp_path / "cache")
    assert report.ok, report.errors
    assert report.used[PROJ] == "directory" and report.used[PROJJSON] == "directory"  # referenced by proj:projjson
    assert not (tmp_path / "cache").exists()  # nothing fetched, nothing cached
    bad_band = V.validate_catalog(_write_catalog(tmp_path / "bad1", band="Z"), SHARED_SCHEMAS, fetch=False)
    assert not bad_band.ok and any(SAR in e for e in bad_band.errors)
    bad_proj = V.validate_catalog(_write_catalog(tmp_path / "bad2", projjson={"type": "NotACRS"}), SHARED_SCHEMAS,
                                  fetch=False)
    assert not bad_proj.ok and any(PROJ in e for e in bad_proj.errors)


def test_no_schema_directory_and_no_network_validates_the_core_and_warns(
        stack_catalog: Path, tmp_path: Path, no_network: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(V.ENV_SCHEMAS, "")  # no directory, not even the one beside the checkout
    assert V.default_schema_dir() is None
    for cat in (stack_catalog, _write_catalog(tmp_path / "good")):
        report = V.validate_catalog(cat, fetch=True, cache_dir=tmp_path / "cache")
        assert report.ok, report.errors
        assert report.checked and set(report.used.values()) == {"pystac"}  # the bundled core schemas
        assert SAR in report.skipped and "fetching it failed" in report.skipped[SAR]
        assert all("NOT validated" in w for w in report.warnings) and len(report.warnings) == len(report.skipped)
        assert "fetched from their canonical URLs" in report.schemas
    assert not list((tmp_path / "cache").rglob("*.json"))  # nothing cached from a failed fetch
    # the core is still checked: an item with a two-number bbox fails
    bad = _with_bad_bbox(_write_catalog(tmp_path / "bad"))
    report = V.validate_catalog(bad, fetch=True, cache_dir=tmp_path / "cache")
    assert not report.ok and any("item.json" in e for e in report.errors)


def test_cli_without_schemas_says_so_and_passes_the_core(stack_catalog: Path, tmp_path: Path) -> None:
    env = dict(os.environ, **{V.ENV_SCHEMAS: "", V.ENV_FETCH: "0", V.ENV_CACHE: str(tmp_path / "cache")})
    cli = [sys.executable, "-m", "snapstamps.cli", "stac", "validate"]
    r = subprocess.run(cli + [str(stack_catalog)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "extensions: none available (extension validation skipped)" in r.stdout
    assert f"warning: extension {SAR} NOT validated" in r.stderr and "Traceback" not in r.stderr
    assert "2 valid, 0 invalid, 3 extension(s) not validated" in r.stdout
    r = subprocess.run(cli + [str(stack_catalog), "--require-extensions"], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 1 and "could not be validated" in r.stderr
    r = subprocess.run(cli + [str(stack_catalog), "--schemas", str(tmp_path / "nowhere")], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 2 and r.stderr.startswith("error:") and "schema-map.json" in r.stderr
    if (SHARED_SCHEMAS / "schema-map.json").is_file():
        r = subprocess.run(cli + [str(stack_catalog), "--schemas", str(SHARED_SCHEMAS)], capture_output=True,
                           text=True, timeout=120, env=env)
        assert r.returncode == 0 and f"schema used: {SAR} (directory)" in r.stdout and "warning" not in r.stderr


# ---------------------------------------------------------------------- fetch and cache
@pytest.fixture
def schema_server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server of one extension schema (requires ``ex:size`` as an integer) and a
    non-JSON page; returns its base URL and the paths requested."""
    docs = {
        "/ex/v1.0.0/schema.json": json.dumps({
            "$schema": "http://json-schema.org/draft-07/schema#", "$id": EXAMPLE_EXT, "type": "object",
            "required": ["properties"],
            "properties": {"properties": {"type": "object", "required": ["ex:size"],
                                          "properties": {"ex:size": {"type": "integer"}}}}}).encode(),
        "/page.html": b"<html>not a schema</html>",
    }
    requested: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            requested.append(self.path)
            body = docs.get(self.path)
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", requested
    finally:
        srv.shutdown()
        srv.server_close()


def test_fetched_schemas_are_cached_and_the_cache_is_a_schema_directory(
        schema_server: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, requested = schema_server
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv(V.ENV_SCHEMAS, "")
    real_fetch = V.fetch_schema
    # the canonical URL of the example extension is served by the loopback server
    monkeypatch.setattr(V, "fetch_schema", lambda uri, timeout=5.0: real_fetch(
        uri.replace("https://schemas.example.invalid", base), timeout))
    cat = _write_catalog(tmp_path / "cat", extra={"ex:size": 3}, extensions=(EXAMPLE_EXT,))
    cache = tmp_path / "cache"
    first = V.validate_catalog(cat, fetch=True, cache_dir=cache)
    assert first.ok and first.used[EXAMPLE_EXT] == "fetched" and requested == ["/ex/v1.0.0/schema.json"]
    assert json.loads((cache / "schema-map.json").read_text()) == {
        EXAMPLE_EXT: "schemas.example.invalid/ex/v1.0.0/schema.json"}
    second = V.validate_catalog(cat, fetch=True, cache_dir=cache)
    assert second.ok and second.used[EXAMPLE_EXT] == "cache" and len(requested) == 1  # no second download
    offline = V.validate_catalog(cat, cache, fetch=False, cache_dir=tmp_path / "other")
    assert offline.ok and offline.used[EXAMPLE_EXT] == "directory"  # the cache copied to an offline machine
    bad = V.validate_catalog(_write_catalog(tmp_path / "bad", extra={"ex:size": "big"}, extensions=(EXAMPLE_EXT,)),
                             fetch=True, cache_dir=cache)
    assert not bad.ok and any(EXAMPLE_EXT in e for e in bad.errors)
    with pytest.raises(V.SchemaUnavailable, match="not JSON"):
        real_fetch(f"{base}/page.html")
    with pytest.raises(V.SchemaUnavailable, match="only http"):
        real_fetch("file:///etc/passwd")


def test_schema_directory_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no schema-map.json"):
        V.resolve_sources(tmp_path)
    (tmp_path / "schema-map.json").write_text(json.dumps({EXAMPLE_EXT: "../outside.json"}))
    with pytest.raises(ValueError, match="outside the schema directory"):
        V.load_schema_map(tmp_path)
    (tmp_path / "schema-map.json").write_text(json.dumps({EXAMPLE_EXT: "missing.json"}))
    with pytest.raises(ValueError, match="missing.json"):
        V.load_schema_map(tmp_path)


def test_service_job_check_says_which_schemas_and_fails_invalid_catalogs(
        stack_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pygeoapi")
    from snapstamps.service.worker import check_catalog

    monkeypatch.setenv(V.ENV_SCHEMAS, "")
    monkeypatch.setenv(V.ENV_CACHE, str(tmp_path / "cache"))
    summary = check_catalog(stack_catalog.parent)  # fetching is off in the tests (conftest)
    assert summary["ok"] and "STAC valid against the core and 0 extension schema(s)" in summary["message"]
    assert "WARNING" in summary["message"] and SAR in summary["message"]
    if (SHARED_SCHEMAS / "schema-map.json").is_file():
        summary = check_catalog(stack_catalog.parent, str(SHARED_SCHEMAS))  # the service's stac_schemas setting
        assert summary["ok"] and "WARNING" not in summary["message"] and summary["schemas_used"][SAR] == "directory"
    bad = _with_bad_bbox(_write_catalog(tmp_path / "bad"))
    with pytest.raises(RuntimeError, match="STAC catalog is invalid"):
        check_catalog(bad.parent)


def test_each_schema_is_checked_once_per_validator(monkeypatch: pytest.MonkeyPatch) -> None:
    """pystac checks and compiles a schema for every object; snapstamps' validator does it once
    per schema and still reports every invalid object."""
    import datetime as dt

    import jsonschema
    from pystac.errors import STACValidationError
    from pystac.validation import validate_dict

    calls: list[str] = []
    real = jsonschema.validators.validator_for

    def counting(schema: Any, *a: Any, **k: Any) -> Any:
        if isinstance(schema, dict) and str(schema.get("$id", "")).endswith("/item.json"):
            calls.append(schema["$id"])  # the item schema picked for checking (jsonschema also calls this internally)
        return real(schema, *a, **k)

    monkeypatch.setattr(jsonschema.validators, "validator_for", counting)
    v = V.make_validator(V.SchemaSources(directory=None, cache=None, fetch=False))
    version = pystac.get_stac_version()

    def item(i: int) -> dict[str, Any]:
        it = pystac.Item(f"p{i}", {"type": "Point", "coordinates": [10.0, 45.0 + i]}, [10.0, 45.0 + i, 10.0, 45.0 + i],
                         dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), {})
        return json.loads(json.dumps(it.to_dict(include_self_link=False)))

    for i in range(5):
        validate_dict(item(i), pystac.STACObjectType.ITEM, version, extensions=[], validator=v)
    assert len(calls) == 1 and len(v.compiled) == 1
    bad = item(9)
    bad["geometry"] = {"type": "Point", "coordinates": "not a position"}
    with pytest.raises(STACValidationError, match="Validation failed for .* with ID p9 against schema"):
        validate_dict(bad, pystac.STACObjectType.ITEM, version, extensions=[], validator=v)
    validate_dict(item(10), pystac.STACObjectType.ITEM, version, extensions=[], validator=v)
    assert len(calls) == 1
