"""STAC catalogs that hold together: movable catalogs, resolving derived_from links, checksums,
stack facts (polarisation, sub-swath, relative orbit) carried from the input stack to the psi items,
processing levels per item type."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

pystac = pytest.importorskip("pystac")
pytest.importorskip("jsonschema")

from snapstamps.cli import main  # noqa: E402 (after the importorskip guards)
from snapstamps.results.derived import make_job_outputs  # noqa: E402 (after the importorskip guards)
from snapstamps.stac.fields import PROCESSING_LEVELS, relative_orbit  # noqa: E402 (after the importorskip guards)
from snapstamps.stac.psi import build_psi_catalog  # noqa: E402 (after the importorskip guards)
from snapstamps.stac.stack import stack_properties, write_stack_catalog  # noqa: E402 (after the importorskip guards)
from snapstamps.stac.validate import validate_catalog  # noqa: E402 (after the importorskip guards)

pytestmark = pytest.mark.slow


def _uri_path(href: str) -> Path:
    u = urlparse(href)
    assert u.scheme == "file", href
    return Path(unquote(u.path))


@pytest.fixture(scope="module")
def stack_run(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A stack catalog (sub-swath IW2, VH) of a simulated stack, and psi run on that catalog by the CLI."""
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

    tmp = tmp_path_factory.mktemp("links")
    insar = simulate_stamps_stack(tmp / "sim", SimConfig(width=120, length=300, n_dates=10, seed=4))
    cat = write_stack_catalog([insar], tmp / "stackcat", swaths=["IW2"], polarisation="VH")
    out = tmp / "psi"
    assert main(["-q", "psi", str(cat), "--out", str(out)]) == 0
    make_job_outputs(out)
    return insar, cat, out


def test_stack_facts_reach_the_psi_items(stack_run, tmp_path) -> None:
    insar, stack_cat, out = stack_run
    src = json.loads((out / "stack.json").read_text())["stack_source"]
    assert src["polarisation"] == "VH" and src["swath"] == "IW2"
    cat = build_psi_catalog(out, tmp_path / "cat")  # nothing given: all from the recorded stack
    items = {i.id.split("-", 2)[-1]: i for i in pystac.Catalog.from_file(str(cat)).get_items()}
    assert set(items) == {"ps-points", "stamps-exports", "rasters"}
    for item in items.values():
        p = item.properties
        assert p["sar:polarizations"] == ["VH"] and p["sar:beam_ids"] == ["IW2"]
        assert p["processing:level"] == PROCESSING_LEVELS[item.id.split("-", 2)[-1]]
        link = item.get_single_link("derived_from")
        target = _uri_path(link.href)  # absolute: resolves wherever the catalog goes
        assert target.is_file() and json.loads(target.read_text())["type"] == "Feature"
        assert json.loads(target.read_text())["properties"]["processing:level"] == "L1"
    assert items["ps-points"].properties["sat:orbit_state"] == "descending"
    # a polarisation that contradicts the stack is refused
    from snapstamps.stac.psi import CatalogError

    with pytest.raises(CatalogError, match="differs from the stack"):
        build_psi_catalog(out, tmp_path / "cat2", polarisation="VV")


def test_derived_from_given_relative_to_the_shell_resolves(stack_run, tmp_path, monkeypatch) -> None:
    insar, stack_cat, out = stack_run
    monkeypatch.chdir(stack_cat.parent.parent)
    cat = build_psi_catalog(out, tmp_path / "cat", stack_ref=os.path.relpath(stack_cat))
    item = next(pystac.Catalog.from_file(str(cat)).get_items())
    assert _uri_path(item.get_single_link("derived_from").href) == stack_cat.resolve()
    # a bare name that is no path here (as CWL passes the staged folder's basename): the recorded stack
    cat = build_psi_catalog(out, tmp_path / "cat-b", stack_ref="stackcat-staged-somewhere")
    item = next(pystac.Catalog.from_file(str(cat)).get_items())
    assert _uri_path(item.get_single_link("derived_from").href).is_file()


def test_catalog_can_be_moved_and_its_assets_opened(stack_run, tmp_path) -> None:
    _, _, out = stack_run
    cat = build_psi_catalog(out, tmp_path / "here" / "cat")
    moved = tmp_path / "elsewhere" / "deeper" / "cat"
    shutil.copytree(cat.parent, moved)
    shutil.rmtree(cat.parent)
    report = validate_catalog(moved / "catalog.json")
    assert report.ok, report.errors
    n = 0
    for item in pystac.Catalog.from_file(str(moved / "catalog.json")).get_items():
        for key, a in item.assets.items():
            assert not Path(a.href).is_absolute() and "://" not in a.href, (item.id, key, a.href)
            f = Path(a.get_absolute_href())
            assert f.is_file() and str(f.resolve()).startswith(str(moved.resolve())), (key, f)
            if "file:checksum" in a.extra_fields:
                assert a.extra_fields["file:checksum"] == "1220" + hashlib.sha256(f.read_bytes()).hexdigest()
                assert a.extra_fields["file:size"] == f.stat().st_size
                n += 1
    assert n >= 10
    html = (moved / "report.html").read_text()
    assert "://" not in html.split("<h2>Files</h2>")[1].split("</ul>")[0]


def test_stack_facts_beside_an_ifg_stack_output(tmp_path) -> None:
    insar = tmp_path / "gathered" / "INSAR_20240101"
    insar.mkdir(parents=True)
    name = "S1A_IW_SLC__1SDV_20240101T170557_20240101T170624_051914_064651_ABCD.SAFE"
    (insar.parent / "ifg_stack.json").write_text(json.dumps({"subswath": "IW3", "polarisation": "VV", "reference": name}))
    facts = stack_properties(insar)
    assert facts == {"href": insar.resolve().as_uri(), "swath": "IW3", "polarisation": "VV",
                     "relative_orbit": relative_orbit(name), "platform": "sentinel-1a"}
    assert relative_orbit(name) == (51914 - 73) % 175 + 1


def test_stack_catalog_of_an_ifg_stack_output_keeps_its_facts(tmp_path) -> None:
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

    insar = simulate_stamps_stack(tmp_path / "sim", SimConfig(width=40, length=60, n_dates=4, seed=1))
    name = "S1B_IW_SLC__1SDV_20200101T170557_20200101T170624_019000_023E5A_ABCD.SAFE"
    (insar.parent / "ifg_stack.json").write_text(json.dumps(
        {"subswath": "IW1", "polarisation": "VV", "reference": name, "pass": "ASCENDING"}))
    cat = write_stack_catalog([insar], tmp_path / "cat")
    item = next(pystac.Catalog.from_file(str(cat)).get_items())
    p = item.properties
    assert p["sar:beam_ids"] == ["IW1"] and p["sar:polarizations"] == ["VV"] and p["platform"] == "sentinel-1b"
    assert p["snapstamps:relative_orbit"] == (19000 - 27) % 175 + 1 and p["snapstamps:orbit_state"] == "ascending"
    assert p["processing:level"] == "L1"
    assert validate_catalog(cat).ok
