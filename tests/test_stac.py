"""STAC output and input: the psi result catalog, stack catalogs, offline validation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pystac = pytest.importorskip("pystac")

from snapstamps.stac.fields import EXT  # noqa: E402
from snapstamps.stac.psi import build_psi_catalog, catalog_outputs  # noqa: E402
from snapstamps.stac.stack import StackError, resolve_stack, write_stack_catalog  # noqa: E402
from snapstamps.stac.validate import default_schema_dir, offline_validator, validate_catalog  # noqa: E402

#: extension-schema checks need a schema directory (shared/data/stac-schemas beside the checkout)
needs_schemas = pytest.mark.skipif(default_schema_dir() is None, reason="no STAC extension schema directory "
                                   "(shared/data/stac-schemas is not beside the checkout, SNAPSTAMPS_STAC_SCHEMAS unset)")


@pytest.fixture(scope="module")
def psi_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack
    from snapstamps.workflows.psi import run_psi

    tmp = tmp_path_factory.mktemp("psi")
    insar = simulate_stamps_stack(tmp / "sim", SimConfig(width=120, length=300, n_dates=12, seed=2))
    run_psi(insar, tmp / "out", show_progress=False)
    return insar, tmp / "out"


@pytest.fixture(scope="module")
def catalog(psi_run: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    insar, out = psi_run
    return build_psi_catalog(out, tmp_path_factory.mktemp("cat") / "stac", stack_ref=str(insar), polarisation="VV")


def test_psi_catalog_validates_offline_with_every_extension(catalog: Path) -> None:
    report = validate_catalog(catalog)
    assert report.ok, report.errors
    assert len(report.checked) == 3  # catalog + points item + StaMPS exports item
    cat = pystac.Catalog.from_file(str(catalog))
    items = {i.id.rsplit("-", 2)[-2] + "-" + i.id.rsplit("-", 1)[-1]: i for i in cat.get_items()}
    points = items["ps-points"]
    for ext in ("sar", "sat", "processing", "view", "projection"):
        assert EXT[ext] in points.stac_extensions
    p = points.properties
    assert p["sar:instrument_mode"] == "IW" and p["sar:frequency_band"] == "C" and p["sar:polarizations"] == ["VV"]
    assert p["sat:orbit_state"] == "descending"  # simulated heading -167 deg
    assert p["processing:software"]["snapstamps"] and p["processing:level"] == "L2"
    assert all(a["file:checksum"].startswith("1220") and len(a["file:checksum"]) == 68 for a in points.to_dict()["assets"].values())
    assert 20 < p["view:incidence_angle"] < 50 and p["proj:code"] == "EPSG:4326"
    assert set(points.assets) >= {"ps_points_csv", "ps_points_parquet", "psi_metadata"}
    assert points.assets["ps_points_parquet"].media_type == "application/vnd.apache.parquet"
    exports = items["stamps-exports"]
    assert EXT["insar"] in exports.stac_extensions
    assert exports.properties["insar:reference_datetime"].startswith("2024-")
    assert len([k for k in exports.assets if k.startswith("ps_u_dm_")]) == 12
    assert any(l.rel == "derived_from" for l in points.links)
    # self-contained: every asset is a relative href to a file inside the catalog directory
    for item in cat.get_items():
        for a in item.assets.values():
            assert not Path(a.href).is_absolute() and Path(a.get_absolute_href()).is_file()
    assert set(catalog_outputs(catalog)) >= {"catalog", "ps_points_csv", "ps_points_parquet", "ps_mean_v"}


@needs_schemas
def test_validation_reports_invalid_fields_and_missing_schemas(catalog: Path, tmp_path: Path) -> None:
    item_file = next(catalog.parent.glob("*ps-points/*ps-points.json"))
    item = pystac.Item.from_file(str(item_file))
    v = offline_validator()
    item.properties["sar:frequency_band"] = "Z"
    with pytest.raises(pystac.errors.STACValidationError):
        item.validate(validator=v)
    # an extension whose schema is unavailable is skipped with a warning naming it, never a download;
    # an error only when extensions are required
    import shutil

    shutil.copytree(catalog.parent, tmp_path / "cat")
    copy = tmp_path / "cat" / item_file.parent.name / item_file.name
    d = json.loads(copy.read_text())
    eo = "https://stac-extensions.github.io/eo/v9.9.9/schema.json"
    d["stac_extensions"].append(eo)
    copy.write_text(json.dumps(d))
    report = validate_catalog(tmp_path / "cat", fetch=False, cache_dir=tmp_path / "cache")
    assert report.ok and list(report.skipped) == [eo]
    assert any(eo in w and "NOT validated" in w for w in report.warnings)
    strict = validate_catalog(tmp_path / "cat", fetch=False, cache_dir=tmp_path / "cache", require_extensions=True)
    assert not strict.ok and any(eo in e and "fetching is disabled" in e for e in strict.errors)


def test_publish_is_atomic_and_replaces(psi_run: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = psi_run
    dest = tmp_path / "pub"
    build_psi_catalog(out, dest)
    first = (dest / "catalog.json").stat().st_ino
    build_psi_catalog(out, dest, catalog_id="again")
    assert (dest / "catalog.json").stat().st_ino != first
    assert json.loads((dest / "catalog.json").read_text())["id"] == "again"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pub"]  # no temporary or old directories left
    # a result directory without products publishes nothing
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="psi_metadata.json"):
        build_psi_catalog(tmp_path / "empty", tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_stack_catalog_round_trip_and_resolution(psi_run: tuple[Path, Path], tmp_path: Path) -> None:
    insar, _ = psi_run
    cat = write_stack_catalog([insar], tmp_path / "stack", swaths=["IW2"], polarisation="VV")
    assert validate_catalog(cat).ok
    item = next(pystac.Catalog.from_file(str(cat)).get_items())
    assert item.properties["sar:beam_ids"] == ["IW2"]
    assert item.properties["insar:reference_datetime"] == f"{insar.name[6:10]}-{insar.name[10:12]}-{insar.name[12:14]}T00:00:00Z"
    assert resolve_stack(cat) == insar.resolve()
    assert resolve_stack(tmp_path / "stack") == insar.resolve()
    assert resolve_stack(insar.resolve().as_uri()) == insar.resolve()
    assert resolve_stack(cat, swath="IW2") == insar.resolve()
    with pytest.raises(StackError, match="IW1"):
        resolve_stack(cat, swath="IW1")
    with pytest.raises(StackError, match="no such stack"):
        resolve_stack(tmp_path / "missing")
    with pytest.raises(StackError, match="staged in"):
        resolve_stack("s3://bucket/stack/catalog.json")


def test_cli_validate_and_catalog(psi_run: tuple[Path, Path], tmp_path: Path) -> None:
    _, out = psi_run
    cli = [sys.executable, "-m", "snapstamps.cli"]
    r = subprocess.run(cli + ["stac", "catalog", str(out), "--out", str(tmp_path / "c")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(cli + ["stac", "validate", str(tmp_path / "c")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "3 valid, 0 invalid" in r.stdout
    r = subprocess.run(cli + ["stac", "validate", str(tmp_path / "none")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith("error:")


def test_catalog_with_quicklooks_cogs_report_and_viewer(psi_run: tuple[Path, Path], tmp_path: Path) -> None:
    """`snapstamps quicklooks --out QL` then `stac catalog --quicklooks QL`: roles, proj/raster fields,
    the report at the catalog root with its links rewritten, the viewer folder and its links."""
    import re

    from snapstamps.results.derived import make_job_outputs

    _, out = psi_run
    make_job_outputs(out, tmp_path / "ql")
    cat_json = build_psi_catalog(out, tmp_path / "cat", quicklooks_dir=tmp_path / "ql")
    report = validate_catalog(cat_json)
    assert report.ok, report.errors
    assert len(report.checked) == 4  # + the rasters item
    cat = pystac.Catalog.from_file(str(cat_json))
    assert cat.get_single_link("preview").href == "./viewer/index.html"
    assert cat.get_single_link("describedby").href == "./report.html"
    items = {i.id.split("-", 2)[-1]: i for i in cat.get_items()}
    points, rasters = items["ps-points"], items["rasters"]
    assert points.assets["thumbnail"].roles == ["thumbnail"]
    assert set(points.assets["velocity_map"].roles) == {"overview", "visual"}
    assert points.assets["viewer"].href == "../viewer/index.html"
    assert EXT["raster"] in rasters.stac_extensions and EXT["projection"] in rasters.stac_extensions
    assert "proj:code" not in rasters.properties  # per asset (UTM), not the item's EPSG:4326
    cog = rasters.assets["mean_velocity_100m"].to_dict()
    assert cog["proj:code"].startswith("EPSG:") and len(cog["raster:bands"]) == 3
    root = cat_json.parent
    assert (root / "viewer" / "index.html").is_file() and (root / "viewer" / "data" / "meta.js").is_file()
    html = (root / "report.html").read_text()
    targets = re.findall(r"(?:href|src)='([^']+)'", html)
    assert "viewer/index.html" in targets and len(targets) >= 8
    for t in targets:
        assert (root / t).is_file(), t  # every link of the report resolves inside the catalog
    outs = catalog_outputs(cat_json)
    assert outs["viewer"]["href"].endswith("/viewer/index.html") and outs["report"]["href"].endswith("/report.html")


# ---------------------------------------------------------------------- stac search (pystac-client)
class _StacApi:
    """A STAC API stand-in on loopback: ``/``, ``/conformance``, ``/search`` (GET and POST), recording requests."""

    ITEMS = [("S1A_IW_SLC__1SDV_20240105", "2024-01-05T05:00:00Z", 117), ("S1A_IW_SLC__1SDV_20240117", "2024-01-17T05:00:00Z", 117),
             ("S1A_IW_SLC__1SDV_20240110", "2024-01-10T17:00:00Z", 44)]

    def __init__(self, filter_conformance: bool) -> None:
        import http.server
        import threading

        self.requests: list[dict] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, doc: dict) -> None:
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _search(self, params: dict) -> None:
                api.requests.append(params)
                feats = []
                for iid, when, orbit in api.ITEMS:
                    feats.append({"type": "Feature", "stac_version": "1.1.0", "id": iid, "collection": "sentinel-1-slc",
                                  "geometry": {"type": "Point", "coordinates": [12.5, 41.9]}, "bbox": [12.5, 41.9, 12.5, 41.9],
                                  "properties": {"datetime": when, "sat:relative_orbit": orbit,
                                                 "sat:orbit_state": "descending" if orbit == 117 else "ascending"},
                                  "links": [], "assets": {}})
                self._send({"type": "FeatureCollection", "features": feats, "links": []})

            def do_GET(self) -> None:  # noqa: N802
                from urllib.parse import parse_qs, urlparse

                u = urlparse(self.path)
                root = f"http://127.0.0.1:{api.port}"
                conf = ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search"]
                if filter_conformance:
                    conf += ["https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
                             "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
                             "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter"]
                if u.path == "/":
                    self._send({"type": "Catalog", "stac_version": "1.1.0", "id": "stand-in", "description": "test API",
                                "conformsTo": conf, "links": [
                                    {"rel": "self", "href": root + "/"}, {"rel": "root", "href": root + "/"},
                                    {"rel": "conformance", "href": root + "/conformance"},
                                    {"rel": "search", "href": root + "/search", "method": "GET", "type": "application/geo+json"},
                                    {"rel": "search", "href": root + "/search", "method": "POST", "type": "application/geo+json"}]})
                elif u.path == "/conformance":
                    self._send({"conformsTo": conf})
                elif u.path == "/search":
                    self._search({k: v[0] for k, v in parse_qs(u.query).items()})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                self._search(json.loads(self.rfile.read(n) or b"{}"))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "_StacApi":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.mark.parametrize("with_filter", [True, False])
def test_stac_search_with_pystac_client(with_filter: bool) -> None:
    """collection, bbox, datetime go to the API; the relative orbit as CQL2-JSON where the API has
    the Filter class, and the returned items are filtered on it in any case."""
    pytest.importorskip("pystac_client")
    from snapstamps.stac.search import search_slc

    with _StacApi(filter_conformance=with_filter) as api:
        items = search_slc(api.url, bbox=[12.0, 41.5, 13.0, 42.5], datetime="2024-01-01/2024-01-31",
                           relative_orbit=117, max_items=10)
    assert [i.id for i in items] == ["S1A_IW_SLC__1SDV_20240105", "S1A_IW_SLC__1SDV_20240117"]
    req = api.requests[0]
    cols = req["collections"]
    assert (cols if isinstance(cols, list) else cols.split(",")) == ["sentinel-1-slc"]
    bbox = req["bbox"] if isinstance(req["bbox"], list) else [float(x) for x in req["bbox"].split(",")]
    assert bbox == [12.0, 41.5, 13.0, 42.5]
    assert req["datetime"].startswith("2024-01-01") and "2024-01-31" in req["datetime"]
    if with_filter:
        filt = req["filter"] if isinstance(req["filter"], dict) else json.loads(req["filter"])
        assert filt == {"op": "=", "args": [{"property": "sat:relative_orbit"}, 117]}
        assert req.get("filter-lang", req.get("filter_lang")) == "cql2-json"
    else:
        assert "filter" not in req


def test_stac_search_cli(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pystac_client")
    from snapstamps.cli import main

    with _StacApi(filter_conformance=False) as api:
        rc = main(["stac", "search", api.url, "--bbox", "12", "41.5", "13", "42.5", "--datetime",
                   "2024-01-01/2024-01-31", "--relative-orbit", "44", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert [f["id"] for f in out["features"]] == ["S1A_IW_SLC__1SDV_20240110"]


# ---------------------------------------------------------------------- SLC inputs and the ifg stack catalog
_ANNOT = """<product><geolocationGrid><geolocationGridPointList>
<geolocationGridPoint><latitude>{s}</latitude><longitude>{w}</longitude></geolocationGridPoint>
<geolocationGridPoint><latitude>{n}</latitude><longitude>{e}</longitude></geolocationGridPoint>
</geolocationGridPointList></geolocationGrid></product>"""


def _fake_safe(root: Path, name: str, layers: dict[str, tuple[float, float, float, float]], pol: str = "VV") -> Path:
    safe = root / name
    (safe / "annotation").mkdir(parents=True)
    (safe / "manifest.safe").write_text("<xfdu/>")
    for sw, (w, s, e, n) in layers.items():
        (safe / "annotation" / f"s1a-{sw.lower()}-slc-{pol.lower()}-20220116t170558-20220116t170623-041314-04e951-004.xml"
         ).write_text(_ANNOT.format(w=w, s=s, e=e, n=n))
    return safe


SAFE_NAME = "S1A_IW_SLC__1SDV_20220116T170557_20220116T170624_041314_04E951_F1F1.SAFE"


def test_resolve_slc_from_safe_and_items(tmp_path: Path) -> None:
    """A SAFE folder, its manifest, or a STAC item (path, file:// URL) whose asset is the SAFE folder,
    its manifest or a zip; relative asset hrefs are relative to the item; remote SAFEs are refused."""
    from snapstamps.stac.slc import SlcError, resolve_slc, safe_href

    safe = _fake_safe(tmp_path, SAFE_NAME, {"IW1": (10.0, 41.0, 11.0, 42.0)})
    for ref in (safe, safe / "manifest.safe", str(safe)):
        r = resolve_slc(ref)
        assert r.safe == safe.resolve() and not r.from_item and r.product == SAFE_NAME
    (tmp_path / "items").mkdir()
    for key, href in (("safe", f"../{SAFE_NAME}"), ("safe_manifest", f"../{SAFE_NAME}/manifest.safe"),
                      ("data", str(safe.resolve()))):
        item = tmp_path / "items" / f"{key}.json"
        item.write_text(json.dumps({"type": "Feature", "id": key, "assets": {
            "thumbnail": {"href": "ql.png", "roles": ["thumbnail"]}, key: {"href": href, "roles": ["data"]}}}))
        for ref in (str(item), item.as_uri()):
            r = resolve_slc(ref)
            assert r.safe == safe.resolve() and r.from_item and r.item_href == str(item.resolve())
    cdse = {"type": "Feature", "id": "x", "assets": {"safe_manifest": {
        "href": f"s3://eodata/Sentinel-1/SAR/IW_SLC__1S/2022/01/16/{SAFE_NAME}/manifest.safe"}}}
    assert safe_href(cdse).endswith(f"/{SAFE_NAME}")
    remote = tmp_path / "items" / "remote.json"
    remote.write_text(json.dumps(cdse))
    with pytest.raises(SlcError, match="remote"):
        resolve_slc(remote)
    nosafe = tmp_path / "items" / "nosafe.json"
    nosafe.write_text(json.dumps({"type": "Feature", "id": "y", "assets": {"a": {"href": "x.tif"}}}))
    with pytest.raises(SlcError, match="no asset points at a SAFE"):
        resolve_slc(nosafe)
    with pytest.raises(SlcError, match="no such"):
        resolve_slc(tmp_path / "missing.json")
    (tmp_path / "notitem.json").write_text(json.dumps({"type": "Catalog"}))
    with pytest.raises(SlcError, match="not a STAC item"):
        resolve_slc(tmp_path / "notitem.json")


def test_swath_footprints_and_layers(tmp_path: Path) -> None:
    from snapstamps.stac.slc import bbox_intersects, safe_layers, swath_footprints

    safe = _fake_safe(tmp_path, SAFE_NAME, {"IW1": (10.0, 41.0, 11.0, 42.0), "IW2": (10.8, 41.1, 11.9, 42.1)})
    assert safe_layers(safe) == {("IW1", "VV"), ("IW2", "VV")}
    feet = swath_footprints(safe, "VV")
    assert feet == {"IW1": (10.0, 41.0, 11.0, 42.0), "IW2": (10.8, 41.1, 11.9, 42.1)}
    assert swath_footprints(safe, "VH") == {}
    assert bbox_intersects(feet["IW1"], (10.5, 41.5, 10.6, 41.6)) and not bbox_intersects(feet["IW1"], (11.5, 41.5, 11.6, 41.6))


def _gathered(root: Path, swath: str, ref: str = "20220116", secs: tuple[str, ...] = ("20220104", "20220128")) -> Path:
    """An ifg-stack-gather output folder with a 2 x 3 grid (contents are not read, only sizes and geo)."""
    import numpy as np

    from snapstamps.io.stamps_export import write_float32_be

    d = root / swath
    insar = d / f"INSAR_{ref}"
    for sub in ("rslc", "diff0", "geo", "dem"):
        (insar / sub).mkdir(parents=True)
    lon, lat = np.meshgrid(np.linspace(10.97, 10.99, 3), np.linspace(41.63, 41.64, 2))
    write_float32_be(insar / "geo" / f"{ref}.lon", lon)
    write_float32_be(insar / "geo" / f"{ref}.lat", lat)
    for dte in (ref, *secs):
        (insar / "rslc" / f"{dte}.rslc").write_bytes(b"\0" * 48)
        (insar / "rslc" / f"{dte}.rslc.par").write_text("par\n")
    pairs = []
    for k, dte in enumerate(secs):
        for ext in (".diff", ".diff.par", ".base"):
            (insar / "diff0" / f"{ref}_{dte}{ext}").write_text("x")
        pairs.append({"secondary": f"S1A_{dte}.SAFE", "date": f"{dte[:4]}-{dte[4:6]}-{dte[6:]}",
                      "bperp_centre_m": 50.0 * (k + 1) * (-1) ** k, "esd_shift_lines": 0.01})
    (d / "ifg_stack.json").write_text(json.dumps({"reference": "S1A_REF.SAFE", "subswath": swath, "polarisation": "VV",
                                                  "n_lines": 2, "n_samples": 3, "pairs": pairs}))
    return d


def test_ifg_stack_catalog_items_fields_links_and_cli(tmp_path: Path) -> None:
    """Two sub-swaths: a stack item each (stack hard-linked inside), an item per pair with insar fields
    of the proposal's types, signed baselines, input links; valid offline; psi's resolve_stack picks a swath."""
    from snapstamps.stac.ifg import IfgCatalogError, build_ifg_stack_catalog

    g1, g2 = _gathered(tmp_path / "g", "IW1"), _gathered(tmp_path / "g", "IW2")
    items = {"S1A_REF.SAFE": "https://example.com/items/ref.json", "S1A_20220104.SAFE": str(tmp_path / "sec1.json")}
    cat_json = build_ifg_stack_catalog([g2, g1], tmp_path / "cat", items)
    assert validate_catalog(cat_json).ok
    cat = pystac.Catalog.from_file(str(cat_json))
    got = {i.id: i for i in cat.get_items()}
    assert set(got) == {"stack-20220116-IW1", "stack-20220116-IW2"} | {
        f"ifg-20220116-{d}-{sw}" for d in ("20220104", "20220128") for sw in ("IW1", "IW2")}
    p = got["ifg-20220116-20220104-IW2"].properties
    assert p["insar:perpendicular_baseline"] == "50.000" and p["insar:temporal_baseline"] == 12
    assert p["snapstamps:temporal_baseline_days"] == -12 and p["sar:beam_ids"] == ["IW2"]
    assert got["ifg-20220116-20220128-IW1"].properties["snapstamps:perpendicular_baseline_m"] == -100.0
    assert got["ifg-20220116-20220104-IW1"].bbox == pytest.approx([10.97, 41.63, 10.99, 41.64], abs=1e-5)
    links = {link.rel: link.href for link in got["ifg-20220116-20220104-IW1"].links}
    assert links["reference"] == "https://example.com/items/ref.json"
    assert links["secondary"] == (tmp_path / "sec1.json").resolve().as_uri()
    assert "secondary" not in {link.rel for link in got["ifg-20220116-20220128-IW1"].links}  # unknown: no link made up
    diff = Path(got["ifg-20220116-20220104-IW1"].assets["interferogram"].get_absolute_href())
    assert diff.is_file() and diff.is_relative_to(cat_json.parent)
    src = g1 / "INSAR_20220116" / "diff0" / "20220116_20220104.diff"
    assert diff.stat().st_ino == src.stat().st_ino  # hard-linked, not copied
    assert resolve_stack(cat_json, swath="IW2") == (cat_json.parent / "stack-20220116-IW2" / "INSAR_20220116").resolve()
    with pytest.raises(StackError, match="choose a sub-swath"):
        resolve_stack(cat_json)
    with pytest.raises(IfgCatalogError, match="several stacks of one sub-swath"):
        build_ifg_stack_catalog([g1, g1], tmp_path / "bad")
    out = subprocess.run([sys.executable, "-m", "snapstamps.cli", "stac", "ifg-stack-catalog", str(g1),
                          "--out", str(tmp_path / "cli"), "--item", "S1A_REF.SAFE=/x/ref.json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert validate_catalog(tmp_path / "cli").ok
