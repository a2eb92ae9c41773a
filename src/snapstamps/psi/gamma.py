"""StaMPS step 2 (``ps_est_gamma_quick``): iterative temporal-coherence estimation.

For each PS candidate the temporal coherence ``gamma`` measures how well its interferometric
phase, once the spatially correlated part (deformation, atmosphere, orbit errors) and a DEM-error
term are removed, stays constant over time.  The spatially correlated part ("patch phase") is
estimated from the neighbours:

1. each candidate's unit phasors, with its current DEM-error phase ``K bperp`` removed and
   multiplied by a weight, are summed per cell of a ``filter_grid_size`` grid (per ifg);
2. the grid of every ifg is CLAP filtered (:mod:`snapstamps.psi.clap`), and the filtered value at
   a candidate's cell (unit magnitude) is its patch phase;
3. :func:`snapstamps.psi.topofit.topofit` on ``ph * conj(patch)`` gives ``K``, ``C`` and gamma;
4. weights are updated from the gamma histogram compared with the histogram expected for
   random-phase pixels ('P-square': ``(1 - P_rand(gamma))^2``; or 'SNR'), and the loop repeats
   until the rms change of gamma stabilises or ``gamma_max_iterations`` is reached.

The random-phase reference distribution (``Nr``) comes from ``n_rand`` simulated pixels with
uniform random phase, fitted with the same estimator and the patch's mean baselines.

Deliberate deviation from StaMPS: a candidate for which the fit is impossible (an exact zero in
``ph * conj(patch)``) gets ``K = 0``, ``coh = 0`` and weight 0 in the next grid accumulation;
StaMPS sets ``K = NaN``, which blanks the whole grid cell (its neighbours' contributions too).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from ..errors import InputError, ParameterError
from .clap import clap_filt, clap_low_pass, gausswin
from .parallel import map_ordered, resolve_workers
from .topofit import n_trial_wraps as _n_trial_wraps
from .topofit import topofit

__all__ = [
    "GammaResult",
    "estimate_gamma",
    "random_phase_coherence",
    "coh_histogram",
    "COH_BINS",
    "LOW_COH_BINS",
    "grid_cells",
    "p_square_weighting",
    "RHO_MEAN_RANGE",
    "INC_OFFSET",
]

#: centres of the 100 coherence bins 0.005 .. 0.995
COH_BINS: NDArray[np.floating[Any]] = (np.arange(100) + 0.5) / 100.0
_COH_EDGES = (COH_BINS[:-1] + COH_BINS[1:]) / 2.0
#: number of low-coherence bins (gamma < 0.31) used to scale the random-phase histogram
LOW_COH_BINS = 31
#: StaMPS' hard-coded "mean range" (m) of the DEM-error search range
RHO_MEAN_RANGE = 830000.0
#: rad added by StaMPS step 2 to the mean incidence angle
INC_OFFSET = 0.052

_RAND_CHUNK = 1 << 11  # random-phase pixels simulated per chunk
# pixel x ifg elements per chunk.  The chunk boundaries are part of the result: numpy's
# single-precision complex products differ in the last bit between its SIMD and scalar
# loops, so where a chunk starts changes some products of the complex64 phases.
_PIX_CHUNK_ELEMENTS = 1 << 18
_FIT_SUBCHUNK_ELEMENTS = 1 << 16  # pixel x ifg elements per topofit call


@dataclass
class GammaResult:
    """Outputs of :func:`estimate_gamma` (StaMPS ``pm1.mat``)."""

    K_ps: np.ndarray  # (N,) rad per m of bperp
    C_ps: np.ndarray  # (N,) rad
    coh_ps: np.ndarray  # (N,) temporal coherence
    ph_patch: np.ndarray  # (N, M-1) complex64 unit-magnitude filtered patch phase
    ph_res: np.ndarray  # (N, M-1) float32 residual phase (rad)
    ph_grid: np.ndarray  # (n_i, n_j, M-1) complex64 weighted cell sums of the last iteration
    grid_ij: np.ndarray  # (N, 2) int64 0-based cell (row from y, col from x)
    grid_size: float  # m
    n_trial_wraps: float
    Nr: np.ndarray  # (100,) random-phase gamma histogram (counts)
    Nr_max_nz_ix: int  # 0-based index of the last non-empty bin of Nr
    low_pass: np.ndarray  # (clap_win, clap_win) CLAP low-pass response
    n_iterations: int


def coh_histogram(coh: np.ndarray) -> NDArray[np.float64]:
    """Counts of ``coh`` in the 100 StaMPS coherence bins (MATLAB ``hist`` semantics).

    Bin edges are the midpoints between the centres 0.005..0.995; the first bin is open below,
    the last open above, intervals ``[a, b)``.  NaNs are ignored.
    """
    c = np.asarray(coh, dtype=np.float64).ravel()
    c = c[~np.isnan(c)]
    idx = np.searchsorted(_COH_EDGES, c, side="right")
    return np.bincount(idx, minlength=100).astype(np.float64)


def random_phase_coherence(
    bperp: np.ndarray, n_trial_wraps: float, n_rand: int, seed: int, workers: int | None = 1
) -> NDArray[np.float64]:
    """Temporal coherence of ``n_rand`` simulated pixels with uniform random phase.

    Each pixel gets ``len(bperp)`` phases uniform in [0, 2 pi) (numpy ``default_rng(seed)``; the
    StaMPS MATLAB generator cannot be reproduced, so only the distribution matches) and is fitted
    by :func:`topofit` with the shared per-ifg baselines ``bperp`` (m).  The phases are drawn in
    order in the calling thread and fitted in chunks on ``workers`` threads (``None``: all
    available CPUs); the result does not depend on it.  Returns ``(n_rand,)``.
    """
    bperp = np.asarray(bperp, dtype=np.float64).ravel()
    rng = np.random.default_rng(seed)
    n_rand = int(n_rand)
    out = np.empty(n_rand)
    bounds = [(s, min(n_rand, s + _RAND_CHUNK)) for s in range(0, n_rand, _RAND_CHUNK)]

    def draws() -> Iterator[tuple[int, int, np.ndarray]]:
        for s, e in bounds:
            yield s, e, rng.uniform(0.0, 2.0 * np.pi, size=(e - s, bperp.size))

    def fit(item: tuple[int, int, np.ndarray]) -> None:
        s, e, phase = item
        out[s:e] = topofit(np.exp(1j * phase), bperp, n_trial_wraps).coh

    for _ in map_ordered(fit, draws(), resolve_workers(workers)):
        pass
    return out


def grid_cells(xy: np.ndarray, grid_size: float) -> tuple[NDArray[np.int64], int, int]:
    """0-based grid cell (row from y, column from x) of each point, StaMPS style.

    ``cell = ceil((v - min v + 1e-6) / grid_size)`` (1-based), then the last (partial) row and
    column are folded into the previous one.  Returns ``(grid_ij (N, 2), n_i, n_j)``.
    """
    xy = np.asarray(xy, dtype=np.float64)
    out = np.empty((xy.shape[0], 2), dtype=np.int64)
    dims = []
    for col, src in ((0, 1), (1, 0)):
        v = xy[:, src]
        c = np.ceil((v - v.min() + 1e-6) / grid_size).astype(np.int64)
        cmax = int(c.max())
        if cmax > 1:
            c[c == cmax] = cmax - 1
        out[:, col] = c - 1
        dims.append(int(c.max()))
    return out, dims[0], dims[1]


def _interp_bandlimited(x: NDArray[np.float64], r: int, a: int = 4) -> NDArray[np.float64]:
    """Upsample ``x`` by ``r`` with a Lanczos-``a`` kernel (band-limited, keeps the samples).

    Output sample ``j`` is at position ``j / r`` (``len(x) * r`` samples).  Near the ends the
    kernel weights of the available samples are renormalised to sum 1.  This approximates MATLAB
    ``interp(x, r, a, 0.5)``.
    """
    n = x.size
    t = np.arange(n * r) / r
    k = np.floor(t).astype(np.int64)[:, None] + np.arange(-a + 1, a + 1)[None, :]
    d = t[:, None] - k
    w = np.sinc(d) * np.sinc(d / a)
    w[np.abs(d) >= a] = 0.0
    ok = (k >= 0) & (k < n)
    w = np.where(ok, w, 0.0)
    vals = x[np.clip(k, 0, n - 1)]
    return (w * vals).sum(axis=1) / w.sum(axis=1)


def p_square_weighting(
    coh_ps: np.ndarray, Nr: np.ndarray, Nr_max_nz_ix: int
) -> NDArray[np.float64]:
    """'P-square' weights ``(1 - P_rand(gamma))^2`` of StaMPS step 2.

    ``P_rand`` per coherence bin = (random-phase histogram scaled to the candidates' low-gamma
    bins) / (candidates' histogram), set to 1 below gamma 0.31 and 0 beyond the last non-empty
    random bin, clipped to <= 1, smoothed by a causal 7-tap Gaussian FIR (3-bin lag, ones before
    the first bin), prefixed with 1 at gamma 0 and upsampled x10 to 1001 samples (gamma = j/1000)
    by band-limited (Lanczos-4) interpolation; each candidate reads the sample at its rounded
    ``1000 gamma``.
    """
    coh = np.nan_to_num(np.asarray(coh_ps, dtype=np.float64), nan=0.0)
    na = coh_histogram(coh)
    nr = np.asarray(Nr, dtype=np.float64)
    low = LOW_COH_BINS
    scale = na[:low].sum() / nr[:low].sum() if nr[:low].sum() > 0 else 0.0
    nr = nr * scale
    na[na == 0] = 1.0
    p = nr / na
    p[:low] = 1.0
    p[Nr_max_nz_ix + 1 :] = 0.0
    p = np.minimum(p, 1.0)
    g = gausswin(7)
    ext = np.concatenate([np.ones(7), p])
    ps = np.convolve(ext, g)[: ext.size][7:] / g.sum()
    up = _interp_bandlimited(np.concatenate([[1.0], ps]), 10)[:1001]
    idx = np.clip(np.floor(np.clip(coh, 0.0, 1.0) * 1000.0 + 0.5).astype(np.int64), 0, 1000)
    return (1.0 - up[idx]) ** 2


def _snr_weighting(amp: np.ndarray, ph_res: np.ndarray) -> NDArray[np.float64]:
    g = (amp * np.cos(ph_res)).mean(axis=1)
    var = 0.5 * ((amp**2).mean(axis=1) - g**2)
    sig = np.sqrt(np.maximum(var, 0.0))
    return np.divide(g, sig, out=np.zeros_like(g), where=sig > 0)


def _fit_chunk(
    bounds: tuple[int, int],
    *,
    ph_filt: np.ndarray,
    grid_ij: np.ndarray,
    ph_u: np.ndarray,
    bperp_mat: np.ndarray,
    ntw: float,
    ok: np.ndarray,
    K_ps: np.ndarray,
    C_ps: np.ndarray,
    coh_ps: np.ndarray,
    ph_res: np.ndarray,
    ph_patch: np.ndarray,
) -> None:
    """Patch phase and topofit of candidates ``bounds[0]:bounds[1]``, written into the arrays.

    The complex64 products are formed over the whole chunk (their rounding depends on where
    the array starts, see ``_PIX_CHUNK_ELEMENTS``); the fits run on sub-chunks to bound memory.
    """
    s, e = bounds
    patch = ph_filt[grid_ij[s:e, 0], grid_ij[s:e, 1], :]
    pa = np.abs(patch)
    patch = np.divide(patch, pa, out=np.zeros_like(patch), where=pa > 0)
    ph_patch[s:e] = patch
    dph = ph_u[s:e] * np.conj(patch)
    del patch, pa
    good = np.all(dph != 0, axis=1)
    ok[s:e] = good
    n_ifg = dph.shape[1]
    sub = max(1, _FIT_SUBCHUNK_ELEMENTS // max(n_ifg, 1))
    for a in range(0, e - s, sub):
        b = min(e - s, a + sub)
        g = good[a:b]
        fit = topofit(dph[a:b][g], bperp_mat[s + a : s + b][g], ntw)
        sl = np.flatnonzero(g) + s + a
        K_ps[sl], C_ps[sl], coh_ps[sl] = fit.K, fit.C, fit.coh
        ph_res[sl] = np.angle(fit.res)


def clap_window_sizes(clap_win: int) -> tuple[int, int]:
    """Step-2 CLAP tile and padding sizes: ``n_win ~ 0.75 clap_win`` (even), ``n_pad = rest``."""
    n_win = 2 * int(math.floor(0.375 * clap_win))
    return n_win, int(clap_win) - n_win


def estimate_gamma(
    ph: np.ndarray,
    bperp_mat: np.ndarray,
    bperp: np.ndarray,
    xy: np.ndarray,
    da: np.ndarray,
    inc: np.ndarray,
    wavelength: float,
    *,
    max_topo_err: float,
    filter_grid_size: float,
    filter_weighting: str,
    gamma_change_convergence: float,
    gamma_max_iterations: int,
    clap_win: int,
    clap_low_pass_wavelength: float,
    clap_alpha: float,
    clap_beta: float,
    n_rand: int,
    rand_seed: int,
    progress: Callable[[float], None] | None = None,
    workers: int | None = None,
) -> GammaResult:
    """Run StaMPS step 2 on one patch.

    Parameters
    ----------
    ph : (N, M-1) complex interferometric phase of the slaves (master x conj(slave)).
    bperp_mat : (N, M-1) per-pixel perpendicular baselines (m).
    bperp : (M-1,) per-ifg mean perpendicular baseline (m), master excluded.
    xy : (N, 2) local coordinates (m), column 0 = x, column 1 = y.
    da : (N,) amplitude dispersion (initial weights ``1/D_A``).
    inc : (N,) incidence angle (rad); ``mean(inc) + 0.052`` sets the K search range.
    wavelength : radar wavelength (m).
    max_topo_err, filter_grid_size, ... rand_seed : the StaMPS parameters of step 2
        (:class:`~snapstamps.psi.config.PsiParams` documents each).
    progress : optional callback with the completed fraction.
    workers : threads for the chunked work (``None``: all available CPUs); the result does not
        depend on it.
    """
    ph = np.asarray(ph)
    n_ps, n_ifg = ph.shape
    bperp_mat = np.asarray(bperp_mat)
    bperp = np.asarray(bperp, dtype=np.float64).ravel()
    xy = np.asarray(xy, dtype=np.float64)
    if n_ps == 0:
        raise InputError("estimate_gamma: no PS candidates in the patch")
    if bperp_mat.shape != (n_ps, n_ifg) or bperp.shape != (n_ifg,) or xy.shape != (n_ps, 2):
        raise InputError(
            f"estimate_gamma: inconsistent shapes ph {ph.shape}, bperp_mat {bperp_mat.shape}, "
            f"bperp {bperp.shape}, xy {xy.shape}"
        )
    report = progress or (lambda f: None)

    amp = np.abs(ph).astype(np.float32)
    ph_u = np.divide(ph, amp, out=np.zeros(ph.shape, np.complex64), where=amp > 0)

    inc_mean = float(np.mean(inc)) + INC_OFFSET
    ntw = _n_trial_wraps(float(bperp.max() - bperp.min()), max_topo_err, wavelength, inc_mean,
                         RHO_MEAN_RANGE)

    grid_size = float(filter_grid_size)
    grid_ij, n_i, n_j = grid_cells(xy, grid_size)
    n_win, n_pad = clap_window_sizes(clap_win)
    if n_i < n_win or n_j < n_win:
        raise ParameterError(
            f"filter_grid_size: {grid_size:g} m gives a {n_i} x {n_j}-cell CLAP grid over this "
            f"patch, fewer than the {n_win} cells step 2 needs; reduce filter_grid_size"
        )
    low_pass = clap_low_pass(grid_size, clap_low_pass_wavelength, clap_win)

    n_workers = resolve_workers(workers)
    coh_rand = random_phase_coherence(bperp, ntw, n_rand, rand_seed, workers=n_workers)
    Nr = coh_histogram(coh_rand)
    nz = np.flatnonzero(Nr > 0)
    Nr_max_nz_ix = int(nz[-1]) if nz.size else 0
    report(0.1)

    cell = grid_ij[:, 0] * n_j + grid_ij[:, 1]
    acc = sp.csc_matrix((np.ones(n_ps), (cell, np.arange(n_ps))), shape=(n_i * n_j, n_ps))
    chunk = max(1, _PIX_CHUNK_ELEMENTS // max(n_ifg, 1))
    pix_bounds = [(s, min(n_ps, s + chunk)) for s in range(0, n_ps, chunk)]

    da = np.asarray(da, dtype=np.float64).ravel()
    if da.size == n_ps:
        weighting = np.divide(1.0, da, out=np.ones(n_ps), where=da > 0)
    else:
        weighting = np.ones(n_ps)
    K_ps = np.zeros(n_ps)
    C_ps = np.zeros(n_ps)
    coh_ps = np.zeros(n_ps)
    ok = np.ones(n_ps, dtype=bool)
    ph_res = np.zeros((n_ps, n_ifg), dtype=np.float32)
    ph_patch = np.zeros((n_ps, n_ifg), dtype=np.complex64)
    coh_prev = np.zeros(n_ps)
    gamma_change_save = 0.0
    n_iter = gamma_max_iterations
    i_loop = 0
    while True:
        i_loop += 1
        # 1. weighted phasor sums per grid cell and ifg
        grid = np.zeros((n_i * n_j, n_ifg), dtype=np.complex128)
        for s, e in pix_bounds:
            w = ph_u[s:e] * np.exp(-1j * bperp_mat[s:e] * K_ps[s:e, None]) * weighting[s:e, None]
            grid += acc[:, s:e] @ w
        ph_grid = grid.reshape(n_i, n_j, n_ifg)
        # 2. CLAP filter every ifg's grid
        ph_filt = clap_filt(ph_grid, clap_alpha, clap_beta, n_win, n_pad, low_pass, workers=n_workers)
        # 3./4. patch phase at each candidate's cell and DEM-error / coherence fit
        K_ps = np.zeros(n_ps)
        C_ps = np.zeros(n_ps)
        coh_ps = np.zeros(n_ps)
        ph_res[:] = 0.0
        fit_chunk = functools.partial(
            _fit_chunk, ph_filt=ph_filt, grid_ij=grid_ij, ph_u=ph_u, bperp_mat=bperp_mat, ntw=ntw,
            ok=ok, K_ps=K_ps, C_ps=C_ps, coh_ps=coh_ps, ph_res=ph_res, ph_patch=ph_patch,
        )
        for _ in map_ordered(fit_chunk, pix_bounds, n_workers):
            pass
        # 5. convergence on the change of the rms gamma change (StaMPS semantics)
        rms = math.sqrt(float(np.mean((coh_ps - coh_prev) ** 2)))
        dd = rms - gamma_change_save
        gamma_change_save = rms
        coh_prev = coh_ps
        report(0.1 + 0.9 * min(i_loop / n_iter, 1.0))
        if abs(dd) < gamma_change_convergence or i_loop >= n_iter:
            break
        # 6. new weights
        if filter_weighting == "P-square":
            weighting = p_square_weighting(coh_ps, Nr, Nr_max_nz_ix)
        else:
            weighting = _snr_weighting(amp, ph_res.astype(np.float64))
        weighting = np.where(ok, weighting, 0.0)

    report(1.0)
    return GammaResult(
        K_ps=K_ps,
        C_ps=C_ps,
        coh_ps=coh_ps,
        ph_patch=ph_patch,
        ph_res=ph_res,
        ph_grid=ph_grid.astype(np.complex64),
        grid_ij=grid_ij,
        grid_size=grid_size,
        n_trial_wraps=ntw,
        Nr=Nr,
        Nr_max_nz_ix=Nr_max_nz_ix,
        low_pass=low_pass,
        n_iterations=i_loop,
    )
