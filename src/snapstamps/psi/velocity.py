"""Referencing, deramping, displacement series and mean LOS velocities (StaMPS ps_setref/ps_plot/ps_mean_v).

All functions are pure numpy kernels over ``(N, M)`` phase arrays (``N`` PS, ``M`` images including
the master, date-sorted).  Sign convention (see ``docs/conventions.md``): unwrapped phase
``phi = -(4 pi / lambda) d`` with ``d`` the LOS displacement toward the satellite, so displacements
(mm) and velocities (mm/yr) are **positive toward the satellite**.

Missing values (NaN) are tolerated everywhere: least-squares fits are done per pixel on the
observations that are finite, through batched normal equations (one small ``k x k`` system per
pixel built with matrix products, no Python loop over pixels).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ParameterError
from .geometry import llh2local, phase_to_mm

__all__ = [
    "VELOCITY_KINDS",
    "reference_mask",
    "reference",
    "deramp",
    "displacement_series",
    "mean_velocity",
    "mean_velocity_std",
    "velocity_map",
    "batched_wls",
]

#: velocity value types understood by :func:`velocity_map` (StaMPS ps_plot names)
VELOCITY_KINDS = ("v", "v-o", "v-d", "v-do", "v-ds", "v-dso", "v-da", "v-dao")

_DAYS_PER_YEAR = 365.25


# ----------------------------------------------------------------------------- least squares
def batched_wls(
    y: NDArray[Any], G: NDArray[Any], w: NDArray[Any] | None = None, min_obs: int | None = None
) -> NDArray[np.float64]:
    """Weighted least squares ``y[n, :] ~ G @ m[n]`` for every row ``n`` at once.

    ``y`` is ``(N, U)`` (NaN = missing), ``G`` the shared ``(U, k)`` design and ``w`` optional
    ``(U,)`` observation weights (inverse variances).  Rows without NaN share one
    pseudo-inverse (a single matrix product); rows with NaN get their own normal equations
    ``sum_u w_u g_u g_u^T m = sum_u w_u g_u y_u`` over the finite entries, solved in a batch by
    pseudo-inverse.  Rows with fewer than ``min_obs`` (default ``k``) finite entries get NaN.
    Returns ``(N, k)`` float64.
    """
    y = np.asarray(y, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    n, u = y.shape
    k = G.shape[1]
    w = np.ones(u) if w is None else np.asarray(w, dtype=np.float64)
    min_obs = k if min_obs is None else min_obs
    out = np.full((n, k), np.nan)
    if n == 0 or u == 0:
        return out
    finite = np.isfinite(y)
    full = finite.all(axis=1)
    sw = np.sqrt(w)
    if full.any() and u >= min_obs:
        P = np.linalg.pinv(G * sw[:, None]) * sw[None, :]  # (k, U)
        out[full] = y[full] @ P.T
    part = np.flatnonzero(~full)
    if part.size:
        m = finite[part].astype(np.float64) * w[None, :]
        y0 = np.where(finite[part], y[part], 0.0)
        GG = (G[:, :, None] * G[:, None, :]).reshape(u, k * k)
        A = (m @ GG).reshape(-1, k, k)
        b = (m * y0) @ G
        sol = np.einsum("nij,nj->ni", np.linalg.pinv(A), b)
        enough = finite[part].sum(axis=1) >= min_obs
        sol[~enough] = np.nan
        out[part] = sol
    return out


def _columns(m: int, master_ix: int, columns: Sequence[int] | NDArray[Any] | None) -> NDArray[np.int64]:
    if columns is None:
        cols = np.array([c for c in range(m) if c != master_ix], dtype=np.int64)
    else:
        cols = np.asarray(columns, dtype=np.int64).ravel()
        if cols.size and (cols.min() < 0 or cols.max() >= m):
            raise ParameterError(f"column index out of range 0..{m - 1}: {cols.tolist()}")
    return cols


def _ifg_weights(ifg_std_deg: NDArray[Any] | None, m: int, master_ix: int) -> NDArray[np.float64]:
    """Inverse-variance weights (rad^-2) per image column from the per-ifg phase std in degrees.

    Accepts ``(M,)`` or ``(M-1,)`` (slaves only; the master gets the median).  Non-finite or
    non-positive values are replaced by the median of the valid ones.
    """
    if ifg_std_deg is None:
        return np.ones(m)
    s = np.asarray(ifg_std_deg, dtype=np.float64).ravel()
    if s.size == m - 1:
        s = np.insert(s, master_ix, np.nan)
    if s.size != m:
        raise ParameterError(f"ifg_std has {s.size} values, expected {m} (or {m - 1})")
    ok = np.isfinite(s) & (s > 0)
    if not ok.any():
        return np.ones(m)
    s = np.where(ok, s, np.median(s[ok]))
    return 1.0 / np.radians(s) ** 2


# ----------------------------------------------------------------------------- referencing
def reference_mask(
    lonlat: NDArray[Any],
    ll0: NDArray[Any],
    *,
    ref_lon: tuple[float, float],
    ref_lat: tuple[float, float],
    ref_centre_lonlat: tuple[float, float],
    ref_radius: float,
) -> NDArray[np.bool_]:
    """Reference-area PS (StaMPS ``ps_setref``).

    PS strictly inside ``ref_lon`` x ``ref_lat`` (open intervals, degrees); if ``ref_radius`` is
    finite, additionally within ``ref_radius`` metres of ``ref_centre_lonlat`` (distances in the
    local ``llh2local`` frame about ``ll0``).  ``ref_radius = -inf`` means "no referencing" and
    returns all False.  An area containing no PS raises :class:`ParameterError` (StaMPS would
    silently produce NaN everywhere).
    """
    lonlat = np.asarray(lonlat, dtype=np.float64)
    n = lonlat.shape[0]
    if ref_radius == -math.inf:
        return np.zeros(n, dtype=bool)
    lon0, lon1 = ref_lon
    lat0, lat1 = ref_lat
    mask = (lonlat[:, 0] > lon0) & (lonlat[:, 0] < lon1) & (lonlat[:, 1] > lat0) & (lonlat[:, 1] < lat1)
    if math.isfinite(ref_radius):
        centre = llh2local(np.asarray([ref_centre_lonlat], dtype=np.float64), ll0)[0]
        xy = llh2local(lonlat, ll0)
        dist = np.hypot(xy[:, 0] - centre[0], xy[:, 1] - centre[1])
        mask &= dist <= ref_radius
    if n and not mask.any():
        raise ParameterError(
            "reference area (ref_lon, ref_lat, ref_centre_lonlat, ref_radius) contains no PS"
        )
    return mask


def reference(ph: NDArray[Any], ref_mask: NDArray[Any]) -> NDArray[np.float64]:
    """Subtract, per column, the NaN-mean of the reference PS (no-op if ``ref_mask`` is all False).

    Works on real (unwrapped) phases or displacements; returns a new float64 array.
    """
    ph = np.asarray(ph, dtype=np.float64)
    ref_mask = np.asarray(ref_mask, dtype=bool)
    if not ref_mask.any():
        return ph.copy()
    sub = ph[ref_mask]
    fin = np.isfinite(sub)
    cnt = fin.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(fin, sub, 0.0).sum(axis=0) / cnt
    return ph - mean[None, :]


# ----------------------------------------------------------------------------- deramping
def deramp(
    ph: NDArray[Any], xy: NDArray[Any], columns: Sequence[int] | NDArray[Any] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Remove a per-column plane ``a*x_km + b*y_km + c`` (StaMPS ``ps_deramp``, degree 1).

    The plane of each column is fitted by unweighted least squares over its finite PS; columns
    with 5 valid PS or fewer (and columns not listed in ``columns``) are left alone (ramp 0).
    Returns ``(ph - ramp, ramp)``, both ``(N, M)`` float64; the ramp is evaluated at every PS,
    NaN phases stay NaN.
    """
    ph = np.asarray(ph, dtype=np.float64)
    n, m = ph.shape
    cols = np.arange(m) if columns is None else np.asarray(columns, dtype=np.int64).ravel()
    ramp = np.zeros_like(ph)
    if n == 0 or cols.size == 0:
        return ph.copy(), ramp
    xy_km = np.asarray(xy, dtype=np.float64) / 1000.0
    G = np.column_stack([xy_km[:, 0], xy_km[:, 1], np.ones(n)])  # (N, 3)
    y = ph[:, cols]  # (N, C): fit every column at once, pixels are the observations
    coef = batched_wls(y.T, G, min_obs=6)  # (C, 3)
    ok = np.all(np.isfinite(coef), axis=1)
    coef[~ok] = 0.0
    ramp[:, cols] = G @ coef.T
    return ph - ramp, ramp


# ----------------------------------------------------------------------------- displacements
def displacement_series(
    ph_uw: NDArray[Any],
    ph_scla: NDArray[Any],
    C_ps_uw: NDArray[Any],
    master_ix: int,
    ref_mask: NDArray[Any],
    wavelength: float,
    zero_master: bool,
) -> NDArray[np.float64]:
    """StaMPS ``'u-dm'`` displacement series in mm, positive toward the satellite, ``(N, M)``.

    ``phi = ph_uw - C_ps_uw - ph_scla`` (DEM error and master APS removed), optionally with the
    master column forced to 0 (``ps_plot``; ``zero_master=False`` reproduces ``ps_output``'s
    non-zero master file), referenced to the NaN-mean over ``ref_mask`` per column, then
    ``d = -phi * lambda * 1000 / (4 pi)``.
    """
    ph = (
        np.asarray(ph_uw, dtype=np.float64)
        - np.asarray(ph_scla, dtype=np.float64)
        - np.asarray(C_ps_uw, dtype=np.float64)[:, None]
    )
    if zero_master:
        ph[:, master_ix] = 0.0
    return phase_to_mm(reference(ph, ref_mask), wavelength)


def _slope_to_mm_per_year(m1: NDArray[Any], wavelength: float) -> NDArray[np.float64]:
    return -np.asarray(m1) * _DAYS_PER_YEAR * wavelength * 1000.0 / (4.0 * np.pi)


def mean_velocity(
    ph: NDArray[Any],
    day: NDArray[Any],
    master_ix: int,
    wavelength: float,
    ifg_std_deg: NDArray[Any] | None = None,
    columns: Sequence[int] | NDArray[Any] | None = None,
) -> NDArray[np.float64]:
    """Mean LOS velocity (mm/yr, positive toward the satellite) of every PS.

    Per PS, weighted LS fit of ``phi = m0 + m1 (t - t_master)`` (t in days) over ``columns``
    (default: every image but the master) with weights ``1/ifg_std^2`` (identity if ``None``);
    ``v = -m1 * 365.25 * lambda * 1000 / (4 pi)``.  The closed form of the 2-parameter fit is
    evaluated with matrix products, so NaN entries simply drop out of their pixel's fit.
    """
    ph = np.asarray(ph, dtype=np.float64)
    m = ph.shape[1]
    cols = _columns(m, master_ix, columns)
    day = np.asarray(day, dtype=np.float64)
    t = day[cols] - day[master_ix]
    w = _ifg_weights(ifg_std_deg, m, master_ix)[cols]
    slope = _slopes(ph[:, cols], t, w[:, None])[:, 0]
    return _slope_to_mm_per_year(slope, wavelength)


def _slopes(y: NDArray[Any], t: NDArray[Any], c: NDArray[Any]) -> NDArray[np.float64]:
    """Slopes of weighted line fits ``y ~ a + b t`` for many weight vectors at once.

    ``y`` (N, U) with NaN = missing, ``t`` (U,), ``c`` (U, B) weights of B fits.  Returns (N, B).
    """
    fin = np.isfinite(y)
    mk = fin.astype(np.float64)
    y0 = np.where(fin, y, 0.0)
    tc = t[:, None] * c
    s_w = mk @ c
    s_t = mk @ tc
    s_tt = mk @ (t[:, None] * tc)
    s_y = y0 @ c
    s_ty = y0 @ tc
    den = s_w * s_tt - s_t**2
    with np.errstate(invalid="ignore", divide="ignore"):
        b = (s_w * s_ty - s_t * s_y) / den
    scale = np.maximum(np.abs(s_w * s_tt), 1e-300)
    return np.where(np.abs(den) > 1e-12 * scale, b, np.nan)


def mean_velocity_std(
    ph: NDArray[Any],
    day: NDArray[Any],
    master_ix: int,
    wavelength: float,
    n_boot: int = 100,
    seed: int = 0,
    columns: Sequence[int] | NDArray[Any] | None = None,
) -> NDArray[np.float64]:
    """Bootstrap standard deviation of the mean velocity (mm/yr), StaMPS ``ps_mean_v``.

    ``n_boot`` resamples of the interferograms with replacement (seeded, deterministic); each
    resample is an unweighted line fit per PS.  A resample is a multiplicity vector over the
    ifgs, so all ``n_boot`` fits of all PS reduce to five ``(N, U) @ (U, n_boot)`` products.
    Returns the sample std (ddof 1) of the slopes in mm/yr.
    """
    ph = np.asarray(ph, dtype=np.float64)
    m = ph.shape[1]
    cols = _columns(m, master_ix, columns)
    day = np.asarray(day, dtype=np.float64)
    t = day[cols] - day[master_ix]
    u = cols.size
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, u, size=(n_boot, u))
    counts = np.zeros((u, n_boot))
    np.add.at(counts, (draws, np.arange(n_boot)[:, None]), 1.0)
    slopes = _slopes(ph[:, cols], t, counts)  # (N, n_boot)
    v = _slope_to_mm_per_year(slopes, wavelength)
    fin = np.isfinite(v)
    cnt = fin.sum(axis=1)
    v0 = np.where(fin, v, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = v0.sum(axis=1) / cnt
        var = (np.where(fin, v - mean[:, None], 0.0) ** 2).sum(axis=1) / (cnt - 1)
    return np.where(cnt > 1, np.sqrt(var), np.nan)


def velocity_map(
    kind: str,
    ph_uw: NDArray[Any],
    ph_scla: NDArray[Any] | None,
    C_ps_uw: NDArray[Any] | None,
    ph_scn_slave: NDArray[Any] | None,
    xy: NDArray[Any],
    day: NDArray[Any],
    master_ix: int,
    wavelength: float,
    ref_mask: NDArray[Any],
    ifg_std_deg: NDArray[Any] | None = None,
    drop: Sequence[int] = (),
    ph_tropo: NDArray[Any] | None = None,
) -> NDArray[np.float64]:
    """Mean velocity (mm/yr, positive toward the satellite) for a StaMPS ``ps_plot`` value type.

    * ``'v'``: ``ph_uw``; ``'v-o'``: deramped ``ph_uw``;
    * ``'v-d'``: ``ph_uw - ph_scla - C_ps_uw``; ``'v-do'``: ``deramp(ph_uw - ph_scla)``;
    * ``'v-ds'``: ``ph_uw - ph_scla - C_ps_uw - ph_scn_slave``;
      ``'v-dso'``: ``deramp(ph_uw - ph_scla - ph_scn_slave)``;
    * ``'v-da'``: ``ph_uw - ph_scla - C_ps_uw - ph_tropo``; ``'v-dao'``: ``deramp(ph_uw - ph_scla - ph_tropo)``
      (``ph_tropo`` the tropospheric correction of :mod:`snapstamps.psi.tropo`, TRAIN's ``tca2``).

    Columns used: every image except the master and ``drop`` (0-based image columns).  The data
    are deramped (where asked) on those columns, referenced to ``ref_mask`` (per-column mean),
    then fitted by :func:`mean_velocity` with ``ifg_std_deg`` weights.  ``ref_velocity`` is not
    added here (the caller adds ``ref_velocity * 1000``).
    """
    if kind not in VELOCITY_KINDS:
        raise ParameterError(f"unknown velocity type {kind!r}; expected one of {', '.join(VELOCITY_KINDS)}")
    ph = np.asarray(ph_uw, dtype=np.float64).copy()
    m = ph.shape[1]
    if "d" in kind:
        if ph_scla is None or C_ps_uw is None:
            raise ParameterError(f"velocity type {kind!r} needs step 7 (SCLA) results")
        ph -= np.asarray(ph_scla, dtype=np.float64)
        if "o" not in kind:
            ph -= np.asarray(C_ps_uw, dtype=np.float64)[:, None]
    if "a" in kind:
        if ph_tropo is None:
            raise ParameterError(f"velocity type {kind!r} needs a tropospheric correction (subtr_tropo, tropo_method)")
        ph -= np.asarray(ph_tropo, dtype=np.float64)
    if "s" in kind:
        if ph_scn_slave is None:
            raise ParameterError(f"velocity type {kind!r} needs step 8 (SCN) results")
        ph -= np.asarray(ph_scn_slave, dtype=np.float64)
    dropped = {int(i) for i in drop}
    cols = np.array([c for c in range(m) if c != master_ix and c not in dropped], dtype=np.int64)
    if kind.endswith("o"):
        ph, _ = deramp(ph, xy, cols)
    ph = reference(ph, ref_mask)
    return mean_velocity(ph, day, master_ix, wavelength, ifg_std_deg, cols)
