"""Hillshade background for the viewer and the quicklooks, in Web Mercator (EPSG:3857).

The DEM comes from the stack (``INSAR_<master>/geo``, radar geometry, named in ``stack.json``);
when that directory is gone, from the DEM height of the PS themselves (``height - dem_error``),
which is coarse but shows the relief where there are points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .model import PsiResult, lonlat_to_mercator, read_stack_dem

__all__ = ["Hillshade", "make_hillshade", "hillshade_array"]


@dataclass
class Hillshade:
    """An RGBA hillshade image on a regular EPSG:3857 grid.

    ``rgba`` is ``(rows, cols, 4)`` uint8, row 0 at the north; ``bounds`` is ``(xmin, ymin,
    xmax, ymax)`` in metres (EPSG:3857); ``source`` says where the heights came from.
    """

    rgba: NDArray[np.uint8]
    bounds: tuple[float, float, float, float]
    source: str


def hillshade_array(z: NDArray[np.float64], dx: float, dy: float, azimuth_deg: float = 315.0,
                    altitude_deg: float = 45.0) -> NDArray[np.float64]:
    """Lambertian hillshade in [0, 1] of a north-up height grid with cell sizes ``dx``, ``dy`` (m)."""
    gy, gx = np.gradient(z, dy, dx)
    slope = np.pi / 2.0 - np.arctan(np.hypot(gx, gy))
    aspect = np.arctan2(-gx, gy)  # rows go south: gy is -dz/dnorth
    az = np.radians(360.0 - azimuth_deg + 90.0)
    alt = np.radians(altitude_deg)
    shade = np.sin(alt) * np.sin(slope) + np.cos(alt) * np.cos(slope) * np.cos(az - aspect)
    return np.clip(shade, 0.0, 1.0)


def make_hillshade(result: PsiResult, max_px: int = 1024, pad: float = 0.05) -> Hillshade | None:
    """Grid the stack's DEM (or the PS DEM heights) in EPSG:3857 and shade it.

    The grid covers the PS extent plus ``pad`` of its size; its longer side has ``max_px``
    cells at most.  Cells farther than 3 cells from any height sample are transparent.
    Returns ``None`` when there are no heights at all.  The result is kept in ``result.cache``
    (per ``max_px`` and ``pad``), and the stack DEM read once for all sizes: the quicklooks and
    the viewer of one result share them.  Callers must not modify the returned image.
    """
    key = ("hillshade", int(max_px), float(pad))
    if key not in result.cache:
        result.cache[key] = _make_hillshade(result, max_px, pad)
    return result.cache[key]


def _stack_dem(result: PsiResult) -> tuple[NDArray, NDArray, NDArray] | None:
    if "stack_dem" not in result.cache:
        result.cache["stack_dem"] = read_stack_dem(result)
    return result.cache["stack_dem"]


def _make_hillshade(result: PsiResult, max_px: int, pad: float) -> Hillshade | None:
    from scipy import ndimage

    dem = _stack_dem(result)
    if dem is not None:
        lon, lat, h = dem
        source = "stack DEM (INSAR geo/*_dem.rdc)"
    else:
        h = result.column("height") - np.nan_to_num(result.column("dem_error"))
        lon, lat = result.column("longitude"), result.column("latitude")
        ok = np.isfinite(h) & np.isfinite(lon) & np.isfinite(lat)
        lon, lat, h = lon[ok], lat[ok], h[ok]
        source = "DEM height of the PS (stack DEM not available)"
    if len(h) < 3:
        return None
    px, py = lonlat_to_mercator(result.column("longitude"), result.column("latitude"))
    x, y = lonlat_to_mercator(lon, lat)
    if not (np.isfinite(px).any()):
        px, py = x, y
    x0, x1 = float(np.nanmin(px)), float(np.nanmax(px))
    y0, y1 = float(np.nanmin(py)), float(np.nanmax(py))
    span = max(x1 - x0, y1 - y0, 200.0)
    x0 -= pad * span; x1 += pad * span; y0 -= pad * span; y1 += pad * span
    cell = max(x1 - x0, y1 - y0) / max_px
    # no finer than ~1/2 of the mean sample spacing, so that the grid is mostly filled
    sel = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    if sel.sum() < 3:
        return None
    x, y, h = x[sel], y[sel], h[sel]
    cell = max(cell, 0.5 * np.sqrt((x1 - x0) * (y1 - y0) / len(h)))
    nx = max(2, int(np.ceil((x1 - x0) / cell)))
    ny = max(2, int(np.ceil((y1 - y0) / cell)))
    ix = np.clip(((x - x0) / cell).astype(np.int64), 0, nx - 1)
    iy = np.clip(((y1 - y) / cell).astype(np.int64), 0, ny - 1)
    flat = iy * nx + ix
    s = np.bincount(flat, weights=h, minlength=nx * ny)
    c = np.bincount(flat, minlength=nx * ny)
    empty = (c == 0).reshape(ny, nx)
    z = np.where(c > 0, s / np.maximum(c, 1), 0.0).reshape(ny, nx)
    dist, (ii, jj) = ndimage.distance_transform_edt(empty, return_indices=True)
    z = z[ii, jj]
    z = ndimage.gaussian_filter(z, 1.0)
    lat_c = np.degrees(2 * np.arctan(np.exp(0.5 * (y0 + y1) / 6378137.0)) - np.pi / 2)
    ground = cell * np.cos(np.radians(lat_c))
    shade = hillshade_array(z, ground, ground)
    grey = (90 + 140 * shade).astype(np.uint8)
    alpha = np.where(dist <= 3, 255, 0).astype(np.uint8)
    rgba = np.dstack([grey, grey, grey, alpha])
    return Hillshade(rgba=rgba, bounds=(float(x0), float(y1 - ny * cell), float(x0 + nx * cell), float(y1)), source=source)
