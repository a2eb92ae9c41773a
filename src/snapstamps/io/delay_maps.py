"""Per-date delay rasters (GACOS ``.ztd`` GeoTIFFs, weather-model delays) sampled at the PS."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..errors import ParameterError

__all__ = ["find_delay_maps", "sample_delay_maps"]

_DATE = re.compile(r"(?<!\d)(\d{8})(?!\d)")


def find_delay_maps(folder: Path, dates: list[dt.date]) -> list[Path]:
    """One GeoTIFF per date in ``folder``: the ``*.tif``/``*.tiff`` whose name holds ``YYYYMMDD``.

    Raises :class:`ParameterError` naming the first date without a map, or a date with several.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ParameterError(f"tropo_delay_dir {str(folder)!r} is not a folder")
    by_date: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in {".tif", ".tiff"}:
            mt = _DATE.search(p.name)
            if mt:
                by_date.setdefault(mt.group(1), []).append(p)
    out = []
    for d in dates:
        key = d.strftime("%Y%m%d")
        found = by_date.get(key, [])
        if not found:
            raise ParameterError(f"tropo_delay_dir {str(folder)!r} has no delay GeoTIFF for {d.isoformat()} (name with {key})")
        if len(found) > 1:
            raise ParameterError(f"tropo_delay_dir has several GeoTIFFs for {d.isoformat()}: {[p.name for p in found]}")
        out.append(found[0])
    return out


def sample_delay_maps(paths: list[Path], lonlat: NDArray) -> NDArray[np.float64]:
    """Delays (M, N) in the rasters' unit (m for GACOS) at the PS lon/lat, bilinear.

    The rasters must be in EPSG:4326 (as GACOS delivers them); a PS outside a raster is an error.
    """
    import rasterio

    lonlat = np.asarray(lonlat, dtype=np.float64)
    out = np.empty((len(paths), lonlat.shape[0]))
    for k, p in enumerate(paths):
        with rasterio.open(p) as ds:
            if ds.crs is not None and ds.crs.to_epsg() not in (4326, None):
                raise ParameterError(f"{p.name}: delay map CRS {ds.crs} is not EPSG:4326")
            data = ds.read(1, masked=True).filled(np.nan).astype(np.float64)
            inv = ~ds.transform
            col, row = inv * (lonlat[:, 0], lonlat[:, 1])
        col, row = np.asarray(col) - 0.5, np.asarray(row) - 0.5  # pixel centres
        if (col < -0.5).any() or (row < -0.5).any() or (col > data.shape[1] - 0.5).any() or (row > data.shape[0] - 0.5).any():
            raise ParameterError(f"{p.name}: the delay map does not cover every PS")
        v = ndimage.map_coordinates(data, [row, col], order=1, mode="nearest")
        if not np.all(np.isfinite(v)):
            raise ParameterError(f"{p.name}: the delay map has no data at some PS")
        out[k] = v
    return out
