"""Atmospheric phase screen (APS) estimation that keeps deformation, and per-PS model fits.

StaMPS' step 8 high-passes every arc series in time with a moving mean: on short series, or
wherever the motion is not linear, the high-pass keeps part of the deformation, and the spatial
low-pass then removes it from the result.  Here the deformation is modelled explicitly instead:

* per PS, the unwrapped phase ``y`` (slaves, referenced) is fitted by weighted least squares on
  ``[1, bperp, tau, (tau^2 / 2), (sin 2 pi yr, cos 2 pi yr)]`` (``tau`` years from mid-span,
  ``yr`` calendar years): a constant (master APS), the DEM error ``K`` and the deformation model
  (linear, plus acceleration and/or seasonal terms, chosen per PS by the Bayesian information
  criterion unless fixed by the caller);
* the residual of the deformation model alone, ``r = y - C - D(t)`` (the DEM-error term is kept
  in ``r`` on purpose), is smoothed in space per date by a Gaussian of scale ``sigma`` with each
  PS' own value left out (leave-one-out): the DEM error is white in space, so its local mean is
  ~0, while the atmosphere is smooth, so the smoothed residual estimates the atmosphere
  *including* its part that looks like a baseline term (that part otherwise biases ``K``);
* ``sigma`` is chosen from the data: the scale among a geometric series that minimises the
  leave-one-out prediction error of ``r`` (a smaller scale lets noise through, a larger one
  misses the atmosphere's short wavelengths);
* the model is refitted to ``y - S``, and the per-date weights are updated to
  ``1 / (var(S_k) + var(noise_k))`` (the atmosphere is independent between dates, so the best
  linear unbiased estimate of the deformation weights each date by its total variance); repeat
  until the APS estimate changes by less than ``tol`` rad RMS.

What cannot be removed (stated as a bound in ``tests/test_aps.py``): the part of each date's
atmosphere that projects onto the deformation model.  An atmosphere that is independent between
dates is indistinguishable, PS by PS, from deformation along the model's time functions; its
effect on the velocity is what a weighted fit of the model to the atmosphere series gives.  So
the APS estimate improves the time series (each date loses its atmosphere) and the DEM error
(the atmosphere's baseline-like part is caught, being smooth in space while DEM errors are
not), while the model terms (velocity, acceleration, seasonality) come from the generalised
least-squares fit with the per-date APS + noise variances as weights
(:func:`point_products`).

All kernels are pure numpy/scipy; NaN = missing observation (gaps and irregular sampling are
handled through the per-PS normal equations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "MODEL_TERMS",
    "ApsResult",
    "ModelFit",
    "design_matrix",
    "fit_model",
    "select_terms",
    "loo_gaussian_filter",
    "choose_filter_scale",
    "estimate_aps",
    "fit_point_model",
    "date_quality",
]

_DAYS_PER_YEAR = 365.25
#: deformation model names understood by :func:`estimate_aps` and the terms each adds to linear
MODEL_TERMS: dict[str, tuple[bool, bool]] = {  # name: (acceleration, seasonal)
    "linear": (False, False),
    "acceleration": (True, False),
    "seasonal": (False, True),
    "full": (True, True),
}
ModelName = Literal["auto", "linear", "acceleration", "seasonal", "full"]


# ----------------------------------------------------------------------------- design and fits
def design_matrix(
    *, day: NDArray[Any], t_ref: float, bperp: NDArray[Any] | None, acceleration: bool, seasonal: bool
) -> NDArray[np.float64]:
    """Design ``(U, k)`` or ``(N, U, k)`` of the per-PS model, columns in this order:

    ``1``, [``bperp`` (m), if given], ``tau`` (years from ``t_ref``), [``tau^2 / 2``],
    [``sin(2 pi yr)``, ``cos(2 pi yr)``] with ``yr = day / 365.25``.  ``bperp`` may be ``(U,)``
    (shared) or ``(N, U)`` (per PS; the result is then per PS).
    """
    day = np.asarray(day, dtype=np.float64)
    tau = (day - t_ref) / _DAYS_PER_YEAR
    cols = [np.ones_like(tau), tau]
    if acceleration:
        cols.append(0.5 * tau**2)
    if seasonal:
        yr = 2.0 * np.pi * day / _DAYS_PER_YEAR
        cols += [np.sin(yr), np.cos(yr)]
    G = np.column_stack(cols)
    if bperp is None:
        return G
    b = np.asarray(bperp, dtype=np.float64)
    if b.ndim == 1:
        return np.column_stack([G[:, :1], b, G[:, 1:]])
    n = b.shape[0]
    Gn = np.broadcast_to(G[None], (n,) + G.shape)
    return np.concatenate([Gn[:, :, :1], b[:, :, None], Gn[:, :, 1:]], axis=2)


@dataclass
class ModelFit:
    """Per-PS weighted least-squares fit of ``y (N, U) ~ G m``."""

    coef: NDArray[Any]  # (N, k), NaN where too few observations
    cov: NDArray[Any]  # (N, k, k), (G^T W G)^-1 (unit-variance-weight covariance)
    rss: NDArray[Any]  # (N,) weighted residual sum of squares
    n_obs: NDArray[Any]  # (N,) finite observations used
    residual: NDArray[Any]  # (N, U) y - G m (NaN where y is NaN)


def fit_model(*, y: NDArray[Any], G: NDArray[Any], w: NDArray[Any] | None = None) -> ModelFit:
    """Weighted LS per row, batched through the normal equations (NaN entries drop out).

    ``G`` is ``(U, k)`` shared or ``(N, U, k)`` per row; ``w`` ``(U,)`` or ``(N, U)`` weights.
    """
    y = np.asarray(y, dtype=np.float64)
    n, u = y.shape
    G = np.asarray(G, dtype=np.float64)
    Gn = np.broadcast_to(G[None], (n,) + G.shape) if G.ndim == 2 else G
    k = Gn.shape[2]
    fin = np.isfinite(y)
    W = np.ones((n, u)) if w is None else np.broadcast_to(np.asarray(w, dtype=np.float64), (n, u))
    W = np.where(fin, W, 0.0)
    y0 = np.where(fin, y, 0.0)
    A = np.einsum("nuk,nu,nul->nkl", Gn, W, Gn)
    b = np.einsum("nuk,nu->nk", Gn, W * y0)
    n_obs = fin.sum(axis=1)
    cov = np.linalg.pinv(A)
    coef = np.einsum("nkl,nl->nk", cov, b)
    coef[n_obs < k] = np.nan
    pred = np.einsum("nuk,nk->nu", Gn, coef)
    res = np.where(fin, y - pred, np.nan)
    rss = np.nansum(W * np.where(fin, res, 0.0) ** 2, axis=1)
    return ModelFit(coef=coef, cov=cov, rss=rss, n_obs=n_obs, residual=res)


def select_terms(
    *, y: NDArray[Any], day: NDArray[Any], t_ref: float, bperp: NDArray[Any], w: NDArray[Any] | None, allowed: tuple[str, ...]
) -> NDArray[np.int64]:
    """Per-PS choice among the deformation models ``allowed`` (names of :data:`MODEL_TERMS`).

    Bayesian information criterion on the weighted residual: ``n log(rss / n) + k log n``.
    Returns ``(N,)`` indices into ``allowed``.
    """
    return _select_terms_fits(y=y, day=day, t_ref=t_ref, bperp=bperp, w=w, allowed=allowed)[0]


def _select_terms_fits(
    *, y: NDArray[Any], day: NDArray[Any], t_ref: float, bperp: NDArray[Any], w: NDArray[Any] | None, allowed: tuple[str, ...]
) -> tuple[NDArray[np.int64], list[NDArray[Any]]]:
    """:func:`select_terms` and the coefficients ``(N, k)`` of every PS under each allowed model."""
    y = np.asarray(y, dtype=np.float64)
    scores = []
    coefs = []
    for name in allowed:
        acc, seas = MODEL_TERMS[name]
        G = design_matrix(day=day, t_ref=t_ref, bperp=bperp, acceleration=acc, seasonal=seas)
        f = fit_model(y=y, G=G, w=w)
        coefs.append(f.coef)
        nobs = np.maximum(f.n_obs, 1)
        k = G.shape[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            scores.append(nobs * np.log(np.maximum(f.rss, 1e-30) / nobs) + k * np.log(nobs))
    return np.argmin(np.vstack(scores), axis=0).astype(np.int64), coefs


def _fit_selected(
    *, y: NDArray[Any], day: NDArray[Any], t_ref: float, bperp: NDArray[Any], w: NDArray[Any] | None, allowed: tuple[str, ...],
    choice: NDArray[Any], coefs: list[NDArray[Any]] | None = None
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Fit each PS with its chosen model; return (C, K, deformation (N, U)) in the units of ``y``.

    ``coefs``: the fits of every PS under each model with these ``y`` and ``w`` (from
    :func:`_select_terms_fits`), taken instead of fitting again.  :func:`fit_model` fits each PS on
    its own (per-row normal equations, one pseudo-inverse per PS), so a PS' coefficients are the
    same whether it is fitted with all PS or with those of its model.
    """
    n, u = y.shape
    C = np.full(n, np.nan)
    K = np.full(n, np.nan)
    D = np.zeros((n, u))
    for j, name in enumerate(allowed):
        sel = np.flatnonzero(choice == j)
        if not sel.size:
            continue
        acc, seas = MODEL_TERMS[name]
        b = bperp[sel] if np.ndim(bperp) == 2 else bperp
        G = design_matrix(day=day, t_ref=t_ref, bperp=b, acceleration=acc, seasonal=seas)
        if coefs is None:
            wj = None if w is None else (w[sel] if np.ndim(w) == 2 else w)
            coef = fit_model(y=y[sel], G=G, w=wj).coef
        else:
            coef = coefs[j][sel]
        Gn = np.broadcast_to(G[None], (sel.size,) + G.shape) if G.ndim == 2 else G
        C[sel] = coef[:, 0]
        K[sel] = coef[:, 1]
        D[sel] = np.einsum("nuk,nk->nu", Gn[:, :, 2:], coef[:, 2:])
    return C, K, D


# ----------------------------------------------------------------------------- spatial filter
def _grid_index(xy: NDArray[Any], sigma: float, max_cells: int) -> tuple[NDArray[Any], tuple[int, int], float]:
    lo = xy.min(axis=0)
    ext = np.ptp(xy, axis=0)
    cell = max(sigma / 2.0, float(np.sqrt((ext[0] + 8 * sigma) * (ext[1] + 8 * sigma) / max_cells)))
    pad = int(np.ceil(4.0 * sigma / cell)) + 1
    ij = np.floor((xy - lo) / cell).astype(np.int64) + pad
    shape = (int(ij[:, 1].max()) + pad + 1, int(ij[:, 0].max()) + pad + 1)  # (rows = y, cols = x)
    return ij[:, 1] * shape[1] + ij[:, 0], shape, cell


def loo_gaussian_filter(
    *,
    xy: NDArray[Any],
    values: NDArray[Any],
    sigma: float,
    point_weights: NDArray[Any] | None = None,
    max_cells: int = 2_000_000,
    leave_one_out: bool = True,
) -> NDArray[np.float64]:
    """Leave-one-out Gaussian smoothing of per-PS ``values`` (N, U) with std ``sigma`` (m).

    The values are summed into grid cells of ``sigma/2`` (coarser if the grid would exceed
    ``max_cells``), the sums and counts are smoothed by a Gaussian (truncated at 4 sigma), and
    each PS reads its own cell: ``(sum - g0 v_n) / (count - g0)``, with ``g0`` the kernel's
    centre weight, i.e. the weighted mean of the *other* PS.  ``point_weights`` (N,) weight the
    PS (e.g. inverse noise variances; default equal).  NaN values are ignored; a PS whose
    neighbours weigh less than a third of one neighbour at zero distance gets NaN.
    ``leave_one_out=False`` keeps each PS' own value in its mean (a plain normalised
    convolution).  Returns (N, U).
    """
    from scipy import ndimage  # on use: the products read this module's results without it

    xy = np.asarray(xy, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    n, u = v.shape
    out = np.full((n, u), np.nan)
    if n < 2:
        return out
    flat, shape, cell = _grid_index(xy, sigma, max_cells)
    s = sigma / cell
    fin = np.isfinite(v)
    pw = np.ones(n) if point_weights is None else np.nan_to_num(np.asarray(point_weights, dtype=np.float64))
    pw = pw / max(float(np.mean(pw)), 1e-300)
    wf = fin * pw[:, None]
    v0 = np.where(fin, v, 0.0) * wf
    ncell = shape[0] * shape[1]
    # per (cell, column) sums, each added up from 0 in PS order (as np.add.at would, faster)
    idx = (flat[:, None] * u + np.arange(u)).ravel()
    sums = np.bincount(idx, weights=v0.ravel(), minlength=ncell * u).reshape(ncell, u)
    cnts = np.bincount(idx, weights=wf.ravel(), minlength=ncell * u).reshape(ncell, u)
    del idx
    sums = ndimage.gaussian_filter(sums.reshape(shape + (u,)), (s, s, 0), mode="constant", truncate=4.0).reshape(ncell, u)
    cnts = ndimage.gaussian_filter(cnts.reshape(shape + (u,)), (s, s, 0), mode="constant", truncate=4.0).reshape(ncell, u)
    imp = np.zeros((int(8 * s) + 3,) * 2)
    c = imp.shape[0] // 2
    imp[c, c] = 1.0
    g0 = float(ndimage.gaussian_filter(imp, s, mode="constant", truncate=4.0)[c, c])
    if leave_one_out:
        num, den = sums[flat] - g0 * v0, cnts[flat] - g0 * wf
        ok = den > g0 / 3.0
    else:
        num, den = sums[flat], cnts[flat]
        ok = den > 1e-9 * g0
    out[ok] = num[ok] / den[ok]
    return out


#: smallest Gaussian scale (m) tried for the APS filter.  Below ~100 m the leave-one-out error is
#: won by the close neighbours of each scatterer (side-lobe pixels of one point target share its
#: DEM error and noise), and the "atmosphere" becomes a copy of those; the troposphere has little
#: power at such scales.  Measured on the 12-date SAFE-simulated stack of test_ifg_end_to_end:
#: a 10 m floor gave a 10 m filter and a DEM error RMS of 2.92 m, 100 m gives 1.34 m (as SCLA).
MIN_APS_SCALE_M = 100.0


def choose_filter_scale(*, xy: NDArray[Any], residual: NDArray[Any], candidates: NDArray[Any] | None = None) -> tuple[float, dict[float, float]]:
    """The Gaussian scale (m) minimising the leave-one-out prediction error of ``residual`` (N, U).

    Candidates default to a geometric series from twice the median nearest-neighbour spacing
    (at least :data:`MIN_APS_SCALE_M`)
    to half the smaller scene extent (at most 10 values).  Returns the scale and the mean
    squared prediction error of every candidate.
    """
    from scipy.spatial import cKDTree

    xy = np.asarray(xy, dtype=np.float64)
    if candidates is None:
        d, _ = cKDTree(xy).query(xy, k=2)
        lo = max(2.0 * float(np.median(d[:, 1])), MIN_APS_SCALE_M)
        hi = max(0.5 * float(np.min(np.ptp(xy, axis=0))), 0.25 * float(np.max(np.ptp(xy, axis=0))), 2 * lo)
        candidates = np.geomspace(lo, hi, num=int(min(10, max(3, np.ceil(np.log2(hi / lo)) + 1))))
    errs: dict[float, float] = {}
    for sig in np.asarray(candidates, dtype=np.float64):
        pred = loo_gaussian_filter(xy=xy, values=residual, sigma=float(sig))
        e = (np.asarray(residual) - pred) ** 2
        errs[float(sig)] = float(np.nanmean(e)) if np.isfinite(e).any() else np.inf
    best = min(errs, key=lambda k: errs[k])
    return best, errs


# ----------------------------------------------------------------------------- the estimator
@dataclass
class ApsResult:
    """APS estimate and the deformation-model fit of ``N`` PS over ``M`` images."""

    ph_aps: NDArray[Any]  # (N, M) float32 rad, atmosphere (slave minus master) per image; 0 at the master / unused images
    K_ps: NDArray[Any]  # (N,) rad/m, DEM error re-estimated on the phase with the APS removed
    C_ps: NDArray[Any]  # (N,) rad, constant (master APS)
    model_ix: NDArray[Any]  # (N,) int, index into ``models`` of each PS' deformation model
    models: NDArray[Any]  # (P,) str, names of the candidate models (MODEL_TERMS keys)
    weights: NDArray[Any]  # (M,) 1/rad^2 per image used in the fits; 0 at the master / unused images
    sigma_aps: NDArray[Any]  # (M,) rad, spatial std of the APS estimate per image (NaN where unused)
    sigma_noise: NDArray[Any]  # (M,) rad, std of what is left (noise) per image (NaN where unused)
    filter_scale: NDArray[Any]  # () m, Gaussian scale of the spatial filter
    t_ref: NDArray[Any]  # () day, reference time of the model (mid-span)
    n_iter: NDArray[Any]  # () iterations run
    converged: NDArray[Any]  # () bool


def _mean_leverage(*, day: NDArray[Any], t_ref: float, w: NDArray[Any], allowed: tuple[str, ...], choice: NDArray[Any]) -> NDArray[np.float64]:
    """Leverage ``h_kk`` of every date in the weighted fit of the deformation model (constant and
    time terms, no baseline term), averaged over the PS' chosen models.  (U,)"""
    counts = np.bincount(choice, minlength=len(allowed)).astype(np.float64)
    lev = np.zeros(np.size(day))
    for j, name in enumerate(allowed):
        if counts[j] == 0:
            continue
        acc, seas = MODEL_TERMS[name]
        G = design_matrix(day=day, t_ref=t_ref, bperp=None, acceleration=acc, seasonal=seas)
        Ginv = np.linalg.pinv(G.T @ (G * w[:, None]))
        lev += counts[j] * w * np.einsum("uk,kl,ul->u", G, Ginv, G)
    return lev / max(counts.sum(), 1.0)


def _reference(ph: NDArray[Any], ref_mask: NDArray[Any] | None) -> NDArray[Any]:
    if ref_mask is None or not np.any(ref_mask):
        return ph
    return ph - np.nanmean(ph[np.asarray(ref_mask, bool)], axis=0, keepdims=True)


def estimate_aps(
    *,
    ph: NDArray[Any],
    bperp_full: NDArray[Any],
    day: NDArray[Any],
    master_ix: int,
    xy: NDArray[Any],
    columns: NDArray[Any],
    ref_mask: NDArray[Any] | None = None,
    model: ModelName = "auto",
    filter_scale: float = 0.0,
    max_iter: int = 10,
    tol: float = 0.01,
) -> ApsResult:
    """Estimate the APS of every image, keeping deformation (see the module docstring).

    ``ph`` (N, M) unwrapped phase (rad, master column 0, NaN = missing), ``bperp_full`` (N, M)
    or (M,) m, ``day`` (M,) days, ``xy`` (N, 2) m, ``columns`` the 0-based image columns to use
    (the master is ignored if listed), ``ref_mask`` (N,) reference PS (None: no referencing).
    ``model`` is a name of :data:`MODEL_TERMS` or ``'auto'`` (per-PS BIC among the models the
    time span supports: seasonal terms need at least a year).  ``filter_scale`` in m, 0 = chosen
    by leave-one-out cross-validation.  Iterates until the APS changes by < ``tol`` rad RMS.
    """
    ph = np.asarray(ph, dtype=np.float64)
    n, m = ph.shape
    day = np.asarray(day, dtype=np.float64)
    bp = np.asarray(bperp_full, dtype=np.float64)
    bp = np.broadcast_to(bp[None, :], (n, m)) if bp.ndim == 1 else bp
    cols = np.array([c for c in np.asarray(columns, dtype=np.int64).ravel() if c != master_ix], dtype=np.int64)
    t_ref = 0.5 * (float(day.min()) + float(day.max()))
    span = float(day[cols].max() - day[cols].min()) if cols.size else 0.0
    if model == "auto":
        allowed = ("linear", "acceleration") + (("seasonal", "full") if span >= _DAYS_PER_YEAR else ())
    elif model in MODEL_TERMS:
        allowed = (model,)
    else:
        raise ValueError(f"unknown deformation model {model!r}; expected auto or one of {', '.join(MODEL_TERMS)}")
    def n_par(a: str) -> int:
        return 3 + int(MODEL_TERMS[a][0]) + 2 * int(MODEL_TERMS[a][1])

    if model == "auto":  # only the models the series can carry (two spare observations at least)
        allowed = tuple(a for a in allowed if cols.size >= n_par(a) + 2) or ("linear",)
    if cols.size < n_par(allowed[-1]) + 2:
        raise ValueError(f"{cols.size} usable images are too few for the {allowed[-1]} model (need {n_par(allowed[-1]) + 2})")

    y = _reference(ph[:, cols], ref_mask)
    b = bp[:, cols]
    d = day[cols]
    u = cols.size
    w = np.ones(u)
    S = np.zeros((n, u))
    sigma = float(filter_scale)
    converged = False
    it = 0
    choice = np.zeros(n, dtype=np.int64)
    pw = np.ones(n)
    for it in range(1, max_iter + 1):  # noqa: B007 (it is reported after the loop)
        yc = y - S
        coefs = None
        if len(allowed) > 1:
            choice, coefs = _select_terms_fits(y=yc, day=d, t_ref=t_ref, bperp=b, w=w, allowed=allowed)
        C, K, D = _fit_selected(y=yc, day=d, t_ref=t_ref, bperp=b, w=w, allowed=allowed, choice=choice, coefs=coefs)
        r = y - C[:, None] - D  # atmosphere + DEM-error term + noise
        r = np.where(np.isfinite(C)[:, None], r, np.nan)
        if sigma <= 0:
            sigma, _ = choose_filter_scale(xy=xy, residual=r - K[:, None] * b)
        # the spatially white part of the DEM-error term is noise to the filter: take it out, but
        # leave its smooth part (the atmosphere's baseline-like component) for the filter to see
        K0 = np.nan_to_num(K)
        K_hp = K0 - loo_gaussian_filter(xy=xy, values=K0[:, None], sigma=sigma)[:, 0]
        S_new = loo_gaussian_filter(xy=xy, values=r - np.nan_to_num(K_hp)[:, None] * b, sigma=sigma, point_weights=pw)
        S_new = np.nan_to_num(_reference(S_new, ref_mask), nan=0.0)
        change = float(np.sqrt(np.mean((S_new - S) ** 2)))
        S = S_new
        e = r - K[:, None] * b - S
        noise = np.nanvar(e, axis=0)
        pw = 1.0 / np.maximum(np.nanmean(e**2 * w[None, :], axis=1) / np.mean(w), 1e-6)  # per-PS inverse noise variance
        # S holds only the part of each date's atmosphere the deformation model did not absorb:
        # (1 - leverage) of its variance, so divide by that (else dates where the model absorbs
        # most, the ends of the series, look quiet, get more weight and absorb even more)
        lev = _mean_leverage(day=d, t_ref=t_ref, w=w, allowed=allowed, choice=choice)
        w = 1.0 / np.maximum((np.var(S, axis=0) + noise) / np.maximum(1.0 - lev, 0.05), 1e-6)
        w = w / w.mean()
        if change < tol:
            converged = True
            break
    yc = y - S
    w_left = 1.0 / np.maximum(noise, 1e-6)  # what corrupts the corrected phase: noise and left-over APS
    C, K, _ = _fit_selected(y=yc, day=d, t_ref=t_ref, bperp=b, w=w_left / w_left.mean(), allowed=allowed, choice=choice)

    ph_aps = np.zeros((n, m), dtype=np.float32)
    ph_aps[:, cols] = S
    weights = np.zeros(m)
    weights[cols] = w
    s_aps = np.full(m, np.nan)
    s_aps[cols] = np.std(S, axis=0)
    s_noise = np.full(m, np.nan)
    s_noise[cols] = np.sqrt(np.nanvar(y - S - C[:, None] - K[:, None] * b - _fit_selected(
        y=yc, day=d, t_ref=t_ref, bperp=b, w=w, allowed=allowed, choice=choice)[2], axis=0))
    return ApsResult(
        ph_aps=ph_aps, K_ps=K, C_ps=C, model_ix=choice, models=np.array(allowed), weights=weights,
        sigma_aps=s_aps, sigma_noise=s_noise, filter_scale=np.array(sigma), t_ref=np.array(t_ref),
        n_iter=np.array(it), converged=np.array(converged),
    )


# ----------------------------------------------------------------------------- per-PS products
def _ar1(res: NDArray[Any]) -> NDArray[np.float64]:
    """Lag-1 autocorrelation of each row of a residual series (NaN-aware, consecutive finite pairs)."""
    a, b = res[:, :-1], res[:, 1:]
    ok = np.isfinite(a) & np.isfinite(b)
    a0, b0 = np.where(ok, a, 0.0), np.where(ok, b, 0.0)
    den = np.sqrt(np.nansum(np.where(np.isfinite(res), res, 0.0) ** 2, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (a0 * b0).sum(axis=1) / den**2
    return np.nan_to_num(rho, nan=0.0)


def fit_point_model(
    *,
    ph: NDArray[Any],
    day: NDArray[Any],
    columns: NDArray[Any],
    t_ref: float,
    wavelength: float,
    weights: NDArray[Any] | None = None,
    acceleration: bool = True,
    seasonal: bool = True,
) -> dict[str, NDArray[Any]]:
    """EGMS-style model terms of every PS from a corrected phase series (DEM error, APS removed).

    Fits ``[1, tau, (tau^2/2), (sin, cos)]`` per PS over ``columns`` with ``weights`` (per
    image) and returns, in mm and years (positive toward the satellite): ``mean_velocity``
    (velocity at ``t_ref``), ``acceleration`` (mm/yr^2), ``seasonality`` (amplitude, mm) and
    their ``*_std``, and ``rmse`` (mm, RMS of the residual).  The standard deviations are the
    formal ones scaled by the residual variance and inflated for the residual's temporal
    correlation: lag-1 autocorrelation ``rho`` (clipped to [0, 0.9]) multiplies the variances
    by ``(1 + rho) / (1 - rho)`` (an AR(1) residual has that many fewer independent samples).
    Terms not requested come back as NaN.
    """
    ph = np.asarray(ph, dtype=np.float64)
    n = ph.shape[0]
    cols = np.asarray(columns, dtype=np.int64)
    d = np.asarray(day, dtype=np.float64)[cols]
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[cols]
    mm = -wavelength * 1000.0 / (4.0 * np.pi)  # rad -> mm toward the satellite
    G = design_matrix(day=d, t_ref=t_ref, bperp=None, acceleration=acceleration, seasonal=seasonal)
    f = fit_model(y=ph[:, cols] * mm, G=G, w=w)
    k = G.shape[1]
    wn = np.ones(cols.size) if w is None else w / np.mean(w)
    dof = np.maximum(f.n_obs - k, 1)
    fin = np.isfinite(f.residual)
    s2 = np.nansum(np.where(fin, wn * f.residual**2, 0.0), axis=1) / dof  # variance of unit weight
    order = np.argsort(d)
    rho = np.clip(_ar1(f.residual[:, order]), 0.0, 0.9)
    infl = (1.0 + rho) / (1.0 - rho)
    if w is not None:  # cov was computed with raw weights; rescale to normalised weights
        cov = f.cov * np.mean(w)
    else:
        cov = f.cov
    var = cov * (s2 * infl)[:, None, None]
    out: dict[str, NDArray[Any]] = {
        "mean_velocity": f.coef[:, 1],
        "mean_velocity_std": np.sqrt(var[:, 1, 1]),
        "rmse": np.sqrt(np.nanmean(np.where(fin, f.residual, np.nan) ** 2, axis=1)),
        "acceleration": np.full(n, np.nan),
        "acceleration_std": np.full(n, np.nan),
        "seasonality": np.full(n, np.nan),
        "seasonality_std": np.full(n, np.nan),
    }
    j = 2
    if acceleration:
        out["acceleration"] = f.coef[:, j]
        out["acceleration_std"] = np.sqrt(var[:, j, j])
        j += 1
    if seasonal:
        s, c = f.coef[:, j], f.coef[:, j + 1]
        amp = np.hypot(s, c)
        with np.errstate(invalid="ignore", divide="ignore"):
            va = (s**2 * var[:, j, j] + c**2 * var[:, j + 1, j + 1] + 2 * s * c * var[:, j, j + 1]) / amp**2
        out["seasonality"] = amp
        out["seasonality_std"] = np.sqrt(np.where(amp > 0, va, 0.5 * (var[:, j, j] + var[:, j + 1, j + 1])))
    return out


def date_quality(*, sigma_aps: NDArray[Any], sigma_noise: NDArray[Any], z_threshold: float = 3.0) -> dict[str, NDArray[Any]]:
    """Per-date quality: total phase noise ``hypot(sigma_aps, sigma_noise)`` (rad) and the dates
    that stand out (robust z-score above ``z_threshold``: median and 1.4826 MAD over the dates).
    """
    tot = np.hypot(np.asarray(sigma_aps, np.float64), np.asarray(sigma_noise, np.float64))
    ok = np.isfinite(tot)
    flag = np.zeros(tot.shape, dtype=bool)
    if ok.sum() >= 3:
        med = np.median(tot[ok])
        mad = 1.4826 * np.median(np.abs(tot[ok] - med))
        if mad > 0:
            flag[ok] = (tot[ok] - med) / mad > z_threshold
    return {"sigma_total": tot, "outlier": flag}


#: PS per block of :func:`_fit_point_model_blocks`: the fits are per PS, so blocks bound the
#: (N, U) and (N, k, k) temporaries without changing any value.
POINT_BLOCK = 4096


def _fit_point_model_blocks(*, ph: NDArray[Any], **kw: Any) -> dict[str, NDArray[Any]]:
    """:func:`fit_point_model` over blocks of :data:`POINT_BLOCK` PS, concatenated."""
    n = ph.shape[0]
    if n <= POINT_BLOCK:
        return fit_point_model(ph=ph, **kw)
    parts = [fit_point_model(ph=ph[i : i + POINT_BLOCK], **kw) for i in range(0, n, POINT_BLOCK)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def point_products(
    *,
    ph_corrected: NDArray[Any],
    ph_dem_corrected: NDArray[Any],
    day: NDArray[Any],
    columns: NDArray[Any],
    t_ref: float,
    wavelength: float,
    weights: NDArray[Any],
    model_ix: NDArray[Any],
    models: NDArray[Any],
) -> dict[str, NDArray[Any]]:
    """EGMS point columns of every PS (mm, mm/yr, mm/yr^2; positive toward the satellite).

    ``ph_corrected`` (N, M) has the DEM error, the constant and the APS estimate removed,
    ``ph_dem_corrected`` only the DEM error and the constant (both referenced, master column 0).

    The model terms are the generalised least-squares estimates: fits of ``ph_dem_corrected``
    with the per-image ``weights`` (inverse APS + noise variances).  Subtracting the APS
    estimate first cannot improve them, since the part of an atmosphere independent between
    dates that lies along the model's time functions is not in the estimate, and its other part
    is orthogonal to the model; in practice it only adds the estimate's own error.

    * ``mean_velocity`` (+ ``_std``): velocity at ``t_ref`` of each PS' own deformation model
      (``model_ix`` into ``models``);
    * ``acceleration``, ``seasonality`` (amplitude) (+ ``_std``): the full model (seasonality
      NaN when the images span less than a year: it cannot be told from the other terms);
    * the ``*_std`` hold the atmosphere (it is in the residual) and are inflated for the
      residual's lag-1 autocorrelation (see :func:`fit_point_model`);
    * ``rmse``: RMS residual (mm) of the full model on ``ph_corrected`` (the point's noise once
      the atmosphere is removed).
    """
    cols = np.asarray(columns, dtype=np.int64)
    n = ph_corrected.shape[0]
    span = float(np.ptp(np.asarray(day, np.float64)[cols])) if cols.size else 0.0
    seas_ok = span >= _DAYS_PER_YEAR
    kw: dict[str, Any] = dict(day=day, columns=cols, t_ref=t_ref, wavelength=wavelength, weights=weights)
    out = {"mean_velocity": np.full(n, np.nan), "mean_velocity_std": np.full(n, np.nan)}
    for j, name in enumerate(np.asarray(models).tolist()):
        sel = np.flatnonzero(np.asarray(model_ix) == j)
        if not sel.size:
            continue
        acc, seas = MODEL_TERMS[name]
        f = _fit_point_model_blocks(ph=ph_dem_corrected[sel], acceleration=acc, seasonal=seas, **kw)
        out["mean_velocity"][sel] = f["mean_velocity"]
        out["mean_velocity_std"][sel] = f["mean_velocity_std"]
    full = _fit_point_model_blocks(ph=ph_dem_corrected, acceleration=True, seasonal=seas_ok, **kw)
    out["rmse"] = _fit_point_model_blocks(ph=ph_corrected, acceleration=True, seasonal=seas_ok, **kw)["rmse"]
    for name in ("acceleration", "seasonality"):
        out[name] = full[name]
        out[f"{name}_std"] = full[f"{name}_std"]
    return out
