"""Geometry columns of the EGMS point product: LOS unit vector, ETRS89-LAEA coordinates, ellipsoidal height.

Pure functions over per-PS arrays (angles in radians or degrees as named; lengths in m).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["los_unit_vector", "laea_europe", "ellipsoidal_height"]


def los_unit_vector(*, inc: NDArray[Any], heading_deg: float) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """East, north and up components of the unit vector from the ground to the satellite.

    Right-looking SAR: the satellite is to the left of the ground point, seen along the
    heading, i.e. the vector's horizontal part points to azimuth ``heading - 90 deg``;
    ``inc`` (rad) is the local incidence angle from the vertical.
    """
    inc = np.asarray(inc, dtype=np.float64)
    az = np.radians(heading_deg - 90.0)
    s = np.sin(inc)
    return s * np.sin(az), s * np.cos(az), np.cos(inc)


def laea_europe(*, lon: NDArray[Any], lat: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """Easting and northing (m) in ETRS89-LAEA (EPSG:3035) of WGS84 lon/lat (deg)."""
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", "EPSG:3035", always_xy=True)
    e, n = t.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.asarray(e, dtype=np.float64), np.asarray(n, dtype=np.float64)


def ellipsoidal_height(*, lon: NDArray[Any], lat: NDArray[Any], height: NDArray[Any]) -> tuple[NDArray[Any], str]:
    """WGS84 ellipsoidal height (m) of orthometric (EGM96) ``height``, and a note saying how.

    Needs PROJ's EGM96 geoid grid (``us_nga_egm96_15.tif`` from PROJ-data, or any PROJ data
    directory holding it); without it the heights come back NaN and the note says why (a
    geoid offset of up to ~100 m must not be guessed).
    """
    from pyproj import Transformer
    from pyproj.exceptions import ProjError

    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    h = np.asarray(height, dtype=np.float64)
    try:
        t = Transformer.from_crs("EPSG:4326+5773", "EPSG:4979", always_xy=True, only_best=True)
        _, _, hh = t.transform(lon, lat, h, errcheck=True)
        hh = np.asarray(hh, dtype=np.float64)
        if np.all(np.isfinite(hh)) and not np.allclose(hh, h):
            return hh, "DEM height (EGM96) + EGM96 geoid undulation from PROJ's grid"
    except (ProjError, ValueError) as exc:  # grid missing: PROJ refuses with only_best
        return np.full(h.shape, np.nan), f"not computed: PROJ has no EGM96 geoid grid ({str(exc).splitlines()[0][:120]})"
    return np.full(h.shape, np.nan), "not computed: PROJ has no EGM96 geoid grid (us_nga_egm96_15.tif)"
