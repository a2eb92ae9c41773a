"""Quicklook PNGs (content: not blank, colour bar present), velocity COGs (valid COG layout,
values), the HTML report and the asset roles.  Set ``SNAPSTAMPS_TEST_RESULT_DIR`` to test a
real psi result instead of the synthetic one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
rasterio = pytest.importorskip("rasterio")

from snapstamps.results.assets import Asset  # noqa: E402
from snapstamps.results.quicklooks import make_quicklooks  # noqa: E402
from snapstamps.results.rasters import validate_cog  # noqa: E402
from snapstamps.results.derived import make_job_outputs  # noqa: E402
from snapstamps.results import load_result  # noqa: E402
from snapstamps.results.model import scene_bperp  # noqa: E402
from snapstamps.viewer.testing import psi_result_dir  # noqa: E402


@pytest.fixture(scope="module")
def result_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return psi_result_dir(tmp_path_factory.mktemp("ql"), n_points=1500)


@pytest.fixture(scope="module")
def outputs(result_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Asset]:
    out = tmp_path_factory.mktemp("ql-out")
    return {a.key: a for a in make_job_outputs(result_dir, out, viewer=True)}


def _rgb(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    if img.dtype != np.uint8:
        img = (img * 255).round().astype(np.uint8)
    return img[..., :3].astype(np.int32)


def _cmap_lut() -> np.ndarray:
    import matplotlib

    return (matplotlib.colormaps["RdBu"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.int32)


def _colormap_index(img: np.ndarray, tol: int = 12) -> np.ndarray:
    """Per pixel: index 0..255 of the nearest RdBu colour, -1 when no colour is within ``tol``."""
    from scipy.spatial import cKDTree

    d, k = cKDTree(_cmap_lut()).query(img.reshape(-1, 3), p=np.inf)
    return np.where(d <= tol, k, -1).reshape(img.shape[:2])


def _assert_not_blank(img: np.ndarray) -> None:
    assert img.std() > 10, "image is blank"
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 30, "image has almost no colours"


def _has_colour_bar(idx: np.ndarray, min_len: int) -> bool:
    """A run of >= ``min_len`` consecutive pixels in one column (or row) that walks the whole colour
    map monotonically: what a colour bar is, and scattered points are not."""
    for arr in (idx, idx.T):  # columns of idx, then its rows
        for col in arr.T:
            good = np.r_[False, (col[1:] >= 0) & (col[:-1] >= 0) & (np.abs(np.diff(col)) <= 8), False]
            edges = np.flatnonzero(np.diff(good.astype(np.int8)))
            for s0, s1 in zip(edges[::2], edges[1::2]):
                seg = col[s0:s1 + 1]
                if len(seg) >= min_len and np.ptp(seg) > 200:
                    d = np.diff(seg)
                    if (d <= 0).all() or (d >= 0).all():
                        return True
    return False


def test_velocity_map_content(outputs: dict[str, Asset], result_dir: Path) -> None:
    a = outputs["velocity_map"]
    assert set(a.roles) == {"overview", "visual"} and a.media_type == "image/png"
    img = _rgb(a.path)
    _assert_not_blank(img)
    idx = _colormap_index(img)
    assert _has_colour_bar(idx, min_len=img.shape[0] // 3), "no colour bar found"
    # points: many pixels in the colour map's saturated parts outside the colour bar
    assert (idx >= 0).sum() > 2000


def test_blank_image_has_no_colour_bar() -> None:
    img = np.full((300, 300, 3), 255, np.int32)
    img[100:110, 100:200] = _cmap_lut()[200]
    assert not _has_colour_bar(_colormap_index(img), 100)


def test_thumbnail_baselines_histogram(outputs: dict[str, Asset], result_dir: Path) -> None:
    th = outputs["thumbnail"]
    assert th.roles == ["thumbnail"]
    img = _rgb(th.path)
    assert img.shape[:2] == (256, 256)
    _assert_not_blank(img)
    b = outputs["baseline_plot"]
    _assert_not_blank(_rgb(b.path))
    bp = scene_bperp(load_result(result_dir))
    assert b.extra["snapstamps:bperp_m"] == pytest.approx(list(bp), abs=1e-3)
    res = load_result(result_dir)
    assert bp[res.dates.index(res.master)] == 0.0
    h = outputs["coherence_histogram"]
    assert h.roles == ["overview"]
    _assert_not_blank(_rgb(h.path))


def test_quicklooks_are_deterministic(result_dir: Path, tmp_path: Path) -> None:
    a = make_quicklooks(result_dir, tmp_path / "a")
    b = make_quicklooks(result_dir, tmp_path / "b")
    for x, y in zip(a, b):
        assert x.path.read_bytes() == y.path.read_bytes(), x.key


def test_cogs_validate_and_hold_the_velocities(outputs: dict[str, Asset], result_dir: Path) -> None:
    from rasterio.warp import transform

    res = load_result(result_dir)
    v = res.column("mean_velocity")
    for key in ("mean_velocity", "mean_velocity_100m"):
        a = outputs[key]
        assert a.roles == ["data"] and "cloud-optimized" in a.media_type
        assert validate_cog(a.path) == [], key
    with rasterio.open(outputs["mean_velocity_100m"].path) as ds:
        assert ds.res == (100.0, 100.0) and ds.crs.to_epsg() // 100 in (326, 327)
        assert ds.bounds.left % 100 == 0 and ds.bounds.top % 100 == 0
        mean, cnt = ds.read(1), ds.read(2)
        assert np.nansum(cnt) == res.n_points
        assert np.nansum(mean * cnt) / np.nansum(cnt) == pytest.approx(np.mean(v) / 1000, abs=1e-7)
        assert ds.units[0] == "m/year"
    with rasterio.open(outputs["mean_velocity"].path) as ds:
        grid = ds.read(1)
        e, n = transform("EPSG:4326", ds.crs, res.column("longitude").tolist(), res.column("latitude").tolist())
        rows, cols = rasterio.transform.rowcol(ds.transform, e, n)
        rows, cols = np.asarray(rows), np.asarray(cols)
        flat = rows * ds.width + cols
        alone = np.bincount(flat, minlength=grid.size)[flat] == 1
        assert alone.sum() > 0.5 * res.n_points
        np.testing.assert_allclose(grid[rows[alone], cols[alone]], v[alone] / 1000, atol=1e-7)
        assert np.isnan(grid).any()  # empty cells are nodata


def test_validate_cog_rejects_plain_geotiff(tmp_path: Path) -> None:
    from affine import Affine

    p = tmp_path / "plain.tif"
    with rasterio.open(p, "w", driver="GTiff", width=600, height=600, count=1, dtype="float32",
                       crs="EPSG:32633", transform=Affine(10.0, 0.0, 0.0, 0.0, -10.0, 0.0)) as ds:
        ds.write(np.ones((600, 600), np.float32), 1)
    assert validate_cog(p)


def test_report(outputs: dict[str, Asset], result_dir: Path) -> None:
    import re

    res = load_result(result_dir)
    a = outputs["report"]
    assert a.media_type == "text/html" and "metadata" in a.roles
    text = a.path.read_text()
    for s in ("Inputs", "Parameters", "Counts", "Reference area", "Velocity statistics", "Quicklooks",
              f"<td>{res.n_points}</td>", res.dates[0], res.master):
        assert s in text, s
    srcs = re.findall(r"(?:src|href)='([^']+)'", text)
    for s in ("velocity_map.png", "baseline_plot.png", "coherence_histogram.png", "mean_velocity.tif",
              "mean_velocity_100m.tif", "viewer/index.html"):
        assert s in srcs, s
    for s in srcs:
        assert not s.startswith(("http:", "https:", "//")), s
        assert (a.path.parent / s).exists(), s
    assert (a.path.parent / "assets.json").exists()


def test_cli_subcommands(result_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from snapstamps.cli import build_parser

    p = build_parser()
    args = p.parse_args(["viewer", "export", str(result_dir), str(tmp_path / "v")])
    assert args.func(args) == 0 and (tmp_path / "v" / "index.html").exists()
    args = p.parse_args(["quicklooks", str(result_dir), "--out", str(tmp_path / "q"), "--no-viewer"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "[thumbnail]" in out and "report.html" in out and not (tmp_path / "q" / "viewer").exists()
