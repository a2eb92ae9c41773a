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
from snapstamps.stac.validate import offline_validator, validate_catalog  # noqa: E402

SHARED_SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "data" / "stac-schemas"


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
    assert p["processing:software"]["snapstamps"] and p["processing:level"] == "L3"
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


def test_validation_reports_invalid_fields_and_missing_schemas(catalog: Path, tmp_path: Path) -> None:
    item_file = next(catalog.parent.glob("*ps-points/*ps-points.json"))
    item = pystac.Item.from_file(str(item_file))
    v = offline_validator()
    item.properties["sar:frequency_band"] = "Z"
    with pytest.raises(pystac.errors.STACValidationError):
        item.validate(validator=v)
    # an extension that is not available offline is an error naming it, never a download
    import shutil

    shutil.copytree(catalog.parent, tmp_path / "cat")
    copy = tmp_path / "cat" / item_file.parent.name / item_file.name
    d = json.loads(copy.read_text())
    d["stac_extensions"].append("https://stac-extensions.github.io/eo/v9.9.9/schema.json")
    copy.write_text(json.dumps(d))
    report = validate_catalog(tmp_path / "cat")
    assert not report.ok and any("not available offline" in e for e in report.errors)


@pytest.mark.skipif(not SHARED_SCHEMAS.is_dir(), reason="shared/data/stac-schemas not beside the checkout")
def test_vendored_schemas_equal_the_shared_copy() -> None:
    from snapstamps.stac.validate import SCHEMA_DIR

    mapping = json.loads((SHARED_SCHEMAS / "schema-map.json").read_text())
    assert json.loads((SCHEMA_DIR / "schema-map.json").read_text()) == mapping
    for rel in mapping.values():
        assert (SCHEMA_DIR / rel).read_bytes() == (SHARED_SCHEMAS / rel).read_bytes()


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
    cli = [sys.executable, "-m", "snapstamps.service.cli"]
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

    from snapstamps.report import make_job_outputs

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
