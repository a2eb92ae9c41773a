"""DEM input: a GeoTIFF in any CRS, sampled at lon/lat, heights above the WGS84 ellipsoid.

* Horizontal CRS: any that pyproj knows; lon/lat are transformed into it and the DEM is sampled
  bilinearly (no-data and NaN propagate as NaN).
* Vertical datum: when the CRS is compound with an EGM96 or EGM2008 geoid (e.g. EPSG:9707
  "WGS 84 + EGM96 height", EPSG:9518 "WGS 84 + EGM2008 height"), or ``geoid="egm96"`` is forced,
  the geoid undulation ``N`` is added: ``h = H + N``.  The EGM96 15' grid comes offline from the
  ``dem-stitcher`` wheel (``dem_stitcher/data/egm96_15.gtx``); for EGM2008 DEMs that grid is used
  too (EGM2008 - EGM96 differences are below ~1 m almost everywhere; a warning says so).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..errors import InputError

__all__ = ["Dem", "open_dem", "geoid_undulation"]

log = logging.getLogger("snapstamps")


def _egm96_grid() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("dem_stitcher")  # located, not imported (its imports are heavy)
    locs = list(spec.submodule_search_locations or []) if spec else []
    p = Path(locs[0]) / "data" / "egm96_15.gtx" if locs else Path("/nonexistent")
    if not p.is_file():
        raise InputError(
            "the DEM heights are geoid-referenced but no offline geoid grid was found: install dem-stitcher "
            "(it ships egm96_15.gtx) or give a DEM with ellipsoidal heights"
        )
    return p


_GEOID_CACHE: dict[str, tuple[NDArray[np.float64], object]] = {}


def geoid_undulation(lon, lat) -> NDArray[np.float64]:
    """EGM96 geoid height N (m) above WGS84 at lon/lat (deg), bilinear on the 15' grid."""
    import rasterio

    if "egm96" not in _GEOID_CACHE:
        with rasterio.open(_egm96_grid()) as ds:
            _GEOID_CACHE["egm96"] = (ds.read(1).astype(np.float64), ds.transform)
    g, tr = _GEOID_CACHE["egm96"]
    lon = np.asarray(lon, np.float64)
    lat = np.asarray(lat, np.float64)
    col, row = ~tr * (np.mod(lon - tr.c, 360.0) + tr.c, lat)  # type: ignore[operator]
    col = np.asarray(col) - 0.5
    row = np.asarray(row) - 0.5
    return ndimage.map_coordinates(g, [row.ravel(), col.ravel()], order=1, mode="nearest").reshape(lon.shape)


@dataclass
class Dem:
    """A DEM held in memory (cropped) with its CRS transform."""

    path: Path
    data: NDArray[np.float64]  # NaN = no data
    transform: object  # affine, of the cropped array
    crs: object
    geoid: str | None  # "egm96"/"egm2008" if heights are geoid-referenced

    def _to_rowcol(self, lon, lat) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        from pyproj import Transformer

        lon = np.asarray(lon, np.float64)
        lat = np.asarray(lat, np.float64)
        if self.crs is not None and not self.crs.is_geographic:
            tf = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
            x, y = tf.transform(lon, lat)
        else:
            x, y = lon, lat
        col, row = ~self.transform * (np.asarray(x), np.asarray(y))  # type: ignore[operator]
        return np.asarray(row) - 0.5, np.asarray(col) - 0.5

    def height(self, lon, lat) -> NDArray[np.float64]:
        """Ellipsoidal height (m) at lon/lat (deg), bilinear; NaN outside or on no-data."""
        lon = np.asarray(lon, np.float64)
        row, col = self._to_rowcol(lon, lat)
        h = ndimage.map_coordinates(self.data, [row.ravel(), col.ravel()], order=1, mode="constant", cval=np.nan).reshape(lon.shape)
        if self.geoid:
            h = h + geoid_undulation(lon, lat)
        return h

    def kernel_args(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], bool] | None:
        """This DEM for :func:`snapstamps.ifg.geokernels.dem_height`, or None for a projected CRS.

        ``(data, inverse affine (6,), geoid grid, geoid inverse affine and west edge (7,), geoid?)``.
        """
        if self.crs is not None and not self.crs.is_geographic:
            return None
        inv = ~self.transform  # type: ignore[operator]
        aff = np.array([inv.a, inv.b, inv.c, inv.d, inv.e, inv.f], np.float64)
        if self.geoid:
            geoid_undulation(0.0, 0.0)  # loads the grid
            g, tr = _GEOID_CACHE["egm96"]
            gi = ~tr  # type: ignore[operator]
            gaff = np.array([gi.a, gi.b, gi.c, gi.d, gi.e, gi.f, tr.c], np.float64)  # type: ignore[attr-defined]
            return self.data, aff, g, gaff, True
        return self.data, aff, np.zeros((2, 2)), np.zeros(7), False

    def covers(self, bbox: tuple[float, float, float, float], n: int = 21) -> float:
        """Fraction of a regular n x n lon/lat sample of ``bbox`` with a valid height."""
        w, s, e, nn = bbox
        lon, lat = np.meshgrid(np.linspace(w, e, n), np.linspace(s, nn, n))
        return float(np.isfinite(self.height(lon, lat)).mean())


def _vertical_geoid(crs) -> str | None:
    if crs is None:
        return None
    try:
        subs = crs.sub_crs_list
    except Exception:  # noqa: BLE001
        subs = []
    names = " ".join(c.name for c in subs).lower() if subs else ""
    if not names and crs.is_vertical:
        names = crs.name.lower()
    if "egm2008" in names or "egm08" in names:
        return "egm2008"
    if "egm96" in names:
        return "egm96"
    if "geoid" in names or (subs and any(c.is_vertical for c in subs)):
        return "egm96"
    return None


def open_dem(path: Path, bbox: tuple[float, float, float, float] | None = None, margin_deg: float = 0.02, geoid: str = "auto", nodata: float | None = None) -> Dem:
    """Open a DEM GeoTIFF, crop it to ``bbox`` (W S E N, deg) plus a margin, decide the vertical datum.

    ``geoid``: ``"auto"`` (from the CRS), ``"egm96"``/``"egm2008"`` (heights are geoid heights) or
    ``"none"`` (already ellipsoidal).  Raises :class:`InputError` for a missing or corrupt file
    or a DEM without georeferencing.
    """
    import rasterio
    from pyproj import CRS, Transformer
    from rasterio.windows import Window, from_bounds

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: DEM file not found")
    try:
        with rasterio.open(path) as ds:
            if ds.crs is None:
                raise InputError(f"{path}: DEM has no coordinate reference system")
            crs = CRS.from_user_input(ds.crs.to_wkt())
            if bbox is not None:
                w, s, e, n = bbox[0] - margin_deg, bbox[1] - margin_deg, bbox[2] + margin_deg, bbox[3] + margin_deg
                if not crs.is_geographic:
                    tf = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
                    xs, ys = tf.transform([w, e, w, e], [s, s, n, n])
                    w, s, e, n = min(xs), min(ys), max(xs), max(ys)
                win = from_bounds(w, s, e, n, ds.transform).round_offsets().round_lengths()
                win = win.intersection(Window(0, 0, ds.width, ds.height)) if _overlaps(win, ds) else Window(0, 0, 0, 0)
            else:
                win = Window(0, 0, ds.width, ds.height)
            if win.width <= 1 or win.height <= 1:
                raise InputError(f"{path}: the DEM does not cover the area of interest {bbox}")
            a = ds.read(1, window=win).astype(np.float64)
            nd = ds.nodata if nodata is None else nodata
            tr = ds.window_transform(win)
    except InputError:
        raise
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"{path}: cannot read the DEM (corrupt or not a GeoTIFF: {exc})") from None
    except Exception as exc:  # noqa: BLE001 - GDAL raises a variety on corrupt blocks
        raise InputError(f"{path}: cannot read the DEM ({type(exc).__name__}: {exc})") from None
    if nd is not None and np.isfinite(nd):
        a[a == nd] = np.nan
    if geoid == "auto":
        gd = _vertical_geoid(crs)
    elif geoid == "none":
        gd = None
    else:
        gd = geoid
    if gd == "egm2008":
        log.warning("%s: EGM2008 heights converted with the offline EGM96 grid (differences below ~1 m)", path.name)
    if gd:
        _egm96_grid()
    horiz = crs.sub_crs_list[0] if crs.is_compound else crs
    return Dem(path, a, tr, horiz, gd)


def _overlaps(win, ds) -> bool:
    return win.col_off < ds.width and win.row_off < ds.height and win.col_off + win.width > 0 and win.row_off + win.height > 0
