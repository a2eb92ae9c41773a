"""Physics tests of the DEM-error / temporal-coherence fit (StaMPS ps_topofit)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snapstamps.psi.topofit import n_trial_wraps, topofit, trial_multipliers


def _naive_topofit(z: np.ndarray, b: np.ndarray, ntw: float) -> tuple[float, float, float]:
    """Straightforward one-pixel implementation of the algorithm, as written in the reference."""
    keep = z != 0
    z, b = z[keep], b[keep]
    span = b.max() - b.min()
    best, k0 = -1.0, 0.0
    for t in trial_multipliers(ntw):
        kt = t * (np.pi / 4) / span
        g = abs(np.sum(z * np.exp(-1j * kt * b))) / np.sum(abs(z))
        if g > best:
            best, k0 = g, kt
    r = z * np.exp(-1j * k0 * b)
    rho = np.angle(r * np.conj(r.sum()))
    w = abs(z)
    delta = np.linalg.lstsq((w * b)[:, None], w * rho, rcond=None)[0][0]
    k = k0 + delta
    res = z * np.exp(-1j * k * b)
    return k, float(np.angle(res.sum())), float(abs(res.sum()) / abs(res).sum())


def _symmetric_bperp(rng: np.random.Generator, half: int) -> np.ndarray:
    b = rng.normal(0.0, 80.0, half)
    return np.concatenate([b, -b])


def test_noise_free_recovery_exact_with_symmetric_baselines() -> None:
    rng = np.random.default_rng(0)
    n, ntw = 500, 0.5
    b = _symmetric_bperp(rng, 14)  # 28 ifgs, symmetric about 0
    span = b.max() - b.min()
    k_max = ntw * 2 * np.pi / span
    k_true = rng.uniform(-k_max, k_max, n)
    c_true = rng.uniform(-3.0, 3.0, n)
    z = np.exp(1j * (k_true[:, None] * b[None, :] + c_true[:, None]))
    fit = topofit(z, b, ntw)
    np.testing.assert_allclose(fit.K, k_true, atol=1e-6 * k_max, rtol=0)
    np.testing.assert_allclose(fit.K, k_true, rtol=1e-6)
    np.testing.assert_allclose(np.angle(np.exp(1j * (fit.C - c_true))), 0.0, atol=1e-6)
    np.testing.assert_allclose(fit.coh, 1.0, atol=1e-9)
    np.testing.assert_allclose(np.abs(fit.res), 1.0, atol=1e-12)


def test_noise_free_exact_on_trial_grid_with_asymmetric_baselines() -> None:
    rng = np.random.default_rng(1)
    b = rng.uniform(-50.0, 250.0, 29)  # mean far from 0
    span = b.max() - b.min()
    t = np.array([-3, -1, 0, 2, 3])
    k_true = t * (np.pi / 4) / span
    z = np.exp(1j * (k_true[:, None] * b[None, :] + 0.7))
    fit = topofit(z, b, 0.4)
    np.testing.assert_allclose(fit.K, k_true, atol=1e-12)
    np.testing.assert_allclose(fit.C, 0.7, atol=1e-9)
    np.testing.assert_allclose(fit.coh, 1.0, atol=1e-12)


def test_off_grid_asymmetric_error_bounded_by_half_trial_step() -> None:
    # StaMPS' intercept-free refinement is biased when mean(b) != 0, but the coarse search bounds
    # the residual to half a trial step (pi/8 across the span) and gamma stays close to 1.
    rng = np.random.default_rng(2)
    b = rng.uniform(-50.0, 250.0, 29)
    span = b.max() - b.min()
    k_true = rng.uniform(-0.4, 0.4, 300) * 2 * np.pi / span
    z = np.exp(1j * k_true[:, None] * b[None, :])
    fit = topofit(z, b, 0.5)
    assert np.max(np.abs(fit.K - k_true)) * span < np.pi / 8
    assert fit.coh.min() > 0.97


def test_noisy_recovery_within_cramer_rao_like_bound() -> None:
    rng = np.random.default_rng(3)
    n, sigma = 4000, 0.3
    b = _symmetric_bperp(rng, 15)  # 30 ifgs
    k_true = rng.uniform(-3e-3, 3e-3, n)
    z = np.exp(1j * (k_true[:, None] * b + rng.normal(0, sigma, (n, b.size))))
    fit = topofit(z, b, 0.5)
    # LS slope std for phase noise sigma: sigma / sqrt(sum(b^2))
    k_std = sigma / math.sqrt(np.sum(b**2))
    err = fit.K - k_true
    assert abs(err.mean()) < 3 * k_std / math.sqrt(n) + 1e-6
    assert err.std() < 1.3 * k_std
    # expected gamma for Gaussian phase noise ~ exp(-sigma^2/2)
    assert abs(fit.coh.mean() - math.exp(-sigma**2 / 2)) < 0.01


def test_matches_naive_implementation_and_per_pixel_path() -> None:
    rng = np.random.default_rng(4)
    n, k = 60, 25
    z = rng.normal(size=(n, k)) + 1j * rng.normal(size=(n, k))
    z[rng.random((n, k)) < 0.1] = 0  # missing entries
    bm = rng.normal(0, 100, k)[None, :] + rng.normal(0, 3, (n, k))
    fit = topofit(z, bm, 0.8)
    for i in range(n):
        kk, cc, coh = _naive_topofit(z[i], bm[i], 0.8)
        assert fit.K[i] == pytest.approx(kk, rel=1e-9, abs=1e-12)
        assert fit.C[i] == pytest.approx(cc, abs=1e-9)
        assert fit.coh[i] == pytest.approx(coh, rel=1e-9)
    # shared (K,) baselines: matrix-product path equals the per-pixel path
    zz = np.exp(1j * rng.uniform(0, 2 * np.pi, (200, k)))
    b = rng.normal(0, 100, k)
    a = topofit(zz, b, 0.8)
    c = topofit(zz, np.tile(b, (200, 1)), 0.8)
    np.testing.assert_allclose(a.K, c.K, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(a.coh, c.coh, rtol=1e-10)


def test_zero_entries_are_ignored() -> None:
    rng = np.random.default_rng(5)
    b = rng.normal(0, 100, 20)
    z = np.exp(1j * (2e-3 * b + rng.normal(0, 0.5, 20)))[None, :]
    z0 = z.copy()
    z0[0, [2, 5, 11]] = 0
    keep = np.ones(20, bool)
    keep[[2, 5, 11]] = False
    a = topofit(z0, b, 0.5)
    c = topofit(z[:, keep], b[keep], 0.5)
    assert a.K[0] == pytest.approx(c.K[0], rel=1e-12)
    assert a.coh[0] == pytest.approx(c.coh[0], rel=1e-12)
    assert np.all(a.res[0, ~keep] == 0)
    # a row of zeros gives gamma 0, no NaN
    e = topofit(np.zeros((2, 20), complex), b, 0.5)
    assert np.all(e.coh == 0) and np.all(np.isfinite(e.K))


def test_n_trial_wraps_sentinel1_value() -> None:
    # reference: S1, max_topo_err 20 m, 300 m span -> max_K ~ 0.0087 rad/m, ~0.4 wraps
    lam, inc = 0.05546576, math.radians(38.0) + 0.052
    ntw = n_trial_wraps(300.0, 20.0, lam, inc)
    max_k = 20.0 * 4 * math.pi / (lam * 830000.0 * math.sin(inc))
    assert ntw == pytest.approx(300.0 * max_k / (2 * math.pi), rel=1e-12)
    assert 0.35 < ntw < 0.45
    assert trial_multipliers(ntw).size == 2 * math.ceil(8 * ntw) + 1
