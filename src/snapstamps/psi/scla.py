"""StaMPS step 7 (``ps_calc_scla`` + ``ps_smooth_scla``): DEM error (SCLA) and master APS.

After unwrapping, two per-PS terms are estimated from the unwrapped phase ``ph_uw`` (rad):

* ``K_ps_uw`` (rad per m of bperp), the spatially-correlated look-angle (DEM) error.  The phase
  is differenced between consecutive retained slave dates, which removes the master contribution
  and most of the slowly varying deformation (StaMPS keeps the master's zero column in the
  sequence, so a residual master APS leaks into its K; we bridge over the master instead), and each PS' differences are fitted by least squares
  on ``[1, mean dB, dt]`` (``dB`` the bperp difference averaged over the PS, ``dt`` the time
  difference; the ``dt`` column is dropped with fewer than 4 dates).  The bperp coefficient is
  ``K_ps_uw``; ``ph_scla = K_ps_uw * bperp_full`` (per-pixel baselines).
* ``C_ps_uw`` (rad), the master contribution (master APS + constant): intercept of a weighted
  fit of ``ph_uw - ph_scla`` on ``[1, t - t_master]`` over the slave dates, weights
  ``1/ifg_std^2``.

Before fitting, ``ph_uw`` is optionally deramped per column (``scla_deramp``) and referenced to
the reference area.  ``scla_method='L1'`` refines the bperp fit by iteratively reweighted least
squares (an L1 fit vectorised over pixels) instead of StaMPS' per-pixel Nelder-Mead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .velocity import _ifg_weights, batched_wls, deramp, reference
from .weed import delaunay_edges

__all__ = ["SclaResult", "calc_scla", "smooth_scla", "scla_columns"]


@dataclass
class SclaResult:
    """Step-7 estimates for ``N`` PS and ``M`` images."""

    K_ps_uw: NDArray[Any]  # (N,) rad/m, phase per metre of bperp (DEM error)
    C_ps_uw: NDArray[Any]  # (N,) rad, master APS / constant
    ph_scla: NDArray[Any]  # (N, M) float32, K_ps_uw * bperp_full
    ph_ramp: NDArray[Any] | None  # (N, M) rad, per-column planes removed (scla_deramp='y') or None


def scla_columns(m: int, *, drop_ifg_index: Sequence[int], scla_drop_index: Sequence[int]) -> NDArray[np.int64]:
    """0-based image columns used in step 7: all minus ``drop_ifg_index`` and ``scla_drop_index``."""
    dropped = {i - 1 for i in drop_ifg_index} | {i - 1 for i in scla_drop_index}
    return np.array([c for c in range(m) if c not in dropped], dtype=np.int64)


def _irls_l1(y: NDArray[Any], G: NDArray[Any], m0: NDArray[Any], n_iter: int = 30) -> NDArray[np.float64]:
    """L1 regression ``min sum |y - G m|`` per row by iteratively reweighted LS, batched over rows.

    ``y`` (N, U), ``G`` (U, k), ``m0`` (N, k) starting point (the L2 solution).  Each iteration
    solves all rows' weighted normal equations at once (weights ``1 / max(|r|, eps)``).
    """
    y = np.asarray(y, dtype=np.float64)
    n, u = y.shape
    k = G.shape[1]
    fin = np.isfinite(y)
    y0 = np.where(fin, y, 0.0)
    GG = (G[:, :, None] * G[:, None, :]).reshape(u, k * k)
    m = m0.copy()
    ok = np.all(np.isfinite(m), axis=1)
    eps = 1e-6 * max(1.0, float(np.nanstd(y))) if y.size else 1e-6
    for _ in range(n_iter):
        r = np.abs(y0 - m @ G.T)
        w = fin / np.maximum(r, eps)
        A = (w @ GG).reshape(n, k, k)
        b = (w * y0) @ G
        m_new = np.einsum("nij,nj->ni", np.linalg.pinv(A), b)
        m = np.where(ok[:, None], m_new, m)
    return m


def calc_scla(
    ph_uw: NDArray[Any],
    bperp_full: NDArray[Any],
    day: NDArray[Any],
    master_ix: int,
    ifg_std_deg: NDArray[Any] | None,
    ref_mask: NDArray[Any],
    xy: NDArray[Any],
    *,
    scla_deramp: str,
    scla_method: str,
    drop_ifg_index: Sequence[int],
    scla_drop_index: Sequence[int],
) -> SclaResult:
    """Estimate ``K_ps_uw``, ``C_ps_uw`` and ``ph_scla`` from the unwrapped phase (see module doc).

    ``ph_uw`` (N, M) rad with master column 0 (NaN = missing), ``bperp_full`` (N, M) m (or
    ``(M,)``, broadcast), ``day`` (M,) days, ``ifg_std_deg`` (M,) per-image noise in degrees
    (``ps_calc_ifg_std``; None = equal weights), ``ref_mask`` (N,) reference PS, ``xy`` (N, 2) m.
    """
    ph = np.asarray(ph_uw, dtype=np.float64)
    n, m = ph.shape
    bp = np.asarray(bperp_full, dtype=np.float64)
    if bp.ndim == 1:
        bp = np.broadcast_to(bp[None, :], (n, m))
    day = np.asarray(day, dtype=np.float64)
    ph_ramp = None
    if scla_deramp == "y":
        ph, ph_ramp = deramp(ph, xy)
        ph_ramp = ph_ramp.astype(np.float32)
    ph = reference(ph, ref_mask)

    idx = scla_columns(m, drop_ifg_index=drop_ifg_index, scla_drop_index=scla_drop_index)
    slaves = idx[idx != master_ix]
    K = np.zeros(n)
    if slaves.size >= 2 and n:
        # consecutive differences between retained *slave* dates: the master column is 0 by
        # definition (not a measurement of defo + K B + C), so differencing across it would leak
        # C into K; bridging over it cancels C exactly.
        dph = np.diff(ph[:, slaves], axis=1)
        db = np.diff(bp[:, slaves], axis=1).mean(axis=0)
        dt = np.diff(day[slaves])
        G = np.column_stack([np.ones(slaves.size - 1), db, dt])
        if slaves.size + 1 < 4:  # StaMPS counts the master among the dates
            G = G[:, :2]
        coef = batched_wls(dph, G)
        if scla_method == "L1":
            coef = _irls_l1(dph, G, coef)
        K = coef[:, 1]
    ph_scla = K[:, None] * bp

    C = np.full(n, np.nan)
    if slaves.size >= 2 and n:
        w = _ifg_weights(ifg_std_deg, m, master_ix)[slaves]
        Gc = np.column_stack([np.ones(slaves.size), day[slaves] - day[master_ix]])
        C = batched_wls(ph[:, slaves] - ph_scla[:, slaves], Gc, w)[:, 0]
    elif slaves.size == 1 and n:
        C = ph[:, slaves[0]] - ph_scla[:, slaves[0]]
    return SclaResult(K_ps_uw=K, C_ps_uw=C, ph_scla=ph_scla.astype(np.float32), ph_ramp=ph_ramp)


def smooth_scla(res: SclaResult, xy: NDArray[Any], bperp_full: NDArray[Any]) -> SclaResult:
    """Clamp each PS' ``K_ps_uw`` and ``C_ps_uw`` to the [min, max] of its Delaunay neighbours.

    Only isolated outliers (a value outside the range of all its neighbours) change.  PS without
    neighbours keep their values.  ``ph_scla`` is recomputed; ``ph_ramp`` is carried over.
    """
    xy = np.asarray(xy, dtype=np.float64)
    n = xy.shape[0]
    edges = delaunay_edges(xy)
    out = {}
    for name in ("K_ps_uw", "C_ps_uw"):
        v = np.asarray(getattr(res, name), dtype=np.float64)
        lo = np.full(n, np.inf)
        hi = np.full(n, -np.inf)
        if edges.size:
            a, b = edges[:, 0], edges[:, 1]
            va, vb = v[a], v[b]
            np.minimum.at(lo, a, np.where(np.isfinite(vb), vb, np.inf))
            np.minimum.at(lo, b, np.where(np.isfinite(va), va, np.inf))
            np.maximum.at(hi, a, np.where(np.isfinite(vb), vb, -np.inf))
            np.maximum.at(hi, b, np.where(np.isfinite(va), va, -np.inf))
        has = np.isfinite(lo) & np.isfinite(hi)
        out[name] = np.where(has, np.clip(v, np.where(has, lo, 0), np.where(has, hi, 0)), v)
    bp = np.asarray(bperp_full, dtype=np.float64)
    if bp.ndim == 1:
        bp = bp[None, :]
    ph_scla = (out["K_ps_uw"][:, None] * bp).astype(np.float32)
    return replace(res, K_ps_uw=out["K_ps_uw"], C_ps_uw=out["C_ps_uw"], ph_scla=ph_scla)
