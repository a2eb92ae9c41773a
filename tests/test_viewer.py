"""The web viewer: exported data files, shipped assets, and browser tests in headless Chromium.

Browser tests (playwright-core from ``web/node_modules`` driving Debian's chromium) load the
viewer of a result, check the number of points drawn, hover and click a known point and read
its time series (dates, values in mm), apply the coherence filter and the colour limits, and
keep a screenshot in ``build/test-artifacts/``.  They skip with the reason when chromium,
node or playwright-core is absent.  Set ``SNAPSTAMPS_TEST_RESULT_DIR`` to test a real result.
"""

from __future__ import annotations

import base64
import functools
import http.server
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from snapstamps.errors import InputError
from snapstamps.results import load_result
from snapstamps.results.model import lonlat_to_mercator
from snapstamps.results.viewer import CHUNK_ATTRIBUTES, export_viewer, static_assets_dir, viewer_static_dir
from snapstamps.viewer.testing import browser_check, browser_unavailable, psi_result_dir

ARTIFACTS = Path(__file__).resolve().parents[1] / "build" / "test-artifacts"


@pytest.fixture(scope="module")
def result_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return psi_result_dir(tmp_path_factory.mktemp("viewer"))


@pytest.fixture(scope="module")
def exported(result_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("viewer-out") / "site"
    export_viewer(result_dir, out, chunk_size=1000)
    return out


def _js_b64(path: Path, pattern: str) -> bytes:
    m = re.search(pattern, path.read_text())
    assert m, path
    return base64.b64decode(m.group(1))


def _known_point(result_dir: Path) -> int:
    """Row of an isolated point (far from its neighbours), so that a click is unambiguous."""
    from scipy.spatial import cKDTree

    res = load_result(result_dir)
    x, y = lonlat_to_mercator(res.column("longitude"), res.column("latitude"))
    d, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)
    return int(np.argmax(d[:, 1]))


def test_export_data_round_trip(result_dir: Path, exported: Path) -> None:
    res = load_result(result_dir)
    n = res.n_points
    raw = _js_b64(exported / "data" / "points.js", r'SNAPSTAMPS_POINTS = "([^"]*)"')
    assert len(raw) == 20 * n
    v = np.frombuffer(raw, np.float32, n, 8 * n)
    coh = np.frombuffer(raw, np.float32, n, 12 * n)
    pid = np.frombuffer(raw, np.int32, n, 16 * n)
    np.testing.assert_allclose(v, res.column("mean_velocity"), atol=1e-5)
    np.testing.assert_allclose(coh, res.column("temporal_coherence"), atol=1e-6)
    np.testing.assert_array_equal(pid, res.table["pid"].to_numpy())
    # the time series of a point in the second chunk
    i = min(n - 1, 1234)
    k, j = divmod(i, 1000)
    nc = min(1000, n - k * 1000)
    chunk = _js_b64(exported / "data" / "ts" / f"c{k}.js", r'SNAPSTAMPS_CHUNK\(\d+,"([^"]*)"\)')
    na, nd = len(CHUNK_ATTRIBUTES), len(res.dates)
    ll = np.frombuffer(chunk, np.float64, nc * 2).reshape(nc, 2)
    attrs = np.frombuffer(chunk, np.float32, nc * (na - 2), nc * 16).reshape(nc, na - 2)
    ts = np.frombuffer(chunk, np.float32, nc * nd, nc * 16 + nc * (na - 2) * 4).reshape(nc, nd)
    assert len(chunk) == nc * 16 + nc * (na - 2) * 4 + nc * nd * 4
    np.testing.assert_allclose(ts[j], res.displacements()[i], atol=1e-5)
    assert ll[j, 0] == pytest.approx(res.column("longitude")[i], abs=1e-12)
    assert ll[j, 1] == pytest.approx(res.column("latitude")[i], abs=1e-12)
    assert attrs[j, CHUNK_ATTRIBUTES.index("height") - 2] == pytest.approx(res.column("height")[i], rel=1e-6)
    meta = (exported / "data" / "meta.js").read_text()
    assert '"n_points":%d' % n in meta and res.dates[0] in meta and "Infinity" not in meta
    assert (exported / "data" / "background.png").stat().st_size > 100


def test_shipped_assets_offline_and_small() -> None:
    static = static_assets_dir()
    total = sum(p.stat().st_size for p in static.rglob("*") if p.is_file())
    assert total < 400_000, f"shipped viewer assets are {total} bytes"
    for p in list(static.rglob("*.js")) + list(static.rglob("*.html")) + list(static.rglob("*.css")):
        urls = re.findall(r"(?:https?:)?//[a-zA-Z0-9.-]+\.[a-z]{2,}[^\s\"')]*", p.read_text())
        # XML namespaces and the licence header's project link are not fetched
        bad = [u for u in urls if "www.w3.org" not in u and "github.com/leeoniya/uPlot" not in u]
        assert not bad, f"{p.name} references remote URLs: {bad[:3]}"
    assert (static / "vendor" / "uPlot.iife.min.js").exists()
    assert (static.parent / "THIRD_PARTY.md").exists()


def test_tiles_option_and_cached_static_dir(result_dir: Path, tmp_path: Path) -> None:
    export_viewer(result_dir, tmp_path / "t", tiles_url="https://tiles.example/{z}/{x}/{y}.png")
    meta = (tmp_path / "t" / "data" / "meta.js").read_text()
    assert '"kind":"tiles"' in meta and not (tmp_path / "t" / "data" / "background.png").exists()
    d = viewer_static_dir(result_dir, tmp_path / "cache")
    stamp = (d / "data" / "points.js").stat().st_mtime_ns
    assert viewer_static_dir(result_dir, tmp_path / "cache") == d
    assert (d / "data" / "points.js").stat().st_mtime_ns == stamp  # not rebuilt


def test_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="ps_points"):
        load_result(tmp_path)


# ------------------------------------------------------------------------------------ browser
def _skip_without_browser() -> None:
    why = browser_unavailable()
    if why:
        pytest.skip(f"browser tests skipped: {why}")


def _check_known_point(report: dict, result_dir: Path, i: int) -> None:
    res = load_result(result_dir)
    sel = report["selected"]
    assert sel["pid"] == int(res.table["pid"].iloc[i])
    assert sel["dates"] == res.dates
    np.testing.assert_allclose(sel["values"], res.displacements()[i], atol=1e-4)
    assert [d for d, _ in report["table"]] == res.dates
    np.testing.assert_allclose([float(t) for _, t in report["table"]], res.displacements()[i], atol=0.0051)
    assert sel["attributes"]["mean_velocity"] == pytest.approx(res.column("mean_velocity")[i], abs=1e-5)
    assert sel["attributes"]["longitude"] == pytest.approx(res.column("longitude")[i], abs=1e-12)
    assert str(sel["pid"]) in report["tsTitle"]
    assert report["chartDrawn"]


def test_browser_file_url(result_dir: Path, exported: Path) -> None:
    _skip_without_browser()
    res = load_result(result_dir)
    i = _known_point(result_dir)
    lon, lat = float(res.column("longitude")[i]), float(res.column("latitude")[i])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "viewer.png"
    r = browser_check({"url": exported.resolve().as_uri() + "/index.html", "screenshot": str(shot),
                       "click": {"lon": lon, "lat": lat}, "cohMin": 0.8, "limits": [-5, 5]})
    assert r["webgl"], r["errors"]
    assert r["errors"] == [] and r["consoleErrors"] == []
    assert r["nPoints"] == res.n_points
    assert r["drawnCount"] == res.n_points
    assert r["countText"].startswith(f"{res.n_points:,} of {res.n_points:,}")
    assert r["paintedPixels"] > 0.5 * res.n_points  # points really rasterised by WebGL
    assert r["hovered"]["pid"] == int(res.table["pid"].iloc[i])
    assert f"PS {int(res.table['pid'].iloc[i])}" in r["tooltip"]
    _check_known_point(r, result_dir, i)
    coh = res.column("temporal_coherence").astype(np.float32).astype(np.float64)
    assert r["filtered"]["drawnCount"] == int((coh >= 0.8).sum())
    assert r["limits"] == ["≤ -5.0", "≥ +5.0"]
    assert all(u.startswith(("file://", "data:")) for u in r["requests"]), r["requests"]
    assert shot.stat().st_size > 10_000


def test_browser_local_server(result_dir: Path, exported: Path) -> None:
    _skip_without_browser()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(exported))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        res = load_result(result_dir)
        url = f"http://127.0.0.1:{srv.server_address[1]}/index.html"
        i = _known_point(result_dir)
        r = browser_check({"url": url, "click": {"lon": float(res.column("longitude")[i]),
                                                 "lat": float(res.column("latitude")[i])}})
        assert r["drawnCount"] == res.n_points and r["errors"] == []
        _check_known_point(r, result_dir, i)
        host = f"http://127.0.0.1:{srv.server_address[1]}/"
        assert all(u.startswith((host, "data:")) for u in r["requests"]), r["requests"]
    finally:
        srv.shutdown()
        srv.server_close()
