"""StaMPS step 3 (``ps_select``): coherence threshold, PS selection and gamma re-estimation.

Threshold.  Candidates are binned by amplitude dispersion (one bin below 10 000 candidates).  In
each bin the random-phase gamma histogram of step 2 is scaled so that its low-gamma part
(gamma < 0.31, where real PS are rare) matches the candidates' histogram; its reverse cumulative
sum ``pr[b]`` is then the expected number of random-phase pixels with gamma in bin ``b`` or above
(for 'PERCENT': that number as a percentage of all candidates there).  The threshold is where
``pr`` crosses the allowed value (``density_rand`` per km2 of patch area shared over the bins, or
``percent_rand`` %), interpolated by a cubic fit of bin upper edge versus standardised ``pr``
over the six bins around the first bin below the limit.  With several bins, a line
``threshold = p1 D_A + p0`` is fitted (used per pixel if ``p1 > 0``, else evaluated at 0.35).

Re-estimation.  The step-2 patch phase of a candidate includes its own contribution (and its
cell-mates'), which inflates gamma.  For each selected pixel the patch phase is recomputed from a
``clap_win x clap_win`` window of the step-2 grid centred (as far as the grid allows) on its cell
with that whole cell zeroed, filtered by single-window CLAP; gamma, K and C are refitted and the
threshold is recomputed.  A pixel is kept if its new gamma passes the new threshold and its K
moved by less than ``2 pi / bperp_range``.  All pixels of a cell share the same window, so the
window filter is computed once per occupied cell (:func:`~snapstamps.psi.clap.clap_filt_cells`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError, ParameterError
from .clap import clap_filt_cells
from .gamma import LOW_COH_BINS, GammaResult, coh_histogram
from .topofit import topofit

__all__ = ["SelectResult", "select_ps", "coherence_threshold", "bin_threshold"]

_CHUNK_ELEMENTS = 1 << 21  # complex128 elements per batched CLAP/fit chunk
_GAMMA_STDEV_RESAMPLES = 100


@dataclass
class SelectResult:
    """Outputs of :func:`select_ps` (StaMPS ``select1.mat``); final PS = ``ix[keep_ix]``."""

    ix: np.ndarray  # (n_sel,) int64 indices into the N candidates, initially selected
    keep_ix: np.ndarray  # (n_sel,) bool, kept after re-estimation
    K_ps2: np.ndarray  # (n_sel,) rad/m (NaN where the refit was impossible)
    C_ps2: np.ndarray  # (n_sel,) rad
    coh_ps2: np.ndarray  # (n_sel,) (NaN where the refit was impossible)
    ph_res2: np.ndarray  # (n_sel, M-1) float32, 0 in dropped ifgs
    ph_patch2: np.ndarray  # (n_sel, M-1) complex64 unit-magnitude patch phase, 0 in dropped ifgs
    coh_thresh: np.ndarray  # (n_sel,) threshold per selected pixel (second pass)
    coh_thresh_coeffs: np.ndarray | None  # (2,) [p1, p0] of threshold = p1 D_A + p0, or None
    ifg_index: np.ndarray  # (n_used,) 0-based slave columns used


def bin_threshold(
    coh: np.ndarray, Nr_dist: np.ndarray, max_rand: float, method: str
) -> float:
    """Coherence threshold of one D_A bin (NaN if undetermined, 1 if no bin is below the limit).

    ``coh``: the bin's non-zero gammas; ``Nr_dist``: random-phase histogram (100 bins);
    ``max_rand``: allowed random count (DENSITY) or percentage (PERCENT).
    """
    na = coh_histogram(coh)
    nr_dist = np.asarray(Nr_dist, dtype=np.float64)
    low = LOW_COH_BINS
    denom = nr_dist[:low].sum()
    nr = nr_dist * (na[:low].sum() / denom) if denom > 0 else np.zeros_like(nr_dist)
    na[na == 0] = 1.0
    pr = np.cumsum(nr[::-1])[::-1]
    if method.upper() == "PERCENT":
        pr = pr / np.cumsum(na[::-1])[::-1] * 100.0
    ok = np.flatnonzero(pr < max_rand)
    if ok.size == 0:
        return 1.0
    b0 = int(ok[0]) + 1  # 1-based bin number
    lo = b0 - 3
    if lo <= 0:
        return float("nan")
    hi = min(b0 + 2, 100)
    b = np.arange(lo, hi + 1)
    x = pr[b - 1]
    y = b * 0.01
    sd = x.std(ddof=1)
    if not np.isfinite(sd) or sd == 0 or np.unique(x).size < 4:
        # a cubic is not determined (flat pr); fall back to the first bin below the limit
        return b0 * 0.01
    mu = x.mean()
    coeffs = np.polyfit((x - mu) / sd, y, 3)
    return float(np.polyval(coeffs, (max_rand - mu) / sd))


def coherence_threshold(
    coh_ps: np.ndarray,
    da: np.ndarray,
    Nr_dist: np.ndarray,
    xy: np.ndarray,
    *,
    select_method: str,
    density_rand: float,
    percent_rand: float,
    da_eval: np.ndarray | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Per-pixel gamma threshold (StaMPS ``ps_select``) and the line coefficients.

    ``coh_ps``/``da``: all candidates of the patch (NaN gammas ignored); ``xy`` (m) sets the
    patch area for 'DENSITY'.  The threshold is evaluated at ``da_eval`` (default ``da``).
    Returns ``(coh_thresh (n_eval,), coeffs [p1, p0] or None)``; thresholds are >= 0.
    """
    coh_ps = np.asarray(coh_ps, dtype=np.float64)
    n = coh_ps.size
    da = np.asarray(da, dtype=np.float64).ravel()
    da_eval = da if da_eval is None else np.asarray(da_eval, dtype=np.float64).ravel()
    n_eval = da_eval.size
    if n >= 10000:
        srt = np.sort(da)
        bs = 10000 if n >= 50000 else 2000
        inner = srt[bs - 1 : n - bs : bs]
        edges = np.concatenate([[0.0], inner, [srt[-1]]])
        da_b = da
    else:
        edges = np.array([0.0, 1.0])
        da_b = np.ones(n)
        da_eval = np.ones(n_eval)
    n_bins = edges.size - 1
    if select_method == "DENSITY":
        xy = np.asarray(xy, dtype=np.float64)
        area = float(np.prod(xy.max(axis=0) - xy.min(axis=0))) / 1e6
        max_rand = density_rand * area / n_bins
    else:
        max_rand = percent_rand
    min_coh = np.empty(n_bins)
    da_mean = np.empty(n_bins)
    for i in range(n_bins):  # a handful of D_A bins, not pixels
        sel = (da_b > edges[i]) & (da_b <= edges[i + 1])
        da_mean[i] = da_b[sel].mean() if sel.any() else np.nan
        c = coh_ps[sel]
        c = c[c != 0]
        min_coh[i] = bin_threshold(c, Nr_dist, max_rand, select_method)
    good = np.isfinite(min_coh) & np.isfinite(da_mean)
    coeffs: NDArray[np.float64] | None = None
    if not good.any():
        thresh = np.full(n_eval, 0.3)
    elif good.sum() > 1:
        p = np.polyfit(da_mean[good], min_coh[good], 1)
        if p[0] > 0:
            thresh = np.polyval(p, da_eval)
            coeffs = p
        else:
            thresh = np.full(n_eval, float(np.polyval(p, 0.35)))
    else:
        thresh = np.full(n_eval, float(min_coh[good][0]))
    return np.maximum(thresh, 0.0), coeffs


def _reestimate_patch(
    ph_grid: np.ndarray,
    cells: NDArray[np.int64],
    clap_win: int,
    alpha: float,
    beta: float,
    low_pass: np.ndarray,
    ifg_index: NDArray[np.int64],
    progress: Callable[[float], None],
    workers: int | None = None,
) -> NDArray[np.complex128]:
    """Filtered value at each given cell ``(n_c, 2)`` with the cell itself zeroed.

    Windows of ``clap_win`` cells start at ``cell - clap_win/2`` (clipped to the grid).
    Returns ``(n_c, len(ifg_index))``.
    """
    n_i, n_j, _ = ph_grid.shape
    half = clap_win // 2
    origins = np.stack(
        [np.clip(cells[:, ax] - half, 0, n - clap_win) for ax, n in ((0, n_i), (1, n_j))], axis=1
    )
    return clap_filt_cells(
        ph_grid[:, :, ifg_index], cells, origins, n_win=clap_win, alpha=alpha, beta=beta,
        low_pass=low_pass, workers=workers, progress=progress,
    )


def _gamma_stdev(ph_res: np.ndarray, seed: int) -> NDArray[np.float64]:
    """Bootstrap std (100 resamples over ifgs) of ``|mean exp(i ph_res)|`` per row."""
    n, k = ph_res.shape
    rng = np.random.default_rng(seed)
    out = np.empty(n)
    z = np.exp(1j * ph_res.astype(np.float64))
    step = max(1, _CHUNK_ELEMENTS // (k * _GAMMA_STDEV_RESAMPLES))
    for s in range(0, n, step):
        e = min(n, s + step)
        idx = rng.integers(0, k, size=(e - s, _GAMMA_STDEV_RESAMPLES, k))
        zz = np.take_along_axis(z[s:e, None, :], idx, axis=2)
        out[s:e] = np.abs(zz.mean(axis=2)).std(axis=1, ddof=1)
    return out


def select_ps(
    ph: np.ndarray,
    bperp_mat: np.ndarray,
    bperp: np.ndarray,
    xy: np.ndarray,
    da: np.ndarray,
    gamma: GammaResult,
    *,
    select_method: str,
    density_rand: float,
    percent_rand: float,
    select_reest_gamma_flag: str,
    clap_win: int,
    clap_alpha: float,
    clap_beta: float,
    gamma_stdev_reject: float,
    rand_seed: int,
    drop_ifg: Sequence[int] = (),
    progress: Callable[[float], None] | None = None,
    workers: int | None = None,
) -> SelectResult:
    """Run StaMPS step 3 on one patch.

    ``ph`` (N, M-1) complex slave phases, ``bperp_mat`` (N, M-1) m, ``bperp`` (M-1,) per-ifg mean
    (m), ``xy`` (N, 2) m, ``da`` (N,), ``gamma`` the step-2 result on the same candidates.
    ``drop_ifg``: 0-based slave columns excluded from the re-estimation.  Uses select_method,
    density_rand, percent_rand, gamma_stdev_reject, select_reest_gamma_flag, clap_win,
    clap_alpha, clap_beta, rand_seed.  With no selected pixel the result has empty arrays.
    ``workers``: threads for the re-estimation (``None``: all available CPUs); the result does
    not depend on it.
    """
    ph = np.asarray(ph)
    n_ps, n_ifg = ph.shape
    bperp = np.asarray(bperp, dtype=np.float64).ravel()
    if gamma.coh_ps.shape != (n_ps,) or gamma.ph_grid.shape[2] != n_ifg:
        raise InputError("select_ps: the step-2 result does not match the candidate phases")
    report = progress or (lambda f: None)
    drop = {int(i) for i in drop_ifg}
    if any(i < 0 or i >= n_ifg for i in drop):
        raise ParameterError(f"drop_ifg_index: interferogram indices must be within 1..{n_ifg}")
    ifg_index = np.array([i for i in range(n_ifg) if i not in drop], dtype=np.int64)
    if ifg_index.size < 2:
        raise ParameterError("drop_ifg_index: fewer than 2 interferograms left")
    da = np.asarray(da, dtype=np.float64).ravel()
    rules: dict[str, Any] = {"select_method": select_method, "density_rand": density_rand, "percent_rand": percent_rand}
    reest = select_reest_gamma_flag == "y"
    clap_win = int(clap_win)
    n_i, n_j = gamma.ph_grid.shape[:2]
    if reest and (n_i < clap_win or n_j < clap_win):
        raise ParameterError(
            f"filter_grid_size: {gamma.grid_size:g} m gives a {n_i} x {n_j}-cell grid, fewer "
            f"than clap_win={clap_win} cells needed to re-estimate gamma in step 3; reduce "
            "filter_grid_size (or set select_reest_gamma_flag=n)"
        )

    coh_ps = np.asarray(gamma.coh_ps, dtype=np.float64).copy()
    thresh, coeffs = coherence_threshold(coh_ps, da, gamma.Nr, xy, **rules)
    ix = np.flatnonzero(coh_ps > thresh).astype(np.int64)
    if gamma_stdev_reject > 0 and ix.size:
        sd = _gamma_stdev(gamma.ph_res[ix][:, ifg_index], rand_seed)
        ix = ix[sd < gamma_stdev_reject]
    report(0.05)
    n_sel = ix.size

    if not reest or n_sel == 0:
        return SelectResult(
            ix=ix,
            keep_ix=np.ones(n_sel, dtype=bool),
            K_ps2=gamma.K_ps[ix].astype(np.float64),
            C_ps2=gamma.C_ps[ix].astype(np.float64),
            coh_ps2=gamma.coh_ps[ix].astype(np.float64),
            ph_res2=gamma.ph_res[ix].astype(np.float32),
            ph_patch2=gamma.ph_patch[ix].astype(np.complex64),
            coh_thresh=thresh[ix] if thresh.size == n_ps else np.full(n_sel, 0.0),
            coh_thresh_coeffs=coeffs,
            ifg_index=ifg_index,
        )

    # --- re-estimation: one filtered window per occupied cell
    cell_of = gamma.grid_ij[ix]
    lin = cell_of[:, 0] * n_j + cell_of[:, 1]
    ucell, inv = np.unique(lin, return_inverse=True)
    ucells = np.stack([ucell // n_j, ucell % n_j], axis=1)
    patch_cells = _reestimate_patch(
        gamma.ph_grid, ucells, clap_win, clap_alpha, clap_beta, gamma.low_pass,
        ifg_index, lambda f: report(0.05 + 0.75 * f), workers=workers,
    )
    patch = patch_cells[inv]  # (n_sel, n_used)

    ph_sel = ph[ix][:, ifg_index].astype(np.complex128)
    a = np.abs(ph_sel)
    ph_sel = np.divide(ph_sel, a, out=np.zeros_like(ph_sel), where=a > 0)
    pa = np.abs(patch)
    patch_u = np.divide(patch, pa, out=np.zeros_like(patch), where=pa > 0)
    dph = ph_sel * np.conj(patch_u)
    good = np.all(dph != 0, axis=1)
    K2 = np.full(n_sel, np.nan)
    C2 = np.full(n_sel, np.nan)
    coh2 = np.full(n_sel, np.nan)
    ph_res2 = np.zeros((n_sel, n_ifg), dtype=np.float32)
    ph_patch2 = np.zeros((n_sel, n_ifg), dtype=np.complex64)
    ph_patch2[:, ifg_index] = patch_u
    bp = np.asarray(bperp_mat)[ix][:, ifg_index][good]
    fit = topofit(dph[good], bp, gamma.n_trial_wraps)
    gi = np.flatnonzero(good)
    K2[gi], C2[gi], coh2[gi] = fit.K, fit.C, fit.coh
    res_full = np.zeros((gi.size, n_ifg), dtype=np.float32)
    res_full[:, ifg_index] = np.angle(fit.res)
    ph_res2[gi] = res_full
    report(0.9)

    # --- second threshold with the re-estimated gammas in the histograms
    coh_ps[ix] = coh2
    thresh2, coeffs2 = coherence_threshold(coh_ps, da, gamma.Nr, xy, da_eval=da[ix], **rules)
    bperp_range = float(bperp.max() - bperp.min())
    k_tol = 2 * np.pi / bperp_range if bperp_range > 0 else np.inf
    with np.errstate(invalid="ignore"):
        keep = (coh2 > thresh2) & (np.abs(gamma.K_ps[ix] - K2) < k_tol)
    report(1.0)
    return SelectResult(
        ix=ix,
        keep_ix=keep,
        K_ps2=K2,
        C_ps2=C2,
        coh_ps2=coh2,
        ph_res2=ph_res2,
        ph_patch2=ph_patch2,
        coh_thresh=thresh2,
        coh_thresh_coeffs=coeffs2,
        ifg_index=ifg_index,
    )
