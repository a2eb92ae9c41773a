"""StaMPS step 4 (``ps_weed``): drop neighbouring, duplicate and noisy PS.

Rules, applied in order on the PS selected in step 3:

1. ``weed_neighbours='y'``: among PS touching each other in the (line, pixel) grid
   (8-connectivity, connected groups), keep only the most coherent one.
2. ``weed_zero_elevation='y'``: drop PS with DEM height below 1e-6 m (sea, no-data).
3. PS sharing exactly the same local ``xy`` (mm-rounded): keep the most coherent.
4. Arc-noise weeding (unless both ``weed_standard_dev`` and ``weed_max_noise`` are >= pi):
   the survivors are connected by a Delaunay triangulation.  For every arc the double
   difference of the DEM-error-corrected phases is formed in every image column (master
   included, with the master column replaced by ``exp(i C)``).  That arc phase series is smoothed
   in time (Gaussian window of ``weed_time_win`` days around each date, refined by a wrapped
   linear fit in time), and the residual ``angle(d * conj(smooth))`` is taken as noise.  The noise
   variance of each column, estimated across arcs with a leave-one-out smoother, weights a
   per-arc fit of residual DEM error (slope of noise vs. bperp), which is then removed.  The
   arc noise standard deviation (and maximum) is assigned to each PS as the minimum over its
   arcs: a PS is kept if at least one of its arcs is quiet.

Everything is vectorised over arcs (the only Python loops are over image columns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["WeedResult", "delaunay_edges", "weed_ps", "arc_noise"]


@dataclass
class WeedResult:
    """Outcome of :func:`weed_ps` over the ``n`` input PS."""

    keep: NDArray[np.bool_]  # (n,) PS kept
    ps_std: NDArray[np.float64]  # (n,) rad, min arc-noise std over the PS' arcs; nan where not computed
    ps_max: NDArray[np.float64]  # (n,) rad, min over arcs of the max |arc noise|; nan where not computed
    n_edges: int  # arcs of the noise-weeding triangulation (0 if skipped)


# ----------------------------------------------------------------------------- triangulation
def delaunay_edges(xy: NDArray[Any]) -> NDArray[np.int64]:
    """Unique edges ``(n_edges, 2)`` (low index first, lexicographically sorted) of the Delaunay
    triangulation of the points ``xy`` (``(n, 2)``).

    Degenerate inputs are handled so that the graph is always connected: coincident points are
    triangulated once and the duplicates are linked to their representative by an extra edge;
    fewer than three distinct points, or all points collinear, give a chain along the line.
    """
    xy = np.asarray(xy, dtype=np.float64)
    n = xy.shape[0]
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    uniq, first, inverse = np.unique(xy, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    nu = uniq.shape[0]
    edges_u = _unique_point_edges(uniq)
    edges = first[edges_u] if edges_u.size else np.zeros((0, 2), dtype=np.int64)
    # duplicates: link each point to the representative (first occurrence) of its location
    rep = first[inverse]
    dup = np.flatnonzero(rep != np.arange(n))
    if dup.size:
        edges = np.vstack([edges, np.column_stack([rep[dup], dup])])
    if nu == 1 and not dup.size:
        return np.zeros((0, 2), dtype=np.int64)
    edges = np.sort(edges, axis=1)
    return np.unique(edges, axis=0).astype(np.int64)


def _unique_point_edges(p: NDArray[np.float64]) -> NDArray[np.int64]:
    nu = p.shape[0]
    if nu < 2:
        return np.zeros((0, 2), dtype=np.int64)
    if nu >= 3:
        from scipy.spatial import Delaunay, QhullError  # on use: scipy.spatial costs ~40 MB and 0.5 s to import

        try:
            tri = Delaunay(p)
        except QhullError:
            tri = None
        if tri is not None:
            s = tri.simplices
            e = np.vstack([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
            return np.unique(np.sort(e, axis=1), axis=0).astype(np.int64)
    # two points or collinear: chain along the principal direction
    c = p - p.mean(axis=0)
    direction = np.linalg.svd(c, full_matrices=False)[2][0]
    order = np.argsort(c @ direction, kind="stable")
    return np.column_stack([order[:-1], order[1:]]).astype(np.int64)


# ----------------------------------------------------------------------------- helpers
def _best_per_group(labels: NDArray[np.int64], score: NDArray[Any]) -> NDArray[np.bool_]:
    """True for the highest-``score`` member of each label group (ties: lowest index)."""
    n = labels.size
    order = np.lexsort((np.arange(n), -np.asarray(score, dtype=np.float64), labels))
    first = np.ones(n, dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    best = np.zeros(n, dtype=bool)
    best[order[first]] = True
    return best


def _neighbour_groups(ij: NDArray[Any]) -> NDArray[np.int64]:
    """Connected-component label of each pixel under 8-connectivity in (line, pixel) space."""
    ij = np.asarray(ij, dtype=np.int64)
    n = ij.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    i0 = ij - ij.min(axis=0) + 1
    width = int(i0[:, 1].max()) + 2
    key = i0[:, 0] * width + i0[:, 1]
    order = np.argsort(key, kind="stable")
    skey = key[order]
    rows, cols = [], []
    for di, dj in ((0, 1), (1, -1), (1, 0), (1, 1)):
        target = key + di * width + dj
        pos = np.searchsorted(skey, target)
        pos = np.minimum(pos, n - 1)
        hit = skey[pos] == target
        rows.append(np.flatnonzero(hit))
        cols.append(order[pos[hit]])
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    r = np.concatenate(rows)
    c = np.concatenate(cols)
    g = sparse.coo_matrix((np.ones(r.size), (r, c)), shape=(n, n))
    return connected_components(g, directed=False)[1].astype(np.int64)


#: Arc x image elements per chunk of :func:`arc_noise`: about 10 float64/complex128 temporaries of
#: this size are alive at once (~15 MB), whatever the number of arcs.
_ARC_CHUNK_ELEMENTS = 1 << 17


#: Arc x image elements of the sub-blocks of the per-column smoothing loop (512 KB per float64
#: array): small enough to stay in the CPU cache across the ~12 passes per column.
_ARC_SUB_ELEMENTS = 1 << 16


def _wrap(x: NDArray[Any]) -> NDArray[Any]:
    """Wrap angles (rad) to [-pi, pi)."""
    return x - (2.0 * np.pi) * np.floor((x + np.pi) / (2.0 * np.pi))


def _wrap_inplace(x: NDArray[np.float64], tmp: NDArray[np.float64]) -> NDArray[np.float64]:
    """:func:`_wrap` of ``x`` into ``x`` (``tmp`` a scratch array of its shape): the same
    operations in the same order, so the same bits, without the temporaries."""
    np.add(x, np.pi, out=tmp)
    tmp /= 2.0 * np.pi
    np.floor(tmp, out=tmp)
    tmp *= 2.0 * np.pi
    x -= tmp
    return x


def _wls_projector(G: NDArray[Any], w: NDArray[Any]) -> NDArray[Any]:
    """``(k, U)`` matrix mapping observations to weighted-LS coefficients."""
    sw = np.sqrt(w)
    return np.linalg.pinv(G * sw[:, None]) * sw[None, :]


def arc_noise(
    d: NDArray[Any], day: NDArray[Any], bperp: NDArray[Any], time_win: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Noise std and max |noise| (rad) of each arc's phase series.

    ``d`` is ``(E, U)`` complex unit arc phases over the used image columns, ``day`` and
    ``bperp`` ``(U,)``.  See the module docstring for the estimator.  Returns ``(std, max)``.
    """
    d = np.asarray(d)
    e, u = d.shape
    if e == 0 or u == 0:
        return np.full(e, np.nan), np.full(e, np.nan)
    day = np.asarray(day, dtype=np.float64)
    bperp = np.asarray(bperp, dtype=np.float64)
    # per-column temporal weights and weighted-LS projectors, shared by all arcs
    dts = day[:, None] - day[None, :]  # (U, U): row k = t_k - t_v
    W = np.exp(-(dts**2) / (2.0 * time_win**2))
    W /= W.sum(axis=1, keepdims=True)
    P = [_wls_projector(np.column_stack([np.ones(u), dts[k]]), W[k]) for k in range(u)]
    noise = np.empty((e, u), dtype=np.float64)
    s1 = np.zeros(u)
    s2 = np.zeros(u)
    chunk = max(1, _ARC_CHUNK_ELEMENTS // max(u, 1))
    for start in range(0, e, chunk):  # bounded memory: arcs in chunks
        dc = d[start : start + chunk].astype(np.complex128)
        theta = np.angle(dc)  # arc phase angles; the per-column work below is real arithmetic
        mcs = dc @ W.T  # (e_c, U) weighted complex means, one per target column
        phi = np.angle(mcs)
        smooth = np.empty_like(theta)
        sub = max(1, _ARC_SUB_ELEMENTS // max(u, 1))
        a, a2, tmp = (np.empty((min(sub, theta.shape[0]), u)) for _ in range(3))  # scratch, reused
        for s0 in range(0, theta.shape[0], sub):  # sub-blocks that stay in the CPU cache
            th, ph_s = theta[s0 : s0 + sub], phi[s0 : s0 + sub]
            a_, a2_, tmp_ = a[: th.shape[0]], a2[: th.shape[0]], tmp[: th.shape[0]]
            for k in range(u):  # loop over image columns; vectorised over arcs
                _wrap_inplace(np.subtract(th, ph_s[:, k : k + 1], out=a_), tmp_)
                c1 = a_ @ P[k].T  # (e_s, 2): offset and rate
                np.subtract(a_, c1[:, :1], out=a2_)
                a2_ -= np.multiply(c1[:, 1:], dts[k][None, :], out=tmp_)
                _wrap_inplace(a2_, tmp_)
                smooth[s0 : s0 + sub, k] = ph_s[:, k] + c1[:, 0] + a2_ @ P[k][0]
        noise[start : start + chunk] = _wrap(theta - smooth)
        # leave-one-out smoother: drop the date itself from the weighted sum (no renormalisation)
        n2 = _wrap(theta - np.angle(mcs - np.diag(W)[None, :] * dc))
        s1 += n2.sum(axis=0)
        s2 += (n2**2).sum(axis=0)
    if e > 1:
        var = (s2 - s1**2 / e) / (e - 1)
    else:
        var = np.ones(u)
    var = np.where(np.isfinite(var) & (var > 0), var, np.inf)
    wb = bperp / var
    den = np.sum(wb * bperp)
    if den > 0 and np.isfinite(den):
        k_arc = (noise @ wb) / den
        noise = noise - k_arc[:, None] * bperp[None, :]
    std = np.std(noise, axis=1, ddof=1) if u > 1 else np.zeros(e)
    return std, np.max(np.abs(noise), axis=1)


# ----------------------------------------------------------------------------- main
def weed_ps(
    ph: NDArray[Any],
    xy: NDArray[Any],
    ij: NDArray[Any],
    hgt: NDArray[Any],
    K_ps: NDArray[Any],
    C_ps: NDArray[Any],
    coh_ps: NDArray[Any],
    bperp: NDArray[Any],
    day: NDArray[Any],
    master_ix: int,
    *,
    weed_neighbours: str,
    weed_zero_elevation: str,
    weed_standard_dev: float,
    weed_max_noise: float,
    weed_time_win: float,
    drop_ifg: Sequence[int] = (),
) -> WeedResult:
    """Step-4 weeding of ``n`` selected PS (see the module docstring).

    ``ph`` ``(n, M)`` complex phases including the master column, ``xy`` ``(n, 2)`` m, ``ij``
    ``(n, 2)`` 0-based (line, pixel), ``hgt`` m, ``K_ps`` rad/m, ``C_ps`` rad, ``coh_ps``
    temporal coherence, ``bperp`` ``(M,)`` per-image mean baseline (0 at the master), ``day``
    ``(M,)`` days, ``drop_ifg`` 0-based image columns left out of the noise estimate.
    """
    ph = np.asarray(ph)
    n, m = ph.shape
    xy = np.asarray(xy, dtype=np.float64)
    coh = np.asarray(coh_ps, dtype=np.float64)
    keep = np.ones(n, dtype=bool)
    ps_std = np.full(n, np.nan)
    ps_max = np.full(n, np.nan)
    if n == 0:
        return WeedResult(keep, ps_std, ps_max, 0)

    if weed_neighbours == "y":
        labels = _neighbour_groups(ij)
        keep &= _best_per_group(labels, coh)
    if weed_zero_elevation == "y":
        keep &= np.asarray(hgt, dtype=np.float64) >= 1e-6
    idx = np.flatnonzero(keep)
    if idx.size:
        _, labels = np.unique(xy[idx], axis=0, return_inverse=True)
        dup_ok = _best_per_group(labels.ravel().astype(np.int64), coh[idx])
        keep[idx[~dup_ok]] = False

    if weed_standard_dev >= np.pi and weed_max_noise >= np.pi:
        return WeedResult(keep, ps_std, ps_max, 0)
    idx = np.flatnonzero(keep)
    edges = delaunay_edges(xy[idx])
    if edges.shape[0] == 0:
        return WeedResult(keep, ps_std, ps_max, 0)

    bperp = np.asarray(bperp, dtype=np.float64).ravel()
    day = np.asarray(day, dtype=np.float64).ravel()
    dropped = {int(c) for c in drop_ifg}
    cols = np.array([c for c in range(m) if c not in dropped], dtype=np.int64)
    psi = ph[idx].astype(np.complex128)
    psi = psi * np.exp(-1j * np.asarray(K_ps, dtype=np.float64)[idx, None] * bperp[None, :])
    mag = np.abs(psi)
    psi = np.where(mag > 0, psi / np.where(mag > 0, mag, 1.0), 0.0)
    psi[:, master_ix] = np.exp(1j * np.asarray(C_ps, dtype=np.float64)[idx])
    psi = psi[:, cols].astype(np.complex64)
    d = psi[edges[:, 1]] * np.conj(psi[edges[:, 0]])  # (E, U) arc phases, complex64 to save memory
    e_std, e_max = arc_noise(d, day[cols], bperp[cols], weed_time_win)

    nk = idx.size
    s = np.full(nk, np.inf)
    mx = np.full(nk, np.inf)
    for col in (0, 1):
        np.minimum.at(s, edges[:, col], e_std)
        np.minimum.at(mx, edges[:, col], e_max)
    ps_std[idx] = s
    ps_max[idx] = mx
    keep[idx] = (s < weed_standard_dev) & (mx < weed_max_noise)
    return WeedResult(keep, ps_std, ps_max, int(edges.shape[0]))
