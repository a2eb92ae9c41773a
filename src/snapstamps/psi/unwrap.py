"""StaMPS step 6: 3-D (space-time) phase unwrapping of the PS with snaphu.

Pipeline (StaMPS ``uw_3d`` for a single-master PS set), one pure function per stage:

1. :func:`grid_wrapped` -- resample the PS phase onto a regular grid of ``unwrap_grid_size``
   metres (complex sum of unit phasors per cell) and Goldstein-prefilter every ifg.  Occupied
   cells are the *nodes* of the unwrapping network.
2. :func:`node_connectivity` -- every grid cell is given to its nearest node (a Voronoi partition
   of the grid, computed with a Euclidean distance transform); two nodes are joined by an arc
   when they own 4-adjacent cells.  Each cell adjacency of the grid maps to a signed arc id.
3. :func:`arc_look_angle_error` and :func:`smooth_arcs_3d_full` / :func:`smooth_arcs_3d_quick`
   -- along every arc (phase difference between two nodes), estimate a look-angle (DEM) error
   slope against bperp on the daisy chain of consecutive acquisitions, remove it, and fit a
   smooth model in time.  The smooth model is unwrapped in time, which gives each arc an
   *expected unwrapped* phase difference per ifg, and the residual noise gives its variance.
4. :func:`stat_costs` -- turn those expectations into snaphu's DEFO-mode user costs (int16:
   offset, sigsq, dzmax, laycost per cell adjacency); a grid solver unwraps each ifg grid
   spatially with them: ``unwrap_grid`` (default :func:`snapstamps.io.snaphu.run_snaphu`, the
   adapter that runs the snaphu executable; this module runs no external program itself).
5. Each PS takes the 2-pi cycle closest to the unwrapped value of its cell, so that
   ``ph_uw - angle(ph_w)`` is an exact multiple of 2 pi.

Conventions (see ``docs/conventions.md``): phases in rad, times in days, bperp in m, ``xy`` in
m, ``master_ix`` 0-based; ifg = master x conj(slave); the master column of the output is 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError

__all__ = [
    "UnwrapResult",
    "GriddedPhase",
    "Connectivity",
    "unwrap_3d",
    "grid_wrapped",
    "node_connectivity",
    "n_trial_wraps_unwrap",
    "arc_look_angle_error",
    "smooth_arcs_3d_full",
    "smooth_arcs_3d_quick",
    "stat_costs",
]

# snaphu DEFO-cost constants of StaMPS' uw_stat_costs.
NSHORTCYCLE = 200  # cost units per phase cycle (snaphu default)
COSTSCALE = 100.0
MAXSHORT = 32000  # snaphu's LARGESHORT; laycost = -MAXSHORT means "no cost shelf"
RHO_MEAN_RANGE = 830_000.0  # m, StaMPS' hard-coded mean slant range
_TWO_PI = 2.0 * np.pi


@dataclass
class UnwrapResult:
    """Output of :func:`unwrap_3d`."""

    ph_uw: np.ndarray  # (N, M) float32 unwrapped phase (rad); master / not-unwrapped columns 0
    msd: np.ndarray  # (M,) mean squared spatial difference of the unwrapped grid per ifg
    grid_size: float  # m, the unwrapping grid actually used
    n_nodes: int


@dataclass
class GriddedPhase:
    """The PS phase resampled on the unwrapping grid (output of :func:`grid_wrapped`)."""

    cell_ij: np.ndarray  # (N, 2) int64 0-based (row, col) cell of each PS
    n_i: int
    n_j: int
    node_ij: np.ndarray  # (n_nodes, 2) int64 cells that hold at least one PS (row-major order)
    ps_node: np.ndarray  # (N,) int64 node index of each PS
    ph_nodes: np.ndarray  # (n_nodes, K) complex64 (filtered) node phasors, K = ifgs given


@dataclass
class Connectivity:
    """Voronoi partition of the grid by node and the arcs between nodes."""

    owner: np.ndarray  # (n_i, n_j) int64 node owning each cell
    edges: np.ndarray  # (E, 2) int64 node pairs (low, high); arc phase = ph[high] conj(ph[low])
    colix: np.ndarray  # (n_i, n_j-1) int64 signed 1-based arc id of cell (i,j)->(i,j+1), 0 = same node
    rowix: np.ndarray  # (n_i-1, n_j) int64 signed 1-based arc id of cell (i,j)->(i+1,j), 0 = same node
    n_adj: np.ndarray  # (E,) int64 number of grid adjacencies that map to each arc


# --------------------------------------------------------------------------------------- grid
def _cell_index(v: np.ndarray, size: float) -> tuple[np.ndarray, int]:
    """0-based cell index along one axis; the last partial cell is folded into the previous one."""
    idx = np.ceil((v - v.min() + 1e-3) / size).astype(np.int64)
    top = int(idx.max())
    if top > 1:
        idx[idx == top] = top - 1
        top -= 1
    return idx - 1, top


def grid_wrapped(
    ph: np.ndarray,
    xy: np.ndarray,
    grid_size: float,
    prefilter: bool,
    gold_alpha: float,
    gold_n_win: int,
) -> GriddedPhase:
    """Resample unit phasors ``ph`` (N, K) onto a ``grid_size`` (m) grid and Goldstein-filter them.

    Cells: ``ceil((y - min y + 1e-3) / grid_size)`` rows and the same with x for columns
    (1-based), the maximum index folded into the one before.  Each cell holds the complex sum of
    its PS phasors per ifg.  Nodes are the occupied cells.  With ``prefilter`` each ifg grid is
    Goldstein-filtered (``n_pad = round(n_win / 4)``) before the node phasors are read.

    Raises:
        ParameterError: the grid's smaller dimension is below ``gold_n_win`` (prefilter on) or
            below 2 cells, naming ``unwrap_grid_size``.
    """
    ph = np.asarray(ph)
    n = ph.shape[0]
    row, n_i = _cell_index(np.asarray(xy[:, 1], dtype=np.float64), grid_size)
    col, n_j = _cell_index(np.asarray(xy[:, 0], dtype=np.float64), grid_size)
    need = gold_n_win if prefilter else 2
    if min(n_i, n_j) < need:
        what = f"the prefilter window unwrap_gold_n_win={gold_n_win}" if prefilter else "2 cells"
        raise ParameterError(
            f"parameter unwrap_grid_size={grid_size:g} m gives a {n_i} x {n_j} cell unwrapping grid "
            f"(AOI {np.ptp(xy[:, 0]):.0f} x {np.ptp(xy[:, 1]):.0f} m), smaller than {what}; "
            f"reduce unwrap_grid_size" + (" (or unwrap_gold_n_win)" if prefilter else "")
        )
    flat = row * n_j + col
    occupied, ps_node = np.unique(flat, return_inverse=True)
    k = ph.shape[1]
    # complex sum per node and ifg (bincount on real and imaginary parts separately)
    idx = (ps_node[:, None] * k + np.arange(k)[None, :]).ravel()
    n_nodes = occupied.size
    re = np.bincount(idx, weights=ph.real.ravel().astype(np.float64), minlength=n_nodes * k)
    im = np.bincount(idx, weights=ph.imag.ravel().astype(np.float64), minlength=n_nodes * k)
    sums = (re + 1j * im).reshape(n_nodes, k)
    node_ij = np.stack([occupied // n_j, occupied % n_j], axis=1).astype(np.int64)
    if prefilter:
        from .goldstein import goldstein_filter  # on use (scipy.ndimage)

        g = np.zeros((n_i, n_j, k), dtype=np.complex128)
        g[node_ij[:, 0], node_ij[:, 1]] = sums
        g = goldstein_filter(g, gold_alpha, gold_n_win, int(np.floor(0.25 * gold_n_win + 0.5)))
        sums = g[node_ij[:, 0], node_ij[:, 1]]
    return GriddedPhase(
        cell_ij=np.stack([row, col], axis=1),
        n_i=n_i,
        n_j=n_j,
        node_ij=node_ij,
        ps_node=ps_node.astype(np.int64).reshape(n),
        ph_nodes=sums.astype(np.complex64),
    )


def node_connectivity(node_ij: np.ndarray, n_i: int, n_j: int) -> Connectivity:
    """Nearest-node partition of the grid and the node arcs it implies.

    Every cell is owned by its nearest node (Euclidean distance on the cell lattice; ties are
    broken by scipy's distance transform).  An arc joins two distinct nodes that own
    horizontally or vertically adjacent cells.  For the adjacency (i,j)->(i,j+1) ``colix`` holds
    ``+(e+1)`` if the left cell belongs to the arc's low node and ``-(e+1)`` otherwise (``rowix``
    likewise for (i,j)->(i+1,j)), so the phase difference across an adjacency in the direction
    of increasing index is ``sign * dph[e]``.
    """
    from scipy.ndimage import distance_transform_edt  # on use: the products read UnwrapResult without it

    n_nodes = node_ij.shape[0]
    ids = np.full((n_i, n_j), -1, dtype=np.int64)
    ids[node_ij[:, 0], node_ij[:, 1]] = np.arange(n_nodes)
    _, (ii, jj) = distance_transform_edt(ids < 0, return_indices=True)
    owner = ids[ii, jj]

    a = np.concatenate([owner[:, :-1].ravel(), owner[:-1, :].ravel()])
    b = np.concatenate([owner[:, 1:].ravel(), owner[1:, :].ravel()])
    diff = a != b
    lo = np.minimum(a, b)[diff]
    hi = np.maximum(a, b)[diff]
    sign = np.where(a[diff] < b[diff], 1, -1)
    keys, inv = np.unique(lo * n_nodes + hi, return_inverse=True)
    edges = np.stack([keys // n_nodes, keys % n_nodes], axis=1)
    signed = np.zeros(a.size, dtype=np.int64)
    signed[diff] = sign * (inv + 1)
    n_col = n_i * (n_j - 1)
    colix = signed[:n_col].reshape(n_i, n_j - 1)
    rowix = signed[n_col:].reshape(n_i - 1, n_j)
    n_adj = np.bincount(inv, minlength=keys.size).astype(np.int64)
    return Connectivity(owner=owner, edges=edges, colix=colix, rowix=rowix, n_adj=n_adj)


# ------------------------------------------------------------------------- per-arc processing
def n_trial_wraps_unwrap(bperp: np.ndarray, inc_mean: float, wavelength: float, max_topo_err: float) -> float:
    """Span of the look-angle-error phase over the baselines, in cycles (StaMPS step 6).

    ``max_K = max_topo_err / (lambda rho sin(inc) / 4 pi)`` rad/m with rho = 830 km, and
    ``n = span(bperp) max_K / 2 pi``; ``bperp`` includes the master's 0.
    """
    max_k = max_topo_err / (wavelength * RHO_MEAN_RANGE * np.sin(inc_mean) / (4 * np.pi))
    return float(np.ptp(np.asarray(bperp, dtype=np.float64)) * max_k / (2 * np.pi))


def _unit(z: np.ndarray) -> np.ndarray:
    mag = np.abs(z)
    return np.divide(z, mag, out=np.zeros_like(z), where=mag > 0)


def arc_look_angle_error(
    dph: np.ndarray, day: np.ndarray, bperp: np.ndarray, n_trial_wraps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-arc look-angle-error slope ``K`` (rad/m of bperp) from the daisy chain of images.

    ``dph`` (E, K) arc phasors of single-master ifgs with slave dates ``day`` (days from the
    master) and baselines ``bperp`` (m, relative to the master).  The master is inserted as a
    zero-phase image, images are sorted by date and consecutive differences are formed, which
    cancels most of the (slow) deformation.  On those, a grid search over
    ``K_t = t (pi/4) / span(bperp_seq)``, ``|t| <= ceil(8 n)`` (n = ``n_trial_wraps`` scaled by
    ``span(bperp_seq) / span(bperp)``), picks the slope of maximum coherence.  It is kept only if
    it beats every other coherence lobe by > 0.1; it is then refined by a no-intercept weighted
    least-squares fit of the residual phase on bperp, and discarded (K = 0) if the final
    coherence is < 0.31.

    Returns ``(K, coherence)``, each (E,).
    """
    dph = np.asarray(dph)
    n_arc = dph.shape[0]
    day = np.asarray(day, dtype=np.float64)
    bperp = np.asarray(bperp, dtype=np.float64)
    order = np.argsort(np.concatenate([[0.0], day]), kind="stable")
    ph_all = np.concatenate([np.ones((n_arc, 1), dtype=np.complex128), _unit(dph.astype(np.complex128))], axis=1)
    b_all = np.concatenate([[0.0], bperp])
    ph_all = ph_all[:, order]
    b_all = b_all[order]
    cpx = _unit(ph_all[:, 1:] * np.conj(ph_all[:, :-1]))
    b_seq = np.diff(b_all)
    span_seq = float(np.ptp(b_seq)) if b_seq.size else 0.0
    span = float(np.ptp(b_all))
    k_out = np.zeros(n_arc)
    coh_out = np.zeros(n_arc)
    if n_arc == 0 or span_seq <= 0 or span <= 0:
        return k_out, coh_out
    ntw = n_trial_wraps * span_seq / span
    n_t = int(np.ceil(8 * ntw))
    trial_k = np.arange(-n_t, n_t + 1) * (np.pi / 4) / span_seq  # (T,)
    wsum = np.abs(cpx).sum(axis=1)
    wsum = np.where(wsum > 0, wsum, 1.0)
    coh = np.abs(cpx @ np.exp(-1j * np.outer(b_seq, trial_k))) / wsum[:, None]  # (E, T)
    n_tr = coh.shape[1]
    best = np.argmax(coh, axis=1)
    coh_max = coh[np.arange(n_arc), best]
    # blank the main lobe: from the last decrease before the peak to the first increase after it
    t_idx = np.arange(n_tr - 1)[None, :]
    d = np.diff(coh, axis=1)  # d[:, k] = coh[k+1] - coh[k]
    falling = (d < 0) & (t_idx < best[:, None])
    last_fall = np.where(falling.any(axis=1), n_tr - 2 - np.argmax(falling[:, ::-1], axis=1), -1)
    lobe_start = last_fall + 1
    rising = (d > 0) & (t_idx >= best[:, None])
    lobe_end = np.where(rising.any(axis=1), np.argmax(rising, axis=1), n_tr - 1)
    all_t = np.arange(n_tr)[None, :]
    lobe = (all_t >= lobe_start[:, None]) & (all_t <= lobe_end[:, None])
    rest_max = np.where(lobe, 0.0, coh).max(axis=1)
    accept = coh_max - rest_max > 0.1

    k0 = trial_k[best]
    r = cpx * np.exp(-1j * np.outer(k0, b_seq))
    rho = np.angle(r * np.conj(r.sum(axis=1, keepdims=True)))
    w2 = np.abs(cpx) ** 2
    den = (w2 * b_seq[None, :] ** 2).sum(axis=1)
    delta = np.divide((w2 * b_seq[None, :] * rho).sum(axis=1), den, out=np.zeros(n_arc), where=den > 0)
    k = k0 + delta
    gamma = np.abs((cpx * np.exp(-1j * np.outer(k, b_seq))).sum(axis=1)) / wsum
    k = np.where(accept & (gamma >= 0.31), k, 0.0)
    coh_out = np.where(accept, gamma, 0.0)
    return k, coh_out


def _anchor_columns(day_sorted: np.ndarray) -> np.ndarray:
    """Ifgs adjacent to the master date: first one after it plus the one before, if any."""
    after = np.flatnonzero(day_sorted > 0)
    if after.size == 0:
        return np.array([day_sorted.size - 1])
    first = after[0]
    return np.array([first - 1, first]) if first > 0 else np.array([first])


def smooth_arcs_3d_full(
    dph: np.ndarray, day: np.ndarray, time_win: float, chunk_bytes: int = 512 << 10
) -> np.ndarray:
    """Smooth-in-time, unwrapped-in-time model of arc phases ('3D_FULL', single master).

    ``dph`` (E, K) unit arc phasors of ifgs with slave dates ``day`` (days from the master),
    **sorted by date**.  For each ifg u: Gaussian weights ``w_v = exp(-(t_u-t_v)^2 / 2T^2)``
    (normalised), complex weighted mean ``m``, residual phases ``a_v = wrap(angle(dph_v) -
    angle(m))``, weighted LS line ``a ~ c + s (t_u - t_v)`` and ``s_u = m exp(i c)``.  The
    series ``angle(s_u)`` is then unwrapped along time (consecutive differences wrapped) and
    shifted by whole cycles so that its mean over the ifgs adjacent to the master date lies in
    [-pi, pi).  Returns the model phase (E, K) float64 in rad.
    """
    dph = np.asarray(dph, dtype=np.complex128)
    n_arc, n_ifg = dph.shape
    t = np.asarray(day, dtype=np.float64)
    dt = t[:, None] - t[None, :]  # (u, v)
    w = np.exp(-(dt**2) / (2.0 * time_win**2))
    w /= w.sum(axis=1, keepdims=True)
    s1 = (w * dt).sum(axis=1)
    s2 = (w * dt**2).sum(axis=1)
    det = s2 - s1**2  # sum(w) = 1
    ok = det > 1e-12 * np.maximum(s2, 1.0)
    # intercept c[u] = sum_v coef[u, v] a[u, v]
    coef = np.where(ok[:, None], w * (s2[:, None] - s1[:, None] * dt) / np.where(ok, det, 1.0)[:, None], w)
    ang = np.angle(dph)
    out = np.empty((n_arc, n_ifg))
    step = max(1, int(chunk_bytes // max(8 * n_ifg * n_ifg * 3, 1)))
    for e0 in range(0, n_arc, step):
        e1 = min(n_arc, e0 + step)
        m = dph[e0:e1] @ w.T  # (e, u)
        am = np.angle(m)
        a = ang[e0:e1, None, :] - am[:, :, None]  # (e, u, v), in (-2pi, 2pi)
        a -= _TWO_PI * np.rint(a / _TWO_PI)  # wrap to [-pi, pi]
        c = np.einsum("euv,uv->eu", a, coef)
        out[e0:e1] = am + c
    series = np.unwrap(out, axis=1)
    anchor = _anchor_columns(t)
    cm = series[:, anchor].mean(axis=1)
    series -= (cm - np.angle(np.exp(1j * cm)))[:, None]
    return series


def smooth_arcs_3d_quick(dph: np.ndarray, day: np.ndarray, time_win: float) -> np.ndarray:
    """'3D_QUICK' model: Gaussian time smoothing of the wrapped image phases (single master).

    Image phases are the arc phases of the slaves and 0 for the master; each image's phase is
    replaced by its Gaussian-weighted (``time_win`` days) mean over all images, and the model of
    ifg k is smoothed(slave k) - smoothed(master).  No unwrapping in time.  Returns (E, K) rad.
    """
    ang = np.angle(np.asarray(dph))
    t = np.concatenate([[0.0], np.asarray(day, dtype=np.float64)])
    series = np.concatenate([np.zeros((ang.shape[0], 1)), ang], axis=1)
    w = np.exp(-((t[:, None] - t[None, :]) ** 2) / (2.0 * time_win**2))
    w /= w.sum(axis=1, keepdims=True)
    sm = series @ w.T
    return sm[:, 1:] - sm[:, :1]


# ---------------------------------------------------------------------------------- snaphu
def stat_costs(
    conn: Connectivity, offset_cycle: np.ndarray, sigsq: np.ndarray, nostats: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """snaphu DEFO user costs ``(row_cost (n_i-1, n_j, 4), col_cost (n_i, n_j-1, 4))`` int16.

    Per cell adjacency the four shorts are offset, sigsq, dzmax, laycost.  For an adjacency on
    arc e with orientation s: ``offset = round(s * offset_cycle[e] * 200)`` for the column
    (horizontal) array and its negative for the row (vertical) array (snaphu's sign
    convention), where ``offset_cycle = (wrapped - expected unwrapped) / 2 pi``; sigsq from the
    arc; dzmax 32000; laycost -32000 (no cost shelf).  Arcs without statistics (``nostats``)
    get offset 0, sigsq 1 and laycost 1 (cheap to cut); adjacencies inside one node get
    offset 0, sigsq 1, no shelf (practically uncuttable).
    """
    off = np.clip(np.rint(np.asarray(offset_cycle) * NSHORTCYCLE), -MAXSHORT, MAXSHORT)
    sq = np.asarray(sigsq)

    def fill(ix: np.ndarray, sign_flip: int) -> np.ndarray:
        out = np.zeros(ix.shape + (4,), dtype=np.int16)
        e = np.abs(ix) - 1
        arc = ix != 0
        ns = np.zeros(ix.shape, dtype=bool)
        ns[arc] = nostats[e[arc]]
        stats = arc & ~ns
        o = np.zeros(ix.shape)
        o[stats] = sign_flip * np.sign(ix[stats]) * off[e[stats]]
        s = np.ones(ix.shape)
        s[stats] = sq[e[stats]]
        out[..., 0] = o.astype(np.int16)
        out[..., 1] = s.astype(np.int16)
        out[..., 2] = MAXSHORT
        out[..., 3] = np.where(ns, 1, -MAXSHORT).astype(np.int16)
        return out

    return fill(conn.rowix, -1), fill(conn.colix, +1)


# ------------------------------------------------------------------------------ orchestration
def unwrap_3d(
    ph_w: np.ndarray,
    xy: np.ndarray,
    day: np.ndarray,
    master_ix: int,
    bperp: np.ndarray,
    inc_mean: float,
    wavelength: float,
    *,
    unwrap_method: str,
    unwrap_grid_size: float,
    unwrap_prefilter_flag: str,
    unwrap_gold_alpha: float,
    unwrap_gold_n_win: int,
    unwrap_la_error_flag: str,
    unwrap_time_win: float,
    max_topo_err: float,
    n_cores: int | None,
    unwrap_ifg: Sequence[int] | None = None,
    progress: Callable[[float], None] | None = None,
    unwrap_grid: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> UnwrapResult:
    """3-D (space-time) unwrapping of single-master PS phase (StaMPS ``uw_3d``, '3D_FULL').

    Args:
        ph_w: (N, M) complex phase to unwrap (master constant removed; any magnitude).
        xy: (N, 2) local coordinates (m).
        day: (M,) acquisition days; master_ix: 0-based master column.
        bperp: (M,) per-ifg mean perpendicular baseline (m), 0 at the master.
        inc_mean: mean incidence angle (rad); wavelength: radar wavelength (m).
        unwrap_method ... n_cores: StaMPS parameters (unwrap_method '3D'/'3D_FULL' -> 3D_FULL, '3D_QUICK'), unwrap_grid_size,
            unwrap_prefilter_flag, unwrap_gold_alpha, unwrap_gold_n_win, unwrap_la_error_flag,
            unwrap_time_win, max_topo_err, n_cores: at most ``n_cores`` spatial solves run at once
            (on threads; the default snaphu solver runs as a subprocess), ``None`` = one per CPU
            this process may use. The result does not depend on it: each ifg is solved alone and
            written to its own column.
        unwrap_ifg: 0-based image columns to unwrap (default: all but the master).
        progress: called with the completed fraction in [0, 1].
        unwrap_grid: spatial solver ``(complex grid (n_i, n_j), row costs, column costs) ->
            unwrapped phase (n_i, n_j)`` with snaphu's DEFO user costs (:func:`stat_costs`);
            default :func:`snapstamps.io.snaphu.run_snaphu`.

    Returns:
        :class:`UnwrapResult`; ``ph_uw - angle(ph_w)`` is a multiple of 2 pi on unwrapped columns.
    """
    ph_w = np.asarray(ph_w)
    n_ps, n_img = ph_w.shape
    day = np.asarray(day, dtype=np.float64)
    bperp = np.asarray(bperp, dtype=np.float64)
    if unwrap_ifg is None:
        cols = np.array([c for c in range(n_img) if c != master_ix], dtype=np.int64)
    else:
        cols = np.array(sorted({int(c) for c in unwrap_ifg if int(c) != master_ix}), dtype=np.int64)
    ph_uw = np.zeros((n_ps, n_img), dtype=np.float32)
    msd = np.zeros(n_img, dtype=np.float64)
    if cols.size == 0 or n_ps == 0:
        return UnwrapResult(ph_uw, msd, float(unwrap_grid_size), 0)

    report = progress or (lambda f: None)
    if unwrap_grid is None:
        from ..io.snaphu import run_snaphu

        unwrap_grid = run_snaphu
    solve = unwrap_grid
    day_rel = day[cols] - day[master_ix]
    order = np.argsort(day_rel, kind="stable")  # process ifgs by slave date
    cols = cols[order]
    day_rel = day_rel[order]
    b_ifg = bperp[cols] - bperp[master_ix]
    ph_in = _unit(ph_w[:, cols].astype(np.complex128))

    # (a) grid + prefilter
    gp = grid_wrapped(
        ph_in,
        xy,
        float(unwrap_grid_size),
        unwrap_prefilter_flag == "y",
        float(unwrap_gold_alpha),
        int(unwrap_gold_n_win),
    )
    report(0.05)
    # (b) connectivity
    conn = node_connectivity(gp.node_ij, gp.n_i, gp.n_j)
    n_nodes = gp.node_ij.shape[0]
    ph_nodes = _unit(gp.ph_nodes.astype(np.complex128))
    e_lo, e_hi = conn.edges[:, 0], conn.edges[:, 1]
    dph = _unit(ph_nodes[e_hi] * np.conj(ph_nodes[e_lo]))  # (E, K)
    report(0.1)

    # (c) look-angle error and temporal model per arc
    if unwrap_la_error_flag == "y":
        ntw = n_trial_wraps_unwrap(bperp - bperp[master_ix], inc_mean, wavelength, float(max_topo_err))
        k_arc, _ = arc_look_angle_error(dph, day_rel, b_ifg, ntw)
    else:
        k_arc = np.zeros(dph.shape[0])
    la_phase = np.outer(k_arc, b_ifg)  # (E, K)
    dph_nola = dph * np.exp(-1j * la_phase)
    if unwrap_method == "3D_QUICK":
        model = smooth_arcs_3d_quick(dph_nola, day_rel, float(unwrap_time_win))
        noise_max = 1.3
    else:
        model = smooth_arcs_3d_full(dph_nola, day_rel, float(unwrap_time_win))
        noise_max = 1.2
    noise = np.angle(dph_nola * np.exp(-1j * model))
    del dph_nola
    sd = np.std(noise, axis=1, ddof=1) if noise.shape[1] > 1 else np.zeros(noise.shape[0])
    nostats = ~(sd <= noise_max)
    del noise
    # (wrapped - expected unwrapped) arc phase in cycles; expected = temporal model + K bperp
    offset_cycle = ((np.angle(dph) - model - la_phase) / (2 * np.pi)).astype(np.float32)
    del dph, model, la_phase
    report(0.2)

    # (d) costs and snaphu per ifg
    sig2 = (sd / (2 * np.pi)) ** 2
    sigsq = np.clip(np.rint(sig2 * NSHORTCYCLE**2 / COSTSCALE * conn.n_adj), 1, 32767)
    owner = conn.owner
    node_r, node_c = gp.node_ij[:, 0], gp.node_ij[:, 1]
    ps_node = gp.ps_node

    def one(k: int) -> np.ndarray:
        ph_grid = ph_nodes[:, k]
        ph_grid = np.where(np.abs(ph_grid) > 0, ph_grid, 1.0)[owner]
        row_cost, col_cost = stat_costs(conn, offset_cycle[:, k], sigsq, nostats)
        return solve(ph_grid, row_cost, col_cost)

    done = 0
    n_k = cols.size
    if n_cores is None:
        from .parallel import available_workers

        n_cores = available_workers()
    workers = max(1, min(int(n_cores), n_k))

    def finish(k: int, uw: np.ndarray) -> None:
        nonlocal done
        u_node = uw[node_r, node_c].astype(np.float64)[ps_node]
        ph_uw[:, cols[k]] = (u_node + np.angle(ph_in[:, k] * np.exp(-1j * u_node))).astype(np.float32)
        dif = np.concatenate([np.diff(uw, axis=0).ravel(), np.diff(uw, axis=1).ravel()]).astype(np.float64)
        dif = dif[dif != 0]
        msd[cols[k]] = float(np.mean(dif**2)) if dif.size else 0.0
        done += 1
        report(0.2 + 0.8 * done / n_k)

    if workers == 1:
        for k in range(n_k):
            finish(k, one(k))
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for k, uw in enumerate(pool.map(one, range(n_k))):
                finish(k, uw)
    return UnwrapResult(ph_uw=ph_uw, msd=msd, grid_size=float(unwrap_grid_size), n_nodes=int(n_nodes))
