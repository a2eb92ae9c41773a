"""Compiled geometry kernels (:mod:`snapstamps.ifg.geokernels`) against the numpy reference functions
of :mod:`snapstamps.ifg.geocoding`, and :func:`grid_geometry` (coarse nodes, interpolated per pixel)
against the exact per-pixel solution.

The scene: a circular Sentinel-1-like orbit (693 km, 98.18 deg, Earth rotating under it), a
secondary orbit 150 m higher and 20 ms later, a 96 x 640 pixel grid at IW spacing, and a synthetic
DEM (EPSG:4326, 1" posts) of smooth hills 0-900 m with a no-data hole.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

from snapstamps.ifg import geocoding as G  # noqa: E402
from snapstamps.ifg import geokernels as K  # noqa: E402
from snapstamps.ifg.dem import open_dem  # noqa: E402
from snapstamps.ifg.orbits import OrbitInterpolator, StateVectors  # noqa: E402

EPOCH = np.datetime64("2022-01-04T17:00:00", "ns")
DT = 2.055556e-3  # s per line (IW)
DR = 2.329562  # m per sample (IW)


def _orbit(dh: float = 0.0, dt: float = 0.0) -> OrbitInterpolator:
    gm, we = 3.986004418e14, 7.2921151467e-5
    a = 6378137.0 + 693e3 + dh
    n, inc = math.sqrt(gm / a**3), math.radians(98.18)
    t = np.arange(-100.0, 101.0, 10.0)
    u = math.radians(40.0) + n * (t + dt)
    r_in = a * np.stack([np.cos(u), np.sin(u) * math.cos(inc), np.sin(u) * math.sin(inc)], axis=-1)
    v_in = a * n * np.stack([-np.sin(u), np.cos(u) * math.cos(inc), np.cos(u) * math.sin(inc)], axis=-1)
    th = -we * t
    rot = lambda v: np.stack([np.cos(th) * v[:, 0] - np.sin(th) * v[:, 1], np.sin(th) * v[:, 0] + np.cos(th) * v[:, 1], v[:, 2]], axis=-1)  # noqa: E731
    p = rot(r_in)
    v = rot(v_in) - np.cross([0.0, 0.0, we], p)
    return OrbitInterpolator(StateVectors(EPOCH, t, p, v))


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict:
    import rasterio
    from rasterio.transform import from_origin

    ref, sec = _orbit(), _orbit(150.0, 0.02)
    t_lines = -0.25 + np.arange(96) * DT
    r_samples = 800e3 + np.arange(640) * DR
    T, R = np.meshgrid(t_lines[[0, -1]], r_samples[[0, -1]], indexing="ij")
    lon, lat, _ = G.ecef_to_geodetic(G.rdr2geo(T, R, np.zeros_like(T), ref))
    w, s, e, n = lon.min() - 0.05, lat.min() - 0.05, lon.max() + 0.05, lat.max() + 0.05
    res = 1.0 / 3600
    nx, ny = int((e - w) / res) + 1, int((n - s) / res) + 1
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float64)
    h = 450.0 + 300.0 * np.sin(x / 400.0) * np.cos(y / 250.0) + 150.0 * np.cos((x + y) / 90.0)
    h[ny // 2 : ny // 2 + 30, nx // 3 : nx // 3 + 30] = -9999.0  # no-data hole
    path = Path(tmp_path_factory.mktemp("dem")) / "dem.tif"
    with rasterio.open(path, "w", driver="GTiff", width=nx, height=ny, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(w, n, res, res), nodata=-9999.0) as ds:
        ds.write(h.astype(np.float32), 1)
    dem = open_dem(path, (w + 0.03, s + 0.03, e - 0.03, n - 0.03))
    return {"ref": ref, "sec": sec, "t": t_lines, "r": r_samples, "dem": dem, "bbox": (w, s, e, n)}


def test_orbit_table_evaluates_like_the_interpolator(scene: dict) -> None:
    orb = scene["ref"]
    t = np.random.default_rng(0).uniform(-120.0, 120.0, 500)  # beyond the vectors too (edge windows)
    s, v, a = orb.evaluate(t, 2)
    k = K.orbit_evaluate(t, orb.table(), 2)
    assert np.abs(k[:, 0:3] - s).max() < 1e-6
    assert np.abs(k[:, 3:6] - v).max() < 1e-9
    assert np.abs(k[:, 6:9] - a).max() < 1e-9


def test_point_solvers_match_the_numpy_reference(scene: dict) -> None:
    rng = np.random.default_rng(1)
    t = rng.uniform(-0.3, 0.3, 400)
    r = rng.uniform(800e3, 830e3, 400)
    h = rng.uniform(-100.0, 3000.0, 400)
    p_np = G.rdr2geo(t, r, h, scene["ref"])
    p_k, lon, lat = K.rdr2geo_many(t, r, h, scene["ref"].table())
    assert np.abs(p_k - p_np).max() < 1e-6
    lo, la, _ = G.ecef_to_geodetic(p_np)
    assert np.abs(lon - lo).max() < 1e-11 and np.abs(lat - la).max() < 1e-11
    ts_np, rs_np = G.geo2rdr(p_np, scene["sec"], t + 0.01)
    ts_k, rs_k = K.geo2rdr_many(p_np, t + 0.01, scene["sec"].table(), 8)
    assert np.abs(ts_k - ts_np).max() < 1e-9 and np.abs(rs_k - rs_np).max() < 1e-6


def test_dem_kernel_samples_like_map_coordinates(scene: dict) -> None:
    dem = scene["dem"]
    w, s, e, n = scene["bbox"]
    rng = np.random.default_rng(2)
    lon = rng.uniform(w - 0.01, e + 0.01, 20000)  # some outside the cropped DEM
    lat = rng.uniform(s - 0.01, n + 0.01, 20000)
    args = dem.kernel_args()
    assert args is not None
    got = K.dem_heights(lon, lat, *args)
    want = dem.height(lon, lat)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(want).sum() > 100 and np.isfinite(want).sum() > 10000
    ok = np.isfinite(want)
    assert np.abs(got[ok] - want[ok]).max() < 1e-9


def test_dem_kernel_adds_the_geoid_like_the_numpy_path(scene: dict, tmp_path: Path) -> None:
    import rasterio

    from snapstamps.errors import InputError

    src = scene["dem"]
    path = tmp_path / "dem_egm96.tif"
    with rasterio.open(path, "w", driver="GTiff", width=src.data.shape[1], height=src.data.shape[0], count=1, dtype="float32",
                       crs="EPSG:9707", transform=src.transform, nodata=-9999.0) as ds:
        ds.write(np.where(np.isfinite(src.data), src.data, -9999.0).astype(np.float32), 1)
    try:
        dem = open_dem(path)
    except InputError as exc:
        pytest.skip(f"no offline geoid grid: {exc}")
    assert dem.geoid == "egm96"
    w, s, e, n = scene["bbox"]
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(w, e, 5000), rng.uniform(s, n, 5000)
    got = K.dem_heights(lon, lat, *dem.kernel_args())
    want = dem.height(lon, lat)
    ok = np.isfinite(want)
    assert np.array_equal(ok, np.isfinite(got)) and np.abs(got[ok] - want[ok]).max() < 1e-9
    assert np.abs(want[ok] - src.height(lon, lat)[ok]).min() > 1.0  # the undulation was added


def _exact(scene: dict, i: np.ndarray, j: np.ndarray, h0: np.ndarray, iterations: int) -> tuple[np.ndarray, ...]:
    """The pixels' geometry solved exactly (numpy rdr2geo per iteration, then geo2rdr)."""
    t, r = scene["t"][i], scene["r"][j]
    h = h0.copy()
    for _ in range(iterations):
        lo, la, _ = G.ecef_to_geodetic(G.rdr2geo(t, r, h, scene["ref"]))
        hn = scene["dem"].height(lo, la)
        h = np.where(np.isfinite(hn), hn, h)
    p = G.rdr2geo(t, r, h, scene["ref"])
    lo, la, _ = G.ecef_to_geodetic(p)
    ts, rs = G.geo2rdr(p, scene["sec"], t + 0.02)
    return lo, la, h, ts, rs


def test_grid_geometry_against_the_exact_solution_per_pixel(scene: dict) -> None:
    dem = scene["dem"]
    g = G.grid_geometry(scene["t"], scene["r"], scene["ref"], dem.height, [scene["sec"]], [0.02], step=32, iterations=30, tol=1e-7)
    rng = np.random.default_rng(4)
    i = rng.integers(0, scene["t"].size, 3000)
    j = rng.integers(0, scene["r"].size, 3000)
    lo, la, h, ts, rs = _exact(scene, i, j, g["hgt"][i, j], 1)  # one more exact step from the interpolated height
    # the interpolated height is a fixed point of the exact mapping (DEM under the exact point)
    assert np.abs(h - g["hgt"][i, j]).max() < 1e-3
    # interpolation error of the coarse nodes (every 32 lines and samples)
    az = np.abs(g["t_sec"][0][i, j] - ts) / DT
    rg = np.abs(g["r_sec"][0][i, j] - rs) / DR
    print(f"grid vs exact: azimuth max {az.max():.2e} lines, range max {rg.max():.2e} samples, "
          f"lon {np.abs(g['lon'][i, j] - lo).max():.1e} deg, lat {np.abs(g['lat'][i, j] - la).max():.1e} deg")
    assert az.max() < 1e-4 and rg.max() < 1e-4
    assert np.abs(g["lon"][i, j] - lo).max() < 1e-7 and np.abs(g["lat"][i, j] - la).max() < 1e-7  # ~1 cm


def test_dem_inside_the_kernel_equals_a_dem_callable(scene: dict) -> None:
    dem = scene["dem"]
    args = (scene["t"], scene["r"], scene["ref"])
    fast = G.grid_geometry(*args, dem.height, [scene["sec"]], [0.02], tol=0.0)
    slow = G.grid_geometry(*args, lambda lo, la: dem.height(lo, la), [scene["sec"]], [0.02])
    for k in ("lon", "lat", "hgt"):
        assert np.abs(fast[k] - slow[k]).max() < 1e-9, k
    assert np.abs(fast["t_sec"][0] - slow["t_sec"][0]).max() < 1e-12
    assert np.abs(fast["r_sec"][0] - slow["r_sec"][0]).max() < 1e-8
    # some pixels fall in the DEM's hole: they keep the start height, in both paths
    only = G.grid_geometry(*args, dem.height, [scene["sec"]], [0.02], tol=0.0, geocode=False, geo_dtype=np.float32)
    assert only["lon"] is None and np.array_equal(only["t_sec"][0], fast["t_sec"][0])
    f32 = G.grid_geometry(*args, dem.height, (), (), tol=0.0, geo_dtype=np.float32)
    assert f32["hgt"].dtype == np.float32 and np.array_equal(f32["hgt"], fast["hgt"].astype(np.float32))


def test_one_line_and_one_sample_grids(scene: dict) -> None:
    dem = scene["dem"]
    full = G.grid_geometry(scene["t"], scene["r"], scene["ref"], dem.height, [scene["sec"]], [0.02], tol=0.0)
    for i, j in ((slice(40, 41), slice(None)), (slice(None), slice(300, 301)), (slice(40, 41), slice(300, 301))):
        g = G.grid_geometry(scene["t"][i], scene["r"][j], scene["ref"], dem.height, [scene["sec"]], [0.02], tol=0.0)
        assert g["hgt"].shape == full["hgt"][i, j].shape and np.isfinite(g["hgt"]).all()
        assert np.abs(g["t_sec"][0] - full["t_sec"][0][i, j]).max() / DT < 1e-4
        assert np.abs(g["r_sec"][0] - full["r_sec"][0][i, j]).max() / DR < 1e-4
