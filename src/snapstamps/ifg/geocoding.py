"""Zero-Doppler geometry on the WGS84 ellipsoid: ECEF <-> geodetic, geo2rdr, rdr2geo, baselines.

Pure numpy kernels (vectorised over points).  ``orbit`` arguments are
:class:`snapstamps.ifg.orbits.OrbitInterpolator` objects with times in seconds since their epoch.

* ``geo2rdr``: the zero-Doppler time ``t`` of a ground point ``P`` solves
  ``f(t) = (P - S(t)) . V(t) = 0`` (Newton, ``f' = -|V|^2 + (P - S) . A``); slant range ``|P - S(t)|``.
* ``rdr2geo``: the point at zero-Doppler time ``t``, slant range ``R`` and ellipsoidal height
  ``h`` lies on the circle ``S + R (cos b u1 + sin b u2)`` of the zero-Doppler plane (``u1`` toward
  nadir, ``u2`` to the right of the track: Sentinel-1 looks right); the look angle ``b`` is found by
  Newton on the ellipsoid grown by ``h``, then corrected for the exact geodetic height.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["WGS84_A", "WGS84_B", "SPEED_OF_LIGHT", "geodetic_to_ecef", "ecef_to_geodetic", "geo2rdr", "rdr2geo", "baseline_components"]

WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
SPEED_OF_LIGHT = 299792458.0


def geodetic_to_ecef(lon: ArrayLike, lat: ArrayLike, h: ArrayLike) -> NDArray[np.float64]:
    """(lon, lat in deg, h in m above the ellipsoid) -> ECEF (..., 3) m."""
    lon = np.radians(np.asarray(lon, np.float64))
    lat = np.radians(np.asarray(lat, np.float64))
    h = np.asarray(h, np.float64)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    x = (n + h) * np.cos(lat) * np.cos(lon)
    y = (n + h) * np.cos(lat) * np.sin(lon)
    z = (n * (1.0 - WGS84_E2) + h) * np.sin(lat)
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def ecef_to_geodetic(p: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """ECEF (..., 3) -> lon, lat (deg), h (m); iterative, sub-mm after 4 iterations."""
    p = np.asarray(p, np.float64)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    lon = np.arctan2(y, x)
    rho = np.hypot(x, y)
    lat = np.arctan2(z, rho * (1.0 - WGS84_E2))
    for _ in range(5):
        n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
        h = rho / np.cos(lat) - n
        lat = np.arctan2(z, rho * (1.0 - WGS84_E2 * n / (n + h)))
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    h = rho / np.cos(lat) - n
    return np.degrees(lon), np.degrees(lat), h


def geo2rdr(points: ArrayLike, orbit: Any, t_guess: ArrayLike, iterations: int = 8) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Zero-Doppler time (s since the orbit epoch) and slant range (m) of ECEF points (..., 3)."""
    p = np.asarray(points, np.float64)
    t = np.broadcast_to(np.asarray(t_guess, np.float64), p.shape[:-1]).copy()
    for _ in range(iterations):
        s, v, a = orbit.evaluate(t, 2)
        d = p - s
        f = np.einsum("...i,...i->...", d, v)
        fp = -np.einsum("...i,...i->...", v, v) + np.einsum("...i,...i->...", d, a)
        dt = f / fp
        t = t - dt
        if np.nanmax(np.abs(dt)) < 1e-10:
            break
    s = orbit.position(t)
    return t, np.linalg.norm(p - s, axis=-1)


def rdr2geo(t: ArrayLike, r: ArrayLike, h: ArrayLike, orbit: Any, iterations: int = 3) -> NDArray[np.float64]:
    """ECEF point (..., 3) at zero-Doppler time ``t``, slant range ``r`` and ellipsoidal height ``h`` (right-looking)."""
    t, r, h = np.broadcast_arrays(np.asarray(t, np.float64), np.asarray(r, np.float64), np.asarray(h, np.float64))
    s, v = orbit.evaluate(t, 1)
    vh = v / np.linalg.norm(v, axis=-1, keepdims=True)
    down = -s / np.linalg.norm(s, axis=-1, keepdims=True)
    u1 = down - np.einsum("...i,...i->...", down, vh)[..., None] * vh
    u1 /= np.linalg.norm(u1, axis=-1, keepdims=True)
    u2 = np.cross(u1, vh)  # right of the track
    h_eff = h.copy()
    beta = np.full(t.shape, np.radians(35.0))
    for _ in range(iterations):
        a2 = (WGS84_A + h_eff) ** 2
        b2 = (WGS84_B + h_eff) ** 2
        for _ in range(12):
            cb, sb = np.cos(beta), np.sin(beta)
            p = s + r[..., None] * (cb[..., None] * u1 + sb[..., None] * u2)
            dp = r[..., None] * (-sb[..., None] * u1 + cb[..., None] * u2)
            f = (p[..., 0] ** 2 + p[..., 1] ** 2) / a2 + p[..., 2] ** 2 / b2 - 1.0
            fp = 2 * (p[..., 0] * dp[..., 0] + p[..., 1] * dp[..., 1]) / a2 + 2 * p[..., 2] * dp[..., 2] / b2
            step = f / fp
            beta = beta - step
            if np.max(np.abs(step)) < 1e-13:
                break
        cb, sb = np.cos(beta), np.sin(beta)
        p = s + r[..., None] * (cb[..., None] * u1 + sb[..., None] * u2)
        _, _, hh = ecef_to_geodetic(p)
        h_eff = h_eff + (h - hh)
    return p


def baseline_components(s_ref: ArrayLike, s_sec: ArrayLike, target: ArrayLike) -> tuple[NDArray[np.float64], ...]:
    """Baseline ``B = S_sec - S_ref`` split in the reference's zero-Doppler frame.

    Returns ``(bperp, bpar, C, N)``: ``bperp = B . e_perp`` with ``e_perp`` perpendicular to the
    reference line of sight and pointing away from the Earth (the sign for which a terrain height
    error ``dh`` adds ``-4 pi bperp dh / (lambda R sin(inc))`` to master x conj(secondary), the
    convention of :mod:`snapstamps.psi.geometry`); ``bpar = B . los`` (los from the satellite to the
    target); ``C`` horizontal (toward the look side) and ``N`` vertical (positive down), so that
    ``bperp = C cos(theta) - N sin(theta)`` with ``theta`` the look angle, as StaMPS reads ``.base``.
    """
    s_ref = np.asarray(s_ref, np.float64)
    b = np.asarray(s_sec, np.float64) - s_ref
    los = np.asarray(target, np.float64) - s_ref
    los /= np.linalg.norm(los, axis=-1, keepdims=True)
    up = s_ref / np.linalg.norm(s_ref, axis=-1, keepdims=True)
    e_perp = up - np.einsum("...i,...i->...", up, los)[..., None] * los
    e_perp /= np.linalg.norm(e_perp, axis=-1, keepdims=True)
    horiz = los - np.einsum("...i,...i->...", los, up)[..., None] * up
    horiz /= np.linalg.norm(horiz, axis=-1, keepdims=True)
    bperp = np.einsum("...i,...i->...", b, e_perp)
    bpar = np.einsum("...i,...i->...", b, los)
    C = np.einsum("...i,...i->...", b, horiz)
    N = -np.einsum("...i,...i->...", b, up)
    return bperp, bpar, C, N


def look_angle(s: ArrayLike, target: ArrayLike) -> NDArray[np.float64]:
    """Look angle (rad) at the satellite between nadir and the target."""
    s = np.asarray(s, np.float64)
    los = np.asarray(target, np.float64) - s
    c = -np.einsum("...i,...i->...", los, s) / (np.linalg.norm(los, axis=-1) * np.linalg.norm(s, axis=-1))
    return np.arccos(np.clip(c, -1, 1))


def heading_deg(velocity: ArrayLike, lon: float, lat: float) -> float:
    """Platform heading (deg clockwise from north) of an ECEF velocity at (lon, lat)."""
    lo, la = np.radians(lon), np.radians(lat)
    east = np.array([-np.sin(lo), np.cos(lo), 0.0])
    north = np.array([-np.sin(la) * np.cos(lo), -np.sin(la) * np.sin(lo), np.cos(la)])
    v = np.asarray(velocity, np.float64)
    return float(np.degrees(np.arctan2(v @ east, v @ north)))


def earth_radius_at(lat_deg: float) -> float:
    """Geocentric radius (m) of the ellipsoid at a geodetic latitude."""
    p = geodetic_to_ecef(0.0, lat_deg, 0.0)
    return float(np.linalg.norm(p))


# --------------------------------------------------------------------------- per-pixel geometry of a radar grid


def _bilinear_setup(n: int, step: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    pos = np.arange(n) / step
    i0 = np.maximum(np.minimum(np.floor(pos).astype(np.int64), int(np.ceil((n - 1) / step)) - 1), 0)  # one node: index 0, fraction 0
    return i0, pos - i0


def _node_index(n: int, step: int) -> NDArray[np.floating[Any]]:
    m = int(np.ceil((n - 1) / step)) + 1
    return np.arange(m) * float(step)


def grid_geometry(
    t_lines: NDArray[Any], r_samples: NDArray[Any], ref_orbit: Any, dem_height: Callable[[Any, Any], NDArray[Any]],
    sec_orbits: Sequence[Any] = (), t_guess_sec: Sequence[float] = (), step: int = 32, h_levels: int = 3, iterations: int = 4,
    *, geocode: bool = True, geo_dtype: Any = np.float64, tol: float = 1e-6,
) -> dict[str, Any]:
    """DEM-aware geometry of every pixel of a reference radar grid.

    ``t_lines`` (L,) zero-Doppler times and ``r_samples`` (W,) slant ranges of the reference grid;
    ``dem_height(lon, lat)`` gives ellipsoidal heights; ``sec_orbits`` the secondaries' orbit
    interpolators (``t_guess_sec``: a time offset guess of each, s).  The mapping is computed
    exactly (rdr2geo, geo2rdr) on coarse nodes every ``step`` lines/samples at ``h_levels``
    heights spanning the DEM, then per pixel: bilinear in (line, sample), Lagrange in height, with
    the pixel's height found by fixed-point iteration on the DEM (at most ``iterations`` steps
    from the mean node height; a pixel stops when its height moves by ``tol`` m or less).
    Returns ``lon``, ``lat``, ``hgt`` (L, W) of ``geo_dtype`` (None with ``geocode=False``) and
    ``t_sec``, ``r_sec`` lists of (L, W) (float64).

    Compiled kernels (:mod:`snapstamps.ifg.geokernels`) do the work point by point; when
    ``dem_height`` is the ``height`` method of a geographic :class:`snapstamps.ifg.dem.Dem`, the
    DEM is sampled inside them too (one pass over the pixels); any other callable is called once
    per iteration on the whole grid.
    """
    from . import geokernels as K
    from .dem import Dem

    t_lines = np.ascontiguousarray(t_lines, np.float64)
    r_samples = np.ascontiguousarray(r_samples, np.float64)
    L, W = t_lines.size, r_samples.size
    li = _node_index(L, step)
    si = _node_index(W, step)
    tn = t_lines[0] + li * ((t_lines[-1] - t_lines[0]) / max(L - 1, 1))
    rn = r_samples[0] + si * ((r_samples[-1] - r_samples[0]) / max(W - 1, 1))
    nl, ns = li.size, si.size
    T = np.repeat(tn, ns)
    R = np.tile(rn, nl)
    orb = ref_orbit.table()
    # height span from the DEM under the coarse nodes at h=0
    _, lo0, la0 = K.rdr2geo_many(T, R, np.zeros_like(T), orb)
    h0 = np.asarray(dem_height(lo0, la0), np.float64)
    if not np.isfinite(h0).any():
        raise ValueError("the DEM has no valid height under the grid")
    hmin, hmax = float(np.nanmin(h0)) - 100.0, float(np.nanmax(h0)) + 200.0
    levels = np.linspace(hmin, hmax, h_levels)
    nq = 2 + 2 * len(sec_orbits)
    values = np.empty((h_levels, nq, nl, ns))  # lon, lat, then (time, range) offsets of each secondary
    sec_tables = [o.table() for o in sec_orbits]
    for j, h in enumerate(levels):
        p, lo, la = K.rdr2geo_many(T, R, np.full_like(T, h), orb)
        values[j, 0] = lo.reshape(nl, ns)
        values[j, 1] = la.reshape(nl, ns)
        for k, tab in enumerate(sec_tables):
            g = T + (t_guess_sec[k] if len(t_guess_sec) else 0.0)
            ts, rs = K.geo2rdr_many(p, g, tab, 8)
            values[j, 2 + 2 * k] = (ts - T).reshape(nl, ns)  # store offsets: smoother
            values[j, 3 + 2 * k] = (rs - R).reshape(nl, ns)
    # the Lagrange polynomial through the levels, as coefficients in u = (h - h_c) / h_s
    h_c, h_s = (hmin + hmax) / 2.0, max((hmax - hmin) / 2.0, 1.0)
    u = (levels - h_c) / h_s
    coef = np.linalg.inv(u[:, None] ** np.arange(h_levels)[None, :])
    nodes = np.ascontiguousarray(np.einsum("mk,kqab->qmab", coef, values))
    del values
    il, fl = _bilinear_setup(L, step)
    is_, fs = _bilinear_setup(W, step)
    h_start = float(np.nanmean(h0))
    out_geo = np.empty((3, L, W) if geocode else (0, 0, 0), dtype=geo_dtype)
    out_sec = np.empty((nq - 2, L, W))
    owner = getattr(dem_height, "__self__", None)
    fast = owner.kernel_args() if isinstance(owner, Dem) and getattr(dem_height, "__func__", None) is Dem.height else None
    pixels: Any = K.grid_pixels  # (a numba dispatcher: typed as Any for the star-arguments)
    if fast is not None:
        pixels(il, fl, is_, fs, h_c, h_s, nodes, 2, t_lines, r_samples, h_start, np.empty((0, 0)), *fast,
                      int(iterations), float(tol), out_geo, out_sec)
    else:
        no_dem: tuple[Any, ...] = (np.zeros((2, 2)), np.zeros(6), np.zeros((2, 2)), np.zeros(7), False)
        h = np.full((L, W), h_start)
        geo_i = np.empty((3, L, W))
        for _ in range(iterations):
            pixels(il, fl, is_, fs, h_c, h_s, nodes[:2], 2, t_lines, r_samples, h_start, h, *no_dem, 0, 0.0, geo_i, out_sec[:0])
            hn = np.asarray(dem_height(geo_i[0], geo_i[1]), np.float64)
            h = np.where(np.isfinite(hn), hn, h)
        del geo_i
        pixels(il, fl, is_, fs, h_c, h_s, nodes, 2, t_lines, r_samples, h_start, h, *no_dem, 0, 0.0, out_geo, out_sec)
    return {
        "lon": out_geo[0] if geocode else None, "lat": out_geo[1] if geocode else None, "hgt": out_geo[2] if geocode else None,
        "t_sec": [out_sec[2 * k] for k in range(len(sec_orbits))], "r_sec": [out_sec[2 * k + 1] for k in range(len(sec_orbits))],
    }
