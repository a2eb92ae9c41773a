"""Mean-velocity rasters of a psi result as Cloud-Optimized GeoTIFFs (COG), with rasterio.

Two rasters, both in the UTM zone of the scene centre (as HyP3/OPERA deliver rasters), float32,
nodata NaN, values in **metres per year** (the project's raster convention: SI units, float32,
``units`` set; the point products keep mm/yr), LOS positive toward the satellite:

- ``mean_velocity.tif`` — on the PS grid: cells of the size of one radar pixel on the ground
  (the area-equivalent size of the ``line``/``pixel`` cell, fitted from the PS positions), each
  PS in the cell that contains it (the mean where several fall in one cell).  One band.
- ``mean_velocity_100m.tif`` — resampled to 100 m cells aligned on multiples of 100 m (as the
  GEP service delivers): band 1 the mean velocity of the PS in the cell, band 2 their number,
  band 3 the standard deviation of their velocities.

:func:`validate_cog` checks the COG layout (GDAL's ghost header, tiling, overviews, IFD order).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .assets import Asset
from .model import PsiResult, load_result

__all__ = [
    "COG_MEDIA_TYPE", "utm_epsg", "ps_grid_spacing", "grid_points", "write_cog", "ps_grid_velocity_cog",
    "resampled_velocity_cog", "make_rasters", "validate_cog",
]

COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
MAX_CELLS = 400_000_000  # PS-grid rasters larger than this get coarser cells (logged in the tags)


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 / UTM zone containing ``(lon, lat)``."""
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def _to_utm(res: PsiResult) -> tuple[int, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    from rasterio.warp import transform

    lon, lat, v = res.column("longitude"), res.column("latitude"), res.column("mean_velocity")
    ok = np.isfinite(lon) & np.isfinite(lat) & np.isfinite(v)
    if not ok.any():
        from ..errors import InputError

        raise InputError(f"{res.path}: no PS with a finite position and velocity")
    epsg = utm_epsg(float(np.median(lon[ok])), float(np.median(lat[ok])))
    e, n = transform("EPSG:4326", f"EPSG:{epsg}", lon[ok].tolist(), lat[ok].tolist())
    return epsg, np.asarray(e), np.asarray(n), v[ok]


def ps_grid_spacing(res: PsiResult, fallback_m: float = 10.0) -> float:
    """Ground size (m) of one radar cell: sqrt(|det J|) of the affine fit (line, pixel) -> (E, N).

    ``fallback_m`` when the fit is poor (fewer than 10 PS, or R² < 0.99, or an implausible size).
    """
    line, pixel = res.column("line"), res.column("pixel")
    try:
        _, e, n, _ = _to_utm(res)
    except Exception:
        return fallback_m
    lon_ok = np.isfinite(res.column("longitude")) & np.isfinite(res.column("latitude")) & np.isfinite(
        res.column("mean_velocity"))
    line, pixel = line[lon_ok], pixel[lon_ok]
    ok = np.isfinite(line) & np.isfinite(pixel)
    if ok.sum() < 10:
        return fallback_m
    a = np.column_stack([line[ok], pixel[ok], np.ones(ok.sum())])
    y = np.column_stack([e[ok], n[ok]])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    ss = ((y - y.mean(axis=0)) ** 2).sum()
    r2 = 1.0 - (resid**2).sum() / ss if ss > 0 else 0.0
    size = math.sqrt(abs(np.linalg.det(coef[:2, :2])))
    if r2 < 0.99 or not (0.5 <= size <= 200.0):
        return fallback_m
    return float(size)


def grid_points(e: NDArray, n: NDArray, v: NDArray, cell: float, align: bool = False
                ) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32], tuple[float, float]]:
    """Bin points into ``cell``-metre cells: (mean, count, std) grids and the (west, north) corner.

    Row 0 is the north.  With ``align`` the corner is a multiple of ``cell``.
    """
    w, nn = float(e.min()), float(n.max())
    if align:
        w = math.floor(w / cell) * cell
        nn = math.ceil(nn / cell) * cell
        if nn == float(n.max()):
            nn += cell
    else:
        w -= cell / 2
        nn += cell / 2
    nx = int(math.floor((float(e.max()) - w) / cell)) + 1
    ny = int(math.floor((nn - float(n.min())) / cell)) + 1
    ix = np.clip(((e - w) / cell).astype(np.int64), 0, nx - 1)
    iy = np.clip(((nn - n) / cell).astype(np.int64), 0, ny - 1)
    flat = iy * nx + ix
    cnt = np.bincount(flat, minlength=nx * ny).astype(np.float64)
    s = np.bincount(flat, weights=v, minlength=nx * ny)
    s2 = np.bincount(flat, weights=v * v, minlength=nx * ny)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt > 0, s / cnt, np.nan)
        var = np.where(cnt > 0, np.maximum(s2 / cnt - mean**2, 0.0), np.nan)
    shape = (ny, nx)
    return (mean.reshape(shape).astype(np.float32), cnt.reshape(shape).astype(np.float32),
            np.sqrt(var).reshape(shape).astype(np.float32), (w, nn))


def write_cog(path: str | Path, bands: list[NDArray[np.float32]], epsg: int, corner: tuple[float, float],
              cell: float, descriptions: list[str], units: list[str], tags: dict[str, str] | None = None,
              blocksize: int = 256) -> Path:
    """Write float32 ``bands`` as a DEFLATE-compressed COG (NaN nodata, average overviews)."""
    import rasterio
    import rasterio.shutil
    from rasterio.io import MemoryFile
    from affine import Affine

    path = Path(path)
    ny, nx = bands[0].shape
    profile = {
        "driver": "GTiff", "width": nx, "height": ny, "count": len(bands), "dtype": "float32",
        "crs": f"EPSG:{epsg}", "transform": Affine(cell, 0.0, corner[0], 0.0, -cell, corner[1]), "nodata": float("nan"),
    }
    tmp = path.with_name(path.name + ".tmp.tif")
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            for k, b in enumerate(bands, start=1):
                ds.write(b.astype(np.float32), k)
                ds.set_band_description(k, descriptions[k - 1])
                ds.update_tags(k, units=units[k - 1])
                ds.set_band_unit(k, units[k - 1])
            ds.update_tags(**(tags or {}))
        with mem.open() as src:
            rasterio.shutil.copy(
                src, tmp, driver="COG", compress="DEFLATE", predictor=3, blocksize=blocksize,
                overview_resampling="average", resampling="average", bigtiff="IF_SAFER",
            )
    os.replace(tmp, path)
    return path


def ps_grid_velocity_cog(result: PsiResult | str | Path, path: str | Path, cell_m: float | None = None) -> Asset:
    """Mean velocity (m/yr) on the PS grid (one radar cell on the ground) as a COG."""
    res = result if isinstance(result, PsiResult) else load_result(result)
    epsg, e, n, v = _to_utm(res)
    cell = cell_m or ps_grid_spacing(res)
    span = (e.max() - e.min() + cell) * (n.max() - n.min() + cell)
    coarsened = ""
    if span / cell**2 > MAX_CELLS:
        new = math.sqrt(span / MAX_CELLS)
        coarsened = f"cell enlarged from {cell:.2f} m to {new:.2f} m to stay under {MAX_CELLS} cells"
        cell = new
    mean, cnt, _, corner = grid_points(e, n, v / 1000.0, cell)
    tags = {"product": "mean LOS velocity on the PS grid", "los_sign": "positive toward the satellite",
            "velocity_type": str(res.metadata.get("conventions", {}).get("velocity_type", "")),
            "cell_m": f"{cell:.4f}", "n_ps": str(len(v)), "n_cells_with_several_ps": str(int((cnt > 1).sum())),
            "product_version": str(res.product_version or "")}
    if coarsened:
        tags["note"] = coarsened
    write_cog(path, [mean], epsg, corner, cell, ["mean LOS velocity"], ["m/year"], tags)
    return _cog_asset("mean_velocity", Path(path), "Mean LOS velocity (PS grid)",
                      f"Mean LOS velocity in m/yr (positive toward the satellite), {cell:.2f} m cells of the PS "
                      f"grid, EPSG:{epsg}", epsg, mean.shape, corner, cell, ["mean LOS velocity"], ["m/year"])


def resampled_velocity_cog(result: PsiResult | str | Path, path: str | Path, cell_m: float = 100.0) -> Asset:
    """Mean, count and std of the PS velocities on a ``cell_m`` grid (default 100 m) as a COG."""
    res = result if isinstance(result, PsiResult) else load_result(result)
    epsg, e, n, v = _to_utm(res)
    mean, cnt, std, corner = grid_points(e, n, v / 1000.0, cell_m, align=True)
    cnt = np.where(cnt > 0, cnt, np.nan).astype(np.float32)
    desc = ["mean LOS velocity", "number of PS", "standard deviation of the PS velocities"]
    units = ["m/year", "count", "m/year"]
    tags = {"product": f"mean LOS velocity resampled to {cell_m:g} m", "los_sign": "positive toward the satellite",
            "cell_m": f"{cell_m:g}", "n_ps": str(len(v)), "product_version": str(res.product_version or "")}
    write_cog(path, [mean, cnt, std], epsg, corner, cell_m, desc, units, tags)
    return _cog_asset(f"mean_velocity_{cell_m:g}m", Path(path), f"Mean LOS velocity ({cell_m:g} m)",
                      f"PS velocities resampled to {cell_m:g} m cells (mean, count, std; m/yr, positive toward the "
                      f"satellite), EPSG:{epsg}", epsg, mean.shape, corner, cell_m, desc, units)


def _cog_asset(key: str, path: Path, title: str, description: str, epsg: int, shape: tuple[int, int],
               corner: tuple[float, float], cell: float, desc: list[str], units: list[str]) -> Asset:
    extra = {
        "proj:code": f"EPSG:{epsg}",
        "proj:shape": [int(shape[0]), int(shape[1])],
        "proj:transform": [cell, 0.0, corner[0], 0.0, -cell, corner[1]],
        "raster:bands": [{"data_type": "float32", "nodata": "nan", "unit": u, "description": d}
                         for d, u in zip(desc, units)],
    }
    return Asset(key, path, ["data"], COG_MEDIA_TYPE, title, description, extra=extra)


def make_rasters(result_dir: str | Path | PsiResult, out_dir: str | Path | None = None) -> list[Asset]:
    """Write both velocity COGs (default: into the result directory); return them as assets."""
    res = result_dir if isinstance(result_dir, PsiResult) else load_result(result_dir)
    out = Path(out_dir) if out_dir else res.path
    out.mkdir(parents=True, exist_ok=True)
    return [ps_grid_velocity_cog(res, out / "mean_velocity.tif"),
            resampled_velocity_cog(res, out / "mean_velocity_100m.tif")]


def validate_cog(path: str | Path) -> list[str]:
    """Problems that keep ``path`` from being a valid Cloud-Optimized GeoTIFF (empty list: valid).

    Checks, as GDAL's ``validate_cloud_optimized_geotiff.py``: a TIFF whose structural-metadata
    ghost header declares ``LAYOUT=IFDS_BEFORE_DATA``, ``BLOCK_ORDER=ROW_MAJOR``; GDAL reporting
    ``LAYOUT=COG``; tiled bands; overviews when the image is larger than one tile, each half
    the size of the previous level and tiled; a georeference.
    """
    import rasterio

    problems: list[str] = []
    p = Path(path)
    head = p.read_bytes()[:4096]
    if head[:4] not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return [f"{p}: not a TIFF file"]
    if b"GDAL_STRUCTURAL_METADATA_SIZE" not in head:
        problems.append("no GDAL structural metadata (ghost header)")
    else:
        for key in (b"LAYOUT=IFDS_BEFORE_DATA", b"BLOCK_ORDER=ROW_MAJOR", b"BLOCK_LEADER=SIZE_AS_UINT4",
                    b"KNOWN_INCOMPATIBLE_EDITION=NO"):
            if key not in head:
                problems.append(f"ghost header lacks {key.decode()}")
    with rasterio.open(p) as ds:
        if ds.driver != "GTiff":
            problems.append(f"driver {ds.driver}, not GTiff")
        if ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG":
            problems.append("GDAL does not report LAYOUT=COG")
        if ds.crs is None:
            problems.append("no CRS")
        bh, bw = ds.block_shapes[0]
        if bw == ds.width and ds.width > 512 or bh == 1:
            problems.append("not tiled")
        ovr = ds.overviews(1)
        if max(ds.width, ds.height) > max(bw, bh) and not ovr:
            problems.append("no overviews although larger than one tile")
        for k, f in enumerate(ovr):
            if k and f != 2 * ovr[k - 1]:
                problems.append(f"overview factors {ovr} not successive halvings")
                break
    return problems
