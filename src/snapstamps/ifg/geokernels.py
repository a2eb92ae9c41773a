"""Compiled (numba) kernels of the radar geometry: orbit evaluation, rdr2geo, geo2rdr, and the
per-pixel interpolation of :func:`snapstamps.ifg.geocoding.grid_geometry`.

The formulas are those of :mod:`snapstamps.ifg.geocoding` (whose numpy functions stay the
reference), evaluated point by point without temporaries:

* the orbit is the local Hermite interpolator of :class:`snapstamps.ifg.orbits.OrbitInterpolator`,
  passed as its table (``OrbitInterpolator.table()``: the state-vector times and the polynomial
  of every window in one array, and the window size), evaluated by Horner's rule;
* ``rdr2geo`` / ``geo2rdr`` per point: Newton on the look angle (on the ellipsoid grown by the
  height, corrected for the geodetic height) and on the zero-Doppler time, with the same
  iteration counts and stopping thresholds as the numpy versions;
* ``grid_pixels``: per pixel, bilinear interpolation in (line, sample) of coarse-node fields
  given at a few height levels, Lagrange interpolation in height, the pixel's height found by
  fixed-point iteration on the DEM (sampled bilinearly here, like ``scipy.ndimage.map_coordinates``
  with ``order=1, mode="constant", cval=nan``; plus the EGM96 undulation when the DEM heights are
  geoid heights).

Every function takes keyword-free positional arrays (numba); the Python-facing wrappers are in
:mod:`snapstamps.ifg.geocoding`.  Compiled once and cached on disk (``cache=True``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .jit import njit

WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)

OrbitTable = tuple[Any, int]  # OrbitInterpolator.table(): (table, window size)


# --------------------------------------------------------------------------- orbit


@njit(inline="always")
def _window(t: float, tab: Any, nn: int) -> int:
    # interval [t_i, t_i+1) -> first node i - n/2 + 1, clipped (OrbitInterpolator._starts)
    nk = tab.shape[0]
    lo, hi = 0, nk
    while lo < hi:
        mid = (lo + hi) // 2
        if tab[mid, 0] <= t:
            lo = mid + 1
        else:
            hi = mid
    s = lo - 1 - (nn // 2 - 1)
    if s > nk - nn:
        s = nk - nn
    if s < 0:
        s = 0
    return s


@njit()
def orbit_state(t: float, orb: OrbitTable, nder: int) -> tuple[float, float, float, float, float, float, float, float, float]:
    """Position, velocity and (``nder >= 2``) acceleration at time ``t``: nine floats."""
    tab, nn = orb
    s = _window(t, tab, nn)
    sc = tab[s, 2]
    x = (t - tab[s, 1]) / sc
    deg = (tab.shape[1] - 6) // 3 - 1
    px = py = pz = 0.0
    for k in range(deg, -1, -1):
        px = px * x + tab[s, 6 + 3 * k]
        py = py * x + tab[s, 7 + 3 * k]
        pz = pz * x + tab[s, 8 + 3 * k]
    vx = vy = vz = 0.0
    for k in range(deg, 0, -1):
        vx = vx * x + k * tab[s, 6 + 3 * k]
        vy = vy * x + k * tab[s, 7 + 3 * k]
        vz = vz * x + k * tab[s, 8 + 3 * k]
    ax = ay = az = 0.0
    if nder >= 2:
        for k in range(deg, 1, -1):
            f = k * (k - 1)
            ax = ax * x + f * tab[s, 6 + 3 * k]
            ay = ay * x + f * tab[s, 7 + 3 * k]
            az = az * x + f * tab[s, 8 + 3 * k]
        s2 = sc * sc
        ax, ay, az = ax / s2, ay / s2, az / s2
    return px + tab[s, 3], py + tab[s, 4], pz + tab[s, 5], vx / sc, vy / sc, vz / sc, ax, ay, az


@njit()
def orbit_evaluate(t: Any, orb: OrbitTable, nder: int) -> Any:
    """(n, 9) positions, velocities, accelerations at the times ``t`` (n,)."""
    out = np.empty((t.size, 9))
    for i in range(t.size):
        st = orbit_state(t[i], orb, nder)
        for k in range(9):
            out[i, k] = st[k]
    return out


# --------------------------------------------------------------------------- points


@njit(inline="always")
def _geodetic(x: float, y: float, z: float) -> tuple[float, float, float]:
    # ecef_to_geodetic: lon, lat (rad), h; 5 iterations then a final height
    lon = math.atan2(y, x)
    rho = math.hypot(x, y)
    lat = math.atan2(z, rho * (1.0 - WGS84_E2))
    for _ in range(5):
        s = math.sin(lat)
        n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * s * s)
        h = rho / math.cos(lat) - n
        lat = math.atan2(z, rho * (1.0 - WGS84_E2 * n / (n + h)))
    s = math.sin(lat)
    n = WGS84_A / math.sqrt(1.0 - WGS84_E2 * s * s)
    return lon, lat, rho / math.cos(lat) - n


@njit()
def rdr2geo_point(t: float, r: float, h: float, orb: OrbitTable, beta0: float) -> tuple[float, float, float, float, float, float]:
    """ECEF point at zero-Doppler time ``t``, slant range ``r``, ellipsoidal height ``h`` (right-looking),
    its look angle and its geodetic lon, lat (rad); ``beta0`` the first guess of the look angle (rad)."""
    sx, sy, sz, vx, vy, vz, _, _, _ = orbit_state(t, orb, 1)
    vn = math.sqrt(vx * vx + vy * vy + vz * vz)
    vx, vy, vz = vx / vn, vy / vn, vz / vn
    sn = math.sqrt(sx * sx + sy * sy + sz * sz)
    dx, dy, dz = -sx / sn, -sy / sn, -sz / sn
    dv = dx * vx + dy * vy + dz * vz
    ux, uy, uz = dx - dv * vx, dy - dv * vy, dz - dv * vz
    un = math.sqrt(ux * ux + uy * uy + uz * uz)
    ux, uy, uz = ux / un, uy / un, uz / un
    wx, wy, wz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx  # u1 x vh: right of the track
    h_eff = h
    beta = beta0
    px = py = pz = 0.0
    lon = lat = 0.0
    for _ in range(3):
        a2 = (WGS84_A + h_eff) ** 2
        b2 = (WGS84_B + h_eff) ** 2
        for _ in range(12):
            cb, sb = math.cos(beta), math.sin(beta)
            px = sx + r * (cb * ux + sb * wx)
            py = sy + r * (cb * uy + sb * wy)
            pz = sz + r * (cb * uz + sb * wz)
            qx = r * (-sb * ux + cb * wx)
            qy = r * (-sb * uy + cb * wy)
            qz = r * (-sb * uz + cb * wz)
            f = (px * px + py * py) / a2 + pz * pz / b2 - 1.0
            fp = 2 * (px * qx + py * qy) / a2 + 2 * pz * qz / b2
            step = f / fp
            beta = beta - step
            if abs(step) < 1e-13:
                break
        cb, sb = math.cos(beta), math.sin(beta)
        px = sx + r * (cb * ux + sb * wx)
        py = sy + r * (cb * uy + sb * wy)
        pz = sz + r * (cb * uz + sb * wz)
        lon, lat, hh = _geodetic(px, py, pz)
        h_eff = h_eff + (h - hh)
    return px, py, pz, beta, lon, lat


@njit()
def geo2rdr_point(px: float, py: float, pz: float, t: float, orb: OrbitTable, iterations: int) -> tuple[float, float]:
    """Zero-Doppler time and slant range of an ECEF point (Newton from ``t``)."""
    for _ in range(iterations):
        sx, sy, sz, vx, vy, vz, ax, ay, az = orbit_state(t, orb, 2)
        dx, dy, dz = px - sx, py - sy, pz - sz
        f = dx * vx + dy * vy + dz * vz
        fp = -(vx * vx + vy * vy + vz * vz) + (dx * ax + dy * ay + dz * az)
        dt = f / fp
        t = t - dt
        if abs(dt) < 1e-10:
            break
    sx, sy, sz, _, _, _, _, _, _ = orbit_state(t, orb, 0)
    return t, math.sqrt((px - sx) ** 2 + (py - sy) ** 2 + (pz - sz) ** 2)


@njit()
def rdr2geo_many(t: Any, r: Any, h: Any, orb: OrbitTable) -> tuple[Any, Any, Any]:
    """ECEF points (n, 3) and their lon, lat (deg) at times ``t``, ranges ``r``, heights ``h`` (n,)."""
    n = t.size
    p = np.empty((n, 3))
    lon = np.empty(n)
    lat = np.empty(n)
    beta = math.radians(35.0)
    for i in range(n):
        x, y, z, b, lo, la = rdr2geo_point(t[i], r[i], h[i], orb, beta)
        if math.isfinite(b):
            beta = b  # the next point's first guess: neighbours in a grid have close look angles
        p[i, 0], p[i, 1], p[i, 2] = x, y, z
        lon[i] = math.degrees(lo)
        lat[i] = math.degrees(la)
    return p, lon, lat


@njit()
def geo2rdr_many(p: Any, t_guess: Any, orb: OrbitTable, iterations: int) -> tuple[Any, Any]:
    """Zero-Doppler times and slant ranges of ECEF points (n, 3)."""
    n = p.shape[0]
    t = np.empty(n)
    r = np.empty(n)
    for i in range(n):
        t[i], r[i] = geo2rdr_point(p[i, 0], p[i, 1], p[i, 2], t_guess[i], orb, iterations)
    return t, r


# --------------------------------------------------------------------------- DEM sampling


@njit(inline="always")
def _bilinear_constant(a: Any, row: float, col: float) -> float:
    # scipy.ndimage.map_coordinates(order=1, mode="constant", cval=nan): NaN outside [0, n-1]
    ny, nx = a.shape
    if not (row >= 0.0 and row <= ny - 1 and col >= 0.0 and col <= nx - 1):
        return np.nan
    i0 = min(int(row), ny - 2)  # row, col >= 0 here: truncation is the floor
    j0 = min(int(col), nx - 2)
    fr = row - i0
    fc = col - j0
    return (1.0 - fr) * ((1.0 - fc) * a[i0, j0] + fc * a[i0, j0 + 1]) + fr * ((1.0 - fc) * a[i0 + 1, j0] + fc * a[i0 + 1, j0 + 1])


@njit(inline="always")
def _bilinear_nearest(a: Any, row: float, col: float) -> float:
    # map_coordinates(order=1, mode="nearest"): coordinates clipped to the grid
    ny, nx = a.shape
    row = min(max(row, 0.0), ny - 1.0)
    col = min(max(col, 0.0), nx - 1.0)
    i0 = min(int(row), ny - 2)
    j0 = min(int(col), nx - 2)
    fr = row - i0
    fc = col - j0
    return (1.0 - fr) * ((1.0 - fc) * a[i0, j0] + fc * a[i0, j0 + 1]) + fr * ((1.0 - fc) * a[i0 + 1, j0] + fc * a[i0 + 1, j0 + 1])


@njit()
def dem_heights(lon: Any, lat: Any, dem: Any, aff: Any, geoid: Any, gaff: Any, use_geoid: bool) -> Any:
    """Heights of a geographic DEM at (lon, lat) deg (flat arrays); ``aff`` the inverse affine
    (col, row) of its array, ``geoid``/``gaff`` the EGM96 grid added when ``use_geoid``.

    (The DEM is sampled inline here and in :func:`grid_pixels`: a helper taking the arrays would
    cost more than the sampling, numba passing every array argument with reference counting.)
    """
    out = np.empty(lon.size)
    c0, c1, c2, r0, r1, r2 = aff[0], aff[1], aff[2] - 0.5, aff[3], aff[4], aff[5] - 0.5
    gc0, gc1, gc2, gr0, gr1, gr2, gw = gaff[0], gaff[1], gaff[2] - 0.5, gaff[3], gaff[4], gaff[5] - 0.5, gaff[6]
    for i in range(lon.size):
        lo, la = lon[i], lat[i]
        h = _bilinear_constant(dem, r0 * lo + r1 * la + r2, c0 * lo + c1 * la + c2)
        if use_geoid:
            x = (lo - gw) % 360.0 + gw
            h += _bilinear_nearest(geoid, gr0 * x + gr1 * la + gr2, gc0 * x + gc1 * la + gc2)
        out[i] = h
    return out


# --------------------------------------------------------------------------- per-pixel interpolation


@njit(inline="always")
def _horner(co: Any, u: float) -> float:
    v = co[co.size - 1]
    for k in range(co.size - 2, -1, -1):
        v = v * u + co[k]
    return v


@njit()
def grid_pixels(
    il: Any, fl: Any, is_: Any, fs: Any, h_centre: float, h_scale: float, nodes: Any, n_geo: int, t_lines: Any, r_samples: Any,
    h_start: float, h_given: Any, dem: Any, aff: Any, geoid: Any, gaff: Any, use_geoid: bool, iterations: int, tol: float,
    out_geo: Any, out_sec: Any,
) -> None:
    """Per-pixel geometry from coarse nodes (see :func:`snapstamps.ifg.geocoding.grid_geometry`).

    ``nodes`` (Q, nlev, nl, ns): per quantity and node, the coefficients of its polynomial in
    ``u = (h - h_centre) / h_scale`` (the Lagrange polynomial through the height levels);
    quantities: lon, lat (``n_geo`` = 2; 0 if absent), then the time and range offsets
    (secondary minus reference) of each secondary.  ``il``/``fl`` (L,) and ``is_``/``fs`` (W,):
    node index and fraction of each line and sample.  The height: ``h_given`` (L, W) when it
    has that shape, else per pixel the fixed point of ``h -> DEM(lon(h), lat(h))`` from
    ``h_start`` (at most ``iterations`` steps; a pixel stops when its height moves by ``tol`` m
    or less; a NaN DEM keeps the previous height).
    Writes ``out_geo`` (3, L, W): lon, lat, height (skipped when of size 0) and ``out_sec``
    (Q - n_geo, L, W): absolute secondary times and ranges.
    """
    L, W = il.size, is_.size
    nq, nlev, nl, ns = nodes.shape
    nl1 = nl - 1
    inv = 1.0 / h_scale
    c0, c1, c2, r0, r1, r2 = aff[0], aff[1], aff[2] - 0.5, aff[3], aff[4], aff[5] - 0.5
    gc0, gc1, gc2, gr0, gr1, gr2, gw = gaff[0], gaff[1], gaff[2] - 0.5, gaff[3], gaff[4], gaff[5] - 0.5, gaff[6]
    have_h = h_given.shape[0] == L and h_given.shape[1] == W
    write_geo = out_geo.size > 0
    # the pixels of each node interval (is_ is non-decreasing): [first[c], first[c + 1])
    first = np.searchsorted(is_, np.arange(ns + 1))
    row = np.empty((nq, nlev, ns))
    co = np.empty((nq, nlev, W))  # per pixel of the line: the polynomial coefficients
    hl = np.empty(W)
    for i in range(L):
        a = il[i]
        b = min(a + 1, nl1)
        f = fl[i]
        for q in range(nq):
            for k in range(nlev):
                for c in range(ns):
                    row[q, k, c] = nodes[q, k, a, c] * (1.0 - f) + nodes[q, k, b, c] * f
        # bilinear in sample: contiguous runs, one per node interval (vectorised by the compiler)
        for q in range(nq):
            for k in range(nlev):
                for c in range(ns):
                    v0 = row[q, k, c]
                    v1 = row[q, k, min(c + 1, ns - 1)]
                    for j in range(first[c], first[c + 1]):
                        co[q, k, j] = v0 * (1.0 - fs[j]) + v1 * fs[j]
        if have_h:
            for j in range(W):
                hl[j] = h_given[i, j]
        else:
            for j in range(W):
                h = h_start
                for _ in range(iterations):
                    u = (h - h_centre) * inv
                    lo = co[0, nlev - 1, j]
                    la = co[1, nlev - 1, j]
                    for k in range(nlev - 2, -1, -1):
                        lo = lo * u + co[0, k, j]
                        la = la * u + co[1, k, j]
                    hn = _bilinear_constant(dem, r0 * lo + r1 * la + r2, c0 * lo + c1 * la + c2)
                    if use_geoid:
                        x = (lo - gw) % 360.0 + gw
                        hn += _bilinear_nearest(geoid, gr0 * x + gr1 * la + gr2, gc0 * x + gc1 * la + gc2)
                    if not math.isfinite(hn):
                        break
                    moved = abs(hn - h)
                    h = hn
                    if moved <= tol:
                        break
                hl[j] = h
        for q in range(nq):
            if q < n_geo and not write_geo:
                continue
            for j in range(W):
                u = (hl[j] - h_centre) * inv
                v = co[q, nlev - 1, j]
                for k in range(nlev - 2, -1, -1):
                    v = v * u + co[q, k, j]
                if q < n_geo:
                    out_geo[q, i, j] = v
                elif (q - n_geo) % 2 == 0:
                    out_sec[q - n_geo, i, j] = v + t_lines[i]
                else:
                    out_sec[q - n_geo, i, j] = v + r_samples[j]
        if write_geo:
            for j in range(W):
                out_geo[2, i, j] = hl[j]
