"""StaMPS step 8 (``ps_scn_filt``): spatially correlated noise (slave APS + orbit errors).

Idea: after removing the DEM error (``ph_scla``) and the master contribution (``C_ps_uw``) from
the unwrapped phase, what is left per image is deformation (smooth in time), atmosphere of the
slave (random in time, smooth in space) and pixel noise (random in time and space).  The filter

1. forms phase differences along the arcs of a Delaunay network of the PS (removes anything
   common to the whole scene and makes the problem local);
2. high-passes every arc series in time: subtracts a Gaussian-weighted temporal mean
   (window ``scn_time_win`` days; the master date gets weight 0 since its value is not a
   measurement), which removes deformation;
3. integrates the high-passed arc differences back to per-PS values by sparse least squares on
   the arc incidence matrix (PS 0 fixed at 0); the normal matrix (a graph Laplacian) is
   factorised once and solved for all images at once;
4. low-passes in space with a Gaussian kernel of std ``scn_wavelength`` m truncated at
   ``4 * scn_wavelength`` (strict disc), evaluated with KD-tree neighbour pairs in chunks, which
   keeps the atmosphere and rejects pixel noise;
5. re-references to PS 0.

Optional per-image planes (``scn_deramp_ifg``, 1-based image numbers) are removed before the
arc step and added back after integration, so long-wavelength ramps survive the filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .velocity import deramp
from .weed import delaunay_edges

__all__ = ["ScnResult", "scn_filter", "integrate_arcs", "gaussian_lowpass", "temporal_smoother"]


@dataclass
class ScnResult:
    """Step-8 outputs for ``N`` PS and ``M`` images."""

    ph_scn_slave: NDArray[Any]  # (N, M) float32 rad, slave APS estimate; 0 in master/dropped columns
    ph_hpt: NDArray[Any]  # (N, M) float32 rad, temporally high-passed, integrated phase; 0 in dropped columns


def integrate_arcs(edges: NDArray[Any], d: NDArray[Any], n: int) -> NDArray[np.float64]:
    """Least-squares per-node values ``x`` (node 0 fixed at 0) with ``x[b] - x[a] ~ d`` on arcs.

    ``edges`` (E, 2) node pairs ``(a, b)``, ``d`` (E, U) arc differences.  Solves the normal
    equations (graph Laplacian without node 0) with one sparse LU factorisation for all ``U``
    columns; falls back to LSQR per column if the network is disconnected.  Returns (n, U).
    """
    from scipy import sparse
    from scipy.sparse.linalg import lsqr, splu

    d = np.asarray(d, dtype=np.float64)
    if d.ndim == 1:
        d = d[:, None]
    out = np.zeros((n, d.shape[1]))
    if n < 2 or edges.shape[0] == 0:
        return out
    e = edges.shape[0]
    rows = np.repeat(np.arange(e), 2)
    cols = edges[:, [0, 1]].ravel()
    vals = np.tile([-1.0, 1.0], e)
    A = sparse.csr_matrix((vals, (rows, cols)), shape=(e, n))[:, 1:].tocsc()
    L = (A.T @ A).tocsc()
    rhs = A.T @ d
    try:
        lu = splu(L)
        x = lu.solve(rhs)
        if not np.all(np.isfinite(x)):
            raise RuntimeError("singular network")
    except (RuntimeError, ValueError):
        x = np.column_stack([lsqr(A, d[:, k], atol=1e-10, btol=1e-10)[0] for k in range(d.shape[1])])
    out[1:] = x
    return out


def temporal_smoother(t: NDArray[Any], exclude: NDArray[Any], time_win: float, local_linear: bool = False) -> NDArray[np.float64]:
    """``(U, U)`` matrix ``S`` with ``S @ series`` the temporal low-pass of a series sampled at ``t`` (days).

    Row ``u``: Gaussian weights ``exp(-(t_u - t_v)^2 / (2 time_win^2))``, zero where ``exclude``
    (the master), normalised (weighted mean, StaMPS); or, with ``local_linear``, the row of the
    weighted LS line fit on ``[1, t_v - t_u]`` evaluated at ``t_u``.
    """
    t = np.asarray(t, dtype=np.float64)
    u = t.size
    dt = t[None, :] - t[:, None]
    W = np.exp(-(dt**2) / (2.0 * time_win**2))
    W[:, np.asarray(exclude, dtype=bool)] = 0.0
    W /= W.sum(axis=1, keepdims=True)
    if not local_linear:
        return W
    S = np.empty_like(W)
    for k in range(u):  # U small systems (one per image)
        sw = np.sqrt(W[k])
        G = np.column_stack([np.ones(u), dt[k]])
        S[k] = (np.linalg.pinv(G * sw[:, None]) * sw[None, :])[0]
    return S


def gaussian_lowpass(xy: NDArray[Any], values: NDArray[Any], sigma: float, chunk_pairs: int = 200_000) -> NDArray[np.float64]:
    """Spatial Gaussian smoothing of per-PS ``values`` (N, U) with std ``sigma`` (m).

    Each PS becomes the weighted mean over the PS strictly within ``4 sigma`` (itself included),
    weights ``exp(-r^2 / (2 sigma^2))``.  Neighbour pairs come from a KD-tree, processed in
    chunks of query points sized to about ``chunk_pairs`` pairs (~100 bytes each while a chunk is
    built); each chunk is one sparse matrix product.
    """
    from scipy import sparse
    from scipy.spatial import cKDTree

    xy = np.asarray(xy, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    n = xy.shape[0]
    out = np.zeros_like(values)
    if n == 0:
        return out
    radius = 4.0 * sigma
    tree = cKDTree(xy)
    sample = xy[:: max(1, n // 200)]
    mean_nb = max(1.0, tree.query_ball_point(sample, radius, return_length=True).mean())
    step = int(max(1, min(n, chunk_pairs // mean_nb)))
    for start in range(0, n, step):
        q = xy[start : start + step]
        pairs = cKDTree(q).sparse_distance_matrix(tree, radius, output_type="ndarray")
        keep = pairs["v"] < radius
        i, j, r = pairs["i"][keep], pairs["j"][keep], pairs["v"][keep]
        w = np.exp(-(r**2) / (2.0 * sigma**2))
        W = sparse.csr_matrix((w, (i, j)), shape=(q.shape[0], n))
        wsum = np.asarray(W.sum(axis=1)).ravel()
        out[start : start + step] = (W @ values) / wsum[:, None]
    return out


def scn_filter(
    ph_uw: NDArray[Any],
    ph_scla: NDArray[Any],
    C_ps_uw: NDArray[Any],
    xy: NDArray[Any],
    day: NDArray[Any],
    master_ix: int,
    *,
    scn_time_win: float,
    scn_wavelength: float,
    scn_deramp_ifg: Sequence[int],
    drop_ifg_index: Sequence[int],
    ph_ramp: NDArray[Any] | None = None,
    local_linear: bool = False,
) -> ScnResult:
    """Estimate the spatially correlated, temporally uncorrelated phase of every image (step 8).

    Inputs: ``ph_uw`` (N, M) rad, ``ph_scla`` (N, M) rad, ``C_ps_uw`` (N,) rad, ``xy`` (N, 2) m,
    ``day`` (M,) days, ``ph_ramp`` (N, M) rad or None (step-7 planes, removed first).  Uses
    ``scn_time_win``, ``scn_wavelength``, ``scn_deramp_ifg`` and ``drop_ifg_index`` (StaMPS parameters, see :class:`~snapstamps.psi.config.PsiParams`).
    See the module docstring for the algorithm.

    ``local_linear=True`` (not StaMPS) replaces the Gaussian-weighted temporal *mean* by a
    Gaussian-weighted local *linear* fit, which reproduces linear trends exactly: with StaMPS'
    mean, a linear deformation leaks into the estimate wherever the window is lopsided (the
    series ends, or series shorter than a few ``scn_time_win``).
    """
    ph_all = (
        np.asarray(ph_uw, dtype=np.float64)
        - np.asarray(ph_scla, dtype=np.float64)
        - np.asarray(C_ps_uw, dtype=np.float64)[:, None]
    )
    if ph_ramp is not None:
        ph_all = ph_all - np.asarray(ph_ramp, dtype=np.float64)
    n, m = ph_all.shape
    xy = np.asarray(xy, dtype=np.float64)
    day = np.asarray(day, dtype=np.float64)
    dropped = {i - 1 for i in drop_ifg_index}
    idx = np.array([c for c in range(m) if c not in dropped or c == master_ix], dtype=np.int64)
    ph = np.nan_to_num(ph_all[:, idx], nan=0.0, posinf=0.0, neginf=0.0)
    ph_scn_slave = np.zeros((n, m), dtype=np.float32)
    ph_hpt_full = np.zeros((n, m), dtype=np.float32)
    if n < 2:
        return ScnResult(ph_scn_slave, ph_hpt_full)

    deramp_cols = [k for k, c in enumerate(idx) if (c + 1) in set(scn_deramp_ifg)]
    ramps = np.zeros_like(ph)
    if deramp_cols:
        ph, ramps = deramp(ph, xy, deramp_cols)

    edges = delaunay_edges(xy)
    d = ph[edges[:, 1]] - ph[edges[:, 0]]  # (E, U) arc differences

    # temporal low-pass per image: Gaussian window, master weight 0, normalised
    d_hp = d - d @ temporal_smoother(day[idx], idx == master_ix, scn_time_win, local_linear).T

    ph_hpt = integrate_arcs(edges, d_hp, n) + ramps
    ph_scn = gaussian_lowpass(xy, ph_hpt, scn_wavelength)
    ph_scn -= ph_scn[0:1]

    ph_hpt_full[:, idx] = ph_hpt
    ph_scn_slave[:, idx] = ph_scn
    ph_scn_slave[:, master_ix] = 0.0
    return ScnResult(ph_scn_slave=ph_scn_slave, ph_hpt=ph_hpt_full)
