"""Acquisition geometry of the PS path: angles, perpendicular baselines, local coordinates.

Pure functions; formulas as in StaMPS step 1 (spherical Earth below the sensor), restated:

* slant range of pixel ``j`` (0-based): ``r = near_range + j * range_pixel_spacing``
* look angle ``theta = arccos((Rs^2 + r^2 - Re^2) / (2 Rs r))``
* incidence ``iota = arccos((Rs^2 - Re^2 - r^2) / (2 Re r))``
* per-pixel ``bperp = (C + Cdot t) cos(theta) - (N + Ndot t) sin(theta)``, with ``t`` the time
  from the scene's middle line.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Ellipsoid constants of StaMPS' llh2local (note the non-standard eccentricity, kept for parity).
_A = 6378137.0
_E = 0.08209443794970


def slant_range(pixel: ArrayLike, near_range: float, range_pixel_spacing: float) -> NDArray[np.float64]:
    """Slant range (m) of 0-based range pixel indices."""
    return near_range + np.asarray(pixel, dtype=np.float64) * range_pixel_spacing


def look_angle(r: ArrayLike, sar_to_earth_center: float, earth_radius: float) -> NDArray[np.float64]:
    """Look angle (rad) at slant range ``r`` for a spherical Earth."""
    r = np.asarray(r, dtype=np.float64)
    rs, re = sar_to_earth_center, earth_radius
    return np.arccos(np.clip((rs**2 + r**2 - re**2) / (2 * rs * r), -1.0, 1.0))


def incidence_angle(r: ArrayLike, sar_to_earth_center: float, earth_radius: float) -> NDArray[np.float64]:
    """Incidence angle (rad) at slant range ``r`` for a spherical Earth."""
    r = np.asarray(r, dtype=np.float64)
    rs, re = sar_to_earth_center, earth_radius
    return np.arccos(np.clip((rs**2 - re**2 - r**2) / (2 * re * r), -1.0, 1.0))


def perpendicular_baseline(
    line: ArrayLike,
    theta: ArrayLike,
    baselines: NDArray[np.float64],
    azimuth_lines: int,
    prf: float,
) -> NDArray[np.float32]:
    """Per-pixel perpendicular baseline (m) of each interferogram.

    ``baselines`` is ``(K, 4)``: columns C, N, Cdot, Ndot of each ifg's ``.base`` file
    (horizontal and vertical baseline and their rates).  Returns ``(n_pixels, K)``.
    """
    line = np.asarray(line, dtype=np.float64)[:, None]
    theta = np.asarray(theta, dtype=np.float64)[:, None]
    b = np.asarray(baselines, dtype=np.float64)
    t = (line - (azimuth_lines / 2.0 - 0.5)) / prf
    bc = b[None, :, 0] + b[None, :, 2] * t
    bn = b[None, :, 1] + b[None, :, 3] * t
    return (bc * np.cos(theta) - bn * np.sin(theta)).astype(np.float32)


def dem_error_phase_per_m(r: ArrayLike, inc: ArrayLike, wavelength: float) -> NDArray[np.float64]:
    """Interferometric phase (rad) per metre of DEM error per metre of bperp.

    A DEM error ``dh`` (m, positive = terrain above the DEM) adds ``K * bperp`` to the
    phase of a master x conj(slave) interferogram, with ``K = dh * dem_error_phase_per_m``.
    The sign matches StaMPS' ``K2q`` (``q = -K lambda r sin(inc) / 4 pi``).
    """
    r = np.asarray(r, dtype=np.float64)
    inc = np.asarray(inc, dtype=np.float64)
    return -4.0 * np.pi / (wavelength * r * np.sin(inc))


def phase_to_mm(phase: ArrayLike, wavelength: float) -> NDArray[np.float64]:
    """LOS displacement in mm (positive toward the satellite) from unwrapped phase (rad)."""
    return -np.asarray(phase, dtype=np.float64) * wavelength * 1000.0 / (4.0 * np.pi)


def mm_to_phase(d_mm: ArrayLike, wavelength: float) -> NDArray[np.float64]:
    """Inverse of :func:`phase_to_mm`."""
    return -np.asarray(d_mm, dtype=np.float64) * 4.0 * np.pi / (wavelength * 1000.0)


def _meridian_arc(phi: NDArray[np.float64]) -> NDArray[np.float64]:
    e2 = _E**2
    e4, e6 = e2**2, e2**3
    return _A * (
        (1 - e2 / 4 - 3 * e4 / 64 - 5 * e6 / 256) * phi
        - (3 * e2 / 8 + 3 * e4 / 32 + 45 * e6 / 1024) * np.sin(2 * phi)
        + (15 * e4 / 256 + 45 * e6 / 1024) * np.sin(4 * phi)
        - (35 * e6 / 3072) * np.sin(6 * phi)
    )


def llh2local(lonlat: ArrayLike, origin: ArrayLike) -> NDArray[np.float64]:
    """Polyconic local coordinates (m) of lon/lat (deg) about ``origin`` (lon, lat deg).

    Returns ``(n, 2)`` x (east-like), y (north-like), as StaMPS' ``llh2local`` (times 1000).
    """
    ll = np.radians(np.asarray(lonlat, dtype=np.float64))
    o = np.radians(np.asarray(origin, dtype=np.float64))
    lon, lat = ll[:, 0], ll[:, 1]
    dlon = lon - o[0]
    m0 = _meridian_arc(np.asarray(o[1]))
    m = _meridian_arc(lat)
    out = np.empty((ll.shape[0], 2))
    nz = lat != 0
    n = _A / np.sqrt(1 - _E**2 * np.sin(lat[nz]) ** 2)
    e = dlon[nz] * np.sin(lat[nz])
    cot = 1.0 / np.tan(lat[nz])
    out[nz, 0] = n * cot * np.sin(e)
    out[nz, 1] = m[nz] - m0 + n * cot * (1 - np.cos(e))
    out[~nz, 0] = _A * dlon[~nz]
    out[~nz, 1] = -m0
    return out


def radar_frame_xy(lonlat: ArrayLike, heading_deg: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Local xy (m) of PS, rotated towards the radar frame as StaMPS step 1 does.

    Origin = midpoint of the lon/lat bounding box.  The rotation by ``180 - heading`` is
    applied when it shrinks the area of the bounding box (StaMPS rotates only if *both*
    extents shrink, which flips the frame between the candidate set and a sparser PS subset
    of the same scene; the area criterion keeps it stable).  Returns ``(xy, ll0)``; xy rounded
    to 1 mm.  Sorting is left to the caller (:func:`sort_order`).
    """
    lonlat = np.asarray(lonlat, dtype=np.float64)
    ll0 = (lonlat.min(axis=0) + lonlat.max(axis=0)) / 2.0
    xy = llh2local(lonlat, ll0)
    theta = np.radians(180.0 - heading_deg)
    theta = np.angle(np.exp(1j * theta))
    rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    xy_r = xy @ rot.T
    if xy.shape[0] > 0:
        ext = np.ptp(xy, axis=0)
        ext_r = np.ptp(xy_r, axis=0)
        if ext_r[0] * ext_r[1] < ext[0] * ext[1]:
            xy = xy_r
    return np.round(xy, 3), ll0


def sort_order(xy: NDArray[np.float64]) -> NDArray[np.int64]:
    """Indices sorting points by y, then x (StaMPS' ``sortrows(xy, [3 2])``)."""
    return np.lexsort((xy[:, 0], xy[:, 1]))
