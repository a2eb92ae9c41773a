"""``snapstamps import``: real StaMPS-Visualizer exports (Maoxian, SNAP-StaMPS) and StaMPS output
folders into the point products, GeoParquet, quicklooks/COGs, the viewer and a STAC catalog."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from real_data import real_dir

from snapstamps.errors import InputError


@pytest.fixture(scope="module")
def maoxian_ps(tmp_path_factory) -> tuple[Path, Path]:
    from snapstamps.cli import main

    src = real_dir("stamps-visualizer-maoxian") / "Maoxian_PS.csv"
    out = tmp_path_factory.mktemp("maoxian") / "ps"
    assert main(["import", str(src), "--out", str(out)]) == 0
    return src, out


def _raw(src: Path) -> np.ndarray:
    return pd.read_csv(src).to_numpy(np.float64)


def test_maoxian_ps_products_and_geoparquet(maoxian_ps) -> None:
    import geopandas as gpd

    src, out = maoxian_ps
    raw = _raw(src)
    g = gpd.read_parquet(out / "ps_points.parquet")
    assert len(g) == 97 and g.crs is not None and g.crs.to_string() == "OGC:CRS84"  # GeoParquet default: lon/lat WGS84
    assert (g.geometry.geom_type == "Point").all()
    np.testing.assert_allclose(g.geometry.x, raw[1:, 0])
    np.testing.assert_allclose(g.geometry.y, raw[1:, 1])
    np.testing.assert_allclose(g["mean_velocity"], raw[1:, 2])
    date_cols = [c for c in g.columns if len(c) == 8 and c.isdigit()]
    assert len(date_cols) == 41 and date_cols[0] == "20141125" and date_cols[-1] == "20170618"
    np.testing.assert_allclose(g[date_cols].to_numpy(), raw[1:, 3:])
    meta = json.loads((out / "psi_metadata.json").read_text())
    assert meta["dates"][0] == "2014-11-25" and len(meta["dates"]) == 41
    assert meta["reference_area"]["reference_ps_centroid_lonlat"] == [103.6858, 32.0086]
    assert any("master" in a for a in meta["assumptions"]) and any("mm/yr" in a for a in meta["assumptions"])
    # the file's velocity is the slope of its own series (units consistent: mm/yr and mm)
    t = (pd.to_datetime(meta["dates"]) - pd.Timestamp(meta["dates"][0])).days.to_numpy() / 365.25
    tt = t - t.mean()
    slope = raw[1:, 3:] @ tt / np.sum(tt**2)
    assert np.corrcoef(slope, raw[1:, 2])[0, 1] > 0.99
    csv = pd.read_csv(out / "ps_points.csv")
    assert len(csv) == 97


def test_maoxian_ps_quicklooks_cogs_and_stac(maoxian_ps) -> None:
    from snapstamps.stac.validate import validate_catalog

    _, out = maoxian_ps
    for name in ("velocity_map.png", "mean_velocity.tif", "report.html", "viewer/index.html", "stac/catalog.json"):
        assert (out / name).is_file(), name
    rep = validate_catalog(out / "stac" / "catalog.json")
    assert rep.errors == [], rep.errors
    item = json.loads((out / "stac" / "psi-20141125-ps-points" / "psi-20141125-ps-points.json").read_text())
    assert item["properties"]["snapstamps:dates"][-1] == "2017-06-18" and item["properties"]["snapstamps:n_ps"] == 97


def test_maoxian_viewer_shows_the_97_ps_and_their_series(maoxian_ps) -> None:
    from snapstamps.viewer.testing import browser_check, browser_unavailable

    why = browser_unavailable()
    if why:
        pytest.skip(why)
    src, out = maoxian_ps
    raw = _raw(src)
    i = 40
    r = browser_check({"url": (out / "viewer").resolve().as_uri() + "/index.html",
                       "click": {"lon": float(raw[1 + i, 0]), "lat": float(raw[1 + i, 1])}})
    assert r["errors"] == [] and r["consoleErrors"] == [], (r["errors"], r["consoleErrors"])
    assert r["nPoints"] == 97 and r["drawnCount"] == 97
    sel = r["selected"]
    assert sel["pid"] == i + 1
    assert len(sel["dates"]) == 41 and sel["dates"][0] == "2014-11-25" and sel["dates"][-1] == "2017-06-18"
    np.testing.assert_allclose(sel["values"], raw[1 + i, 3:], atol=1e-4)
    assert r["chartDrawn"]


def test_maoxian_sbas_export(tmp_path: Path) -> None:
    from snapstamps.importers.stamps import read_stamps, write_imported

    src = real_dir("stamps-visualizer-maoxian") / "Maoxian_SBAS.csv"
    pts = read_stamps(src)
    assert pts.lon.size == 608 and len(pts.dates) == 38
    write_imported(pts, tmp_path)
    t = pd.read_csv(tmp_path / "ps_points.csv")
    assert len(t) == 608 and sum(c.isdigit() for c in t.columns) == 38


def _stamps_folder(d: Path, n: int = 30, dates=("20200101", "20200113", "20200125", "20200206")) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ll = np.column_stack([rng.uniform(10, 10.1, n), rng.uniform(45, 45.1, n)])
    days = np.array([(dt.date(int(s[:4]), int(s[4:6]), int(s[6:])) - dt.date(2020, 1, 1)).days for s in dates]) / 365.25
    v = rng.normal(0, 5, n)
    disp = v[:, None] * days[None, :]
    d.mkdir(parents=True, exist_ok=True)
    np.savetxt(d / "ps_mean_v.xy", np.column_stack([ll, v]), fmt="%.7f")
    for k in range(len(dates)):
        np.savetxt(d / f"ps_u-dm.{k + 1}.xy", np.column_stack([ll, disp[:, k]]), fmt="%.7f")
    (d / "day.1.in").write_text("\n".join(dates) + "\n")
    return np.column_stack([ll, v]), disp


def test_stamps_text_folder(tmp_path: Path) -> None:
    from snapstamps.importers.stamps import read_stamps

    a, disp = _stamps_folder(tmp_path / "s")
    pts = read_stamps(tmp_path / "s")
    assert pts.dates == ["2020-01-01", "2020-01-13", "2020-01-25", "2020-02-06"]
    np.testing.assert_allclose(pts.velocity, a[:, 2], atol=1e-6)
    np.testing.assert_allclose(pts.displacement, disp, atol=1e-6)
    (tmp_path / "s" / "day.1.in").unlink()
    with pytest.raises(InputError, match="day.1.in"):
        read_stamps(tmp_path / "s")
    (tmp_path / "s" / "day.1.in").write_text("20200101\n20200113\n")
    with pytest.raises(InputError, match="2 dates for 4"):
        read_stamps(tmp_path / "s")


def test_stamps_ps_plot_mat(tmp_path: Path) -> None:
    from scipy.io import savemat

    from snapstamps.importers.stamps import read_stamps

    rng = np.random.default_rng(1)
    ll = np.column_stack([rng.uniform(10, 10.1, 20), rng.uniform(45, 45.1, 20)])
    day = 737791.0 + 12.0 * np.arange(6)  # MATLAB datenum 737791 = 2020-01-01
    ph = rng.normal(0, 2, (20, 6))
    v = rng.normal(0, 5, 20)
    d = tmp_path / "m"
    d.mkdir()
    savemat(d / "ps_plot_ts_v-do.mat", {"lonlat": ll, "ph_mm": ph, "day": day[:, None], "ph_disp": v[:, None],
                                        "master_day": np.array([[day[2]]]), "ref_lonlat": np.array([[10.05, 45.05]])})
    pts = read_stamps(d)
    assert pts.dates[0] == "2020-01-01" and pts.master == "2020-01-25" and pts.reference_lonlat == (10.05, 45.05)
    np.testing.assert_allclose(pts.displacement, ph)
    np.testing.assert_allclose(pts.velocity, v)


@pytest.mark.parametrize("text,match", [
    ("a,b,c\n1,2,3\n", "StaMPS-Visualizer"),
    ("h1,h2,h3,h4\n1,2,3,4\n5,6,7,8\n", "first row"),
    ("h1,h2,h3,h4\n1,2,NaN,12\n5,6,7,8\n", "datenum"),
])
def test_bad_exports_are_clear_errors(tmp_path: Path, text: str, match: str) -> None:
    from snapstamps.importers.stamps import read_stamps

    p = tmp_path / "x.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        read_stamps(p)
