"""Derived outputs (quicklooks, COGs, report, viewer, assets.json) follow the products.

A psi run writes ``product_version`` into ``psi_metadata.json``; the derived outputs record the
version they were made from.  Re-running psi from step 7 with another velocity type must rebuild
every one of them, and ``stac catalog`` must never publish quicklooks of other products.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("rasterio")

from snapstamps.results import load_result
from snapstamps.results.derived import ASSETS_FILE, VERSION_FIELD, check_derived, make_job_outputs
from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack
from snapstamps.stac.psi import CatalogError, build_psi_catalog
from snapstamps.workflows.psi import run_psi

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("derived")
    insar = simulate_stamps_stack(tmp / "sim", SimConfig(width=160, length=320, n_dates=16, seed=7))
    out = tmp / "psi"
    run_psi(insar, out, show_progress=False)
    return out


def _viewer_meta(folder: Path) -> dict:
    text = (folder / "viewer" / "data" / "meta.js").read_text()
    return json.loads(text.split("=", 1)[1].strip().rstrip(";"))


def _cog_tag(path: Path, key: str) -> str:
    import rasterio

    with rasterio.open(path) as ds:
        return ds.tags()[key]


def _velocity_limit_and_version(folder: Path) -> tuple[float, str]:
    spec = json.loads((folder / ASSETS_FILE).read_text())
    return spec["velocity_map"]["snapstamps:velocity_limits_mm_yr"][1], spec["velocity_map"][VERSION_FIELD]


def test_rerun_from_step_7_rebuilds_every_derived_output(run_dir, tmp_path) -> None:
    work = tmp_path / "work"
    shutil.copytree(run_dir, work)
    make_job_outputs(work, job_id="job-1")
    v1 = load_result(work).product_version
    assert v1 and len(v1) == 16
    spec1 = json.loads((work / ASSETS_FILE).read_text())
    assert {a[VERSION_FIELD] for a in spec1.values()} == {v1}
    mtimes = {k: (work / a["href"]).stat().st_mtime_ns for k, a in spec1.items()}
    v_d = load_result(work).column("mean_velocity")

    run_psi(None, work, start=7, end=8, show_progress=False, param_updates={"velocity_type": "v-do"})
    res = load_result(work)
    v2 = res.product_version
    assert v2 != v1
    assert not np.allclose(res.column("mean_velocity"), v_d)  # the products did change
    spec2 = json.loads((work / ASSETS_FILE).read_text())
    assert set(spec2) == set(spec1)  # every derived output rebuilt, with the same options
    assert {a[VERSION_FIELD] for a in spec2.values()} == {v2}
    for key, a in spec2.items():
        assert (work / a["href"]).stat().st_mtime_ns > mtimes[key], key
    assert _viewer_meta(work)["product_version"] == v2
    assert _cog_tag(work / "mean_velocity.tif", "product_version") == v2
    assert _cog_tag(work / "mean_velocity.tif", "velocity_type").startswith("StaMPS 'v-do'")
    assert v2 in (work / "report.html").read_text() and "job-1" in (work / "report.html").read_text()
    assert check_derived(work) is None

    # the same run again: same products, same version, nothing rebuilt
    again = {k: (work / a["href"]).stat().st_mtime_ns for k, a in spec2.items()}
    run_psi(None, work, start=7, end=8, show_progress=False)
    assert load_result(work).product_version == v2
    assert {k: (work / a["href"]).stat().st_mtime_ns for k, a in spec2.items()} == again


def test_stac_catalog_never_publishes_a_mix(run_dir, tmp_path) -> None:
    work = tmp_path / "work"
    shutil.copytree(run_dir, work)
    ql = tmp_path / "ql"
    make_job_outputs(work, ql, viewer=False)
    make_job_outputs(work)  # in the result folder too
    run_psi(None, work, start=7, end=8, show_progress=False, param_updates={"velocity_type": "v-do"})
    v2 = load_result(work).product_version
    # quicklooks written elsewhere from the earlier products: refused, saying what to do
    with pytest.raises(CatalogError, match="product version"):
        build_psi_catalog(work, tmp_path / "cat-mix", quicklooks_dir=ql)
    assert not (tmp_path / "cat-mix").exists()
    # stale outputs in the result folder itself are rebuilt before publishing
    (work / ASSETS_FILE).write_text((work / ASSETS_FILE).read_text().replace(v2, "0" * 16))
    cat = build_psi_catalog(work, tmp_path / "cat")
    assert check_derived(work) is None
    items = [json.loads(p.read_text()) for p in cat.parent.glob("*/*.json") if p.stem == p.parent.name]
    versions = {a[VERSION_FIELD] for it in items for a in it["assets"].values() if VERSION_FIELD in a}
    assert versions == {v2} and any(VERSION_FIELD in a for it in items for a in it["assets"].values())
    meta = json.loads(next(cat.parent.glob("*ps-points/psi_metadata.json")).read_text())
    assert meta["product_version"] == v2


def test_outputs_need_no_pyplot_and_read_the_dem_once(run_dir, tmp_path) -> None:
    """The derived outputs are drawn on Agg canvases (pyplot never imported); the stack DEM is
    read once and each hillshade size made once, however many outputs use them."""
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        "import snapstamps.results.hillshade as hs\n"
        "calls = {'dem': 0, 'shade': []}\n"
        "read, make = hs.read_stack_dem, hs._make_hillshade\n"
        "def r(res):\n    calls['dem'] += 1\n    return read(res)\n"
        "def m(res, max_px, pad):\n    calls['shade'].append(max_px)\n    return make(res, max_px, pad)\n"
        "hs.read_stack_dem, hs._make_hillshade = r, m\n"
        "from snapstamps.results.derived import make_job_outputs\n"
        f"make_job_outputs({str(run_dir)!r}, {str(tmp_path / 'out')!r})\n"
        "print(json.dumps({'pyplot': 'matplotlib.pyplot' in sys.modules, **calls}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"pyplot": False, "dem": 1, "shade": [800, 1024]}
    assert (tmp_path / "out" / "velocity_map.png").stat().st_size > 10_000
    assert (tmp_path / "out" / "viewer" / "data" / "background.png").is_file()
