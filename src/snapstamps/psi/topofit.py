"""Per-pixel fit of a look-angle (DEM) error term and temporal coherence (StaMPS ``ps_topofit``).

For a pixel with interferometric phasors ``z_k`` (k = 1..K interferograms, master x conj(slave))
and perpendicular baselines ``b_k`` (m), the model is ``z_k ~ exp(i (K b_k + C))``:

* ``K`` (rad per m of bperp) is proportional to the spatially uncorrelated DEM error,
* ``C`` (rad) is a constant offset (the master's own phase contribution).

The fit is a coarse grid search followed by one linearised refinement:

1. entries with ``z_k == 0`` are treated as missing; ``R`` = span of the remaining ``b_k``;
2. trial slopes ``K_t = t (pi/4) / R`` for integers ``|t| <= ceil(8 n_trial_wraps)`` (each step
   rotates the phase across the whole baseline span by pi/4); the trial maximising
   ``|sum_k z_k exp(-i K_t b_k)| / sum_k |z_k|`` wins (first one on ties);
3. the residual angles ``rho_k`` about their mean phasor are regressed on ``b_k`` **without an
   intercept**, weighted by ``|z_k|``: ``delta = sum w^2 b rho / sum w^2 b^2``; ``K = K_t + delta``;
4. ``res_k = z_k exp(-i K b_k)``, ``C = angle(sum res)``, ``gamma = |sum res| / sum |res|``.

As in StaMPS, the intercept-free refinement is exact only when the residual slope is zero or the
baselines are symmetric about 0; otherwise ``delta`` is biased towards 0 by the factor
``1 - mean(b)^2 / mean(b^2)`` (the coarse step bounds the error to ``pi/8`` across the span).
This is kept deliberately, because the random-phase reference distribution of gamma that the
selection thresholds rely on is computed with the same estimator.

Everything is vectorised over pixels; pixels are processed in chunks to bound memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["TopofitResult", "topofit", "n_trial_wraps", "trial_multipliers"]

# complex128 elements per working array in one chunk (1 MB each)
_CHUNK_ELEMENTS = 1 << 16


@dataclass
class TopofitResult:
    """Result of :func:`topofit` for N pixels and K interferograms."""

    K: np.ndarray  # (N,) rad per m of bperp
    C: np.ndarray  # (N,) rad
    coh: np.ndarray  # (N,) temporal coherence gamma in [0, 1]
    res: np.ndarray  # (N, K) complex residual phasors z * exp(-i K b) (0 where z == 0)


def n_trial_wraps(
    bperp_range: float,
    max_topo_err: float,
    wavelength: float,
    inc_mean: float,
    rho: float = 830000.0,
) -> float:
    """Number of phase wraps across the baseline span that the K search must cover.

    ``max_K = max_topo_err / (wavelength * rho * sin(inc_mean) / (4 pi))`` (rad per m of bperp) is
    the phase gradient produced by a DEM error of ``max_topo_err`` metres at slant range ``rho`` (m);
    the result is ``bperp_range * max_K / (2 pi)``.  ``inc_mean`` (rad) is used as given: StaMPS
    step 2 passes the mean incidence plus 0.052 rad.
    """
    max_k = max_topo_err / (wavelength * rho * math.sin(inc_mean) / (4.0 * math.pi))
    return float(bperp_range * max_k / (2.0 * math.pi))


def trial_multipliers(n_trial_wraps: float) -> NDArray[np.int64]:
    """Integer trial multipliers ``-ceil(8 n) .. ceil(8 n)`` of the coarse K search."""
    t = int(math.ceil(8.0 * float(n_trial_wraps)))
    return np.arange(-t, t + 1, dtype=np.int64)


def topofit(cpx: np.ndarray, bperp: np.ndarray, n_trial_wraps: float) -> TopofitResult:
    """Fit ``K`` (rad/m), ``C`` (rad) and the temporal coherence of each pixel.

    Parameters
    ----------
    cpx
        ``(N, K)`` complex phasors (any magnitude; magnitudes act as weights).  Exact zeros are
        ignored (missing data).
    bperp
        ``(N, K)`` per-pixel perpendicular baselines (m), or ``(K,)`` shared by all pixels.
    n_trial_wraps
        Half-width of the coarse search in phase wraps across the baseline span
        (see :func:`n_trial_wraps`).

    Returns
    -------
    TopofitResult
        ``K``, ``C``, ``coh`` as float64 ``(N,)`` and ``res`` complex128 ``(N, K)``.  Pixels with
        no valid entry get ``K = C = coh = 0``; pixels whose valid baselines have zero span get
        ``K = 0`` (no search) and the coherence of the plain mean phasor.
    """
    cpx = np.asarray(cpx)
    if cpx.ndim != 2:
        raise ValueError(f"cpx must be (N, K), got shape {cpx.shape}")
    n, k = cpx.shape
    bperp = np.asarray(bperp, dtype=np.float64)
    shared = bperp.ndim == 1
    if shared and bperp.shape[0] != k:
        raise ValueError(f"bperp has {bperp.shape[0]} entries for {k} interferograms")
    if not shared and bperp.shape != (n, k):
        raise ValueError(f"bperp shape {bperp.shape} does not match cpx {cpx.shape}")

    mults = trial_multipliers(n_trial_wraps)
    out_k = np.zeros(n)
    out_c = np.zeros(n)
    out_coh = np.zeros(n)
    out_res = np.zeros((n, k), dtype=np.complex128)
    step = max(1, _CHUNK_ELEMENTS // max(k, 1))
    for s in range(0, n, step):
        e = min(n, s + step)
        b = bperp if shared else bperp[s:e]
        kk, cc, coh, res = _topofit_chunk(cpx[s:e].astype(np.complex128, copy=False), b, mults)
        out_k[s:e], out_c[s:e], out_coh[s:e], out_res[s:e] = kk, cc, coh, res
    return TopofitResult(K=out_k, C=out_c, coh=out_coh, res=out_res)


def _topofit_chunk(
    z: NDArray[np.complex128], b: NDArray[np.float64], mults: NDArray[np.int64]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = z.shape[0]
    valid = z != 0
    all_valid = bool(valid.all())
    bb = np.broadcast_to(b, z.shape)
    if all_valid:
        if b.ndim == 1:
            span = np.full(n, b.max() - b.min()) if b.size else np.zeros(n)
        else:
            span = b.max(axis=1) - b.min(axis=1)
    else:
        bmax = np.where(valid, bb, -np.inf).max(axis=1)
        bmin = np.where(valid, bb, np.inf).min(axis=1)
        span = np.where(np.isfinite(bmax), bmax - bmin, 0.0)
    searchable = span > 0
    safe_span = np.where(searchable, span, 1.0)
    sum_abs = np.abs(z).sum(axis=1)
    inv_sum_abs = np.divide(1.0, sum_abs, out=np.zeros(n), where=sum_abs > 0)

    # --- coarse search over trial slopes K_t = t (pi/4) / span
    r = None  # z exp(-i K_t b) of the best trial, where the search gives it exactly
    if mults.size == 1 or not searchable.any():
        best_t = np.zeros(n)
    elif b.ndim == 1 and all_valid:
        # shared baselines and identical spans: one matrix product does all trials at once
        unit = (np.pi / 4.0) * b / span[0]
        trial = np.exp(-1j * np.outer(unit, mults.astype(np.float64)))  # (K, T)
        coh_t = np.abs(z @ trial) * inv_sum_abs[:, None]
        best = np.argmax(coh_t, axis=1)
        best_t = mults[best].astype(np.float64)
        r = z * trial.T[best]  # the phase ramp of the best trial, without a new exponential
    else:
        unit = (np.pi / 4.0) * bb / safe_span[:, None]  # (n, K) phase per unit multiplier
        step_ph = np.exp(-1j * unit)
        ph = np.exp(-1j * float(mults[0]) * unit)
        best_coh = np.full(n, -1.0)
        best_t = np.zeros(n)
        for t in mults:
            coh_t = np.abs((z * ph).sum(axis=1)) * inv_sum_abs
            better = coh_t > best_coh
            best_coh[better] = coh_t[better]
            best_t[better] = float(t)
            ph *= step_ph
    k0 = np.where(searchable, best_t * (np.pi / 4.0) / safe_span, 0.0)

    # --- one linearised, intercept-free weighted refinement of K
    if r is None:
        # (per-pixel baselines: the search above runs in the baselines' precision, float32
        # for StaMPS' bperp_mat, so the ramp is recomputed in double precision)
        r = z * np.exp(-1j * k0[:, None] * bb)
    offset = r.sum(axis=1)
    rho = np.angle(r * np.conj(offset)[:, None])
    w2 = np.abs(z) ** 2
    num = (w2 * bb * rho).sum(axis=1)
    den = (w2 * bb * bb).sum(axis=1)
    delta = np.divide(num, den, out=np.zeros(n), where=(den > 0) & searchable)
    kk = k0 + delta

    res = z * np.exp(-1j * kk[:, None] * bb)
    tot = res.sum(axis=1)
    cc = np.angle(tot)
    coh = np.abs(tot) * inv_sum_abs
    return kk, cc, coh, res
