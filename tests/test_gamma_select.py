"""Tests of StaMPS steps 2 (temporal coherence) and 3 (PS selection) on synthetic candidates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snapstamps.errors import ParameterError
from snapstamps.psi.clap import clap_filt_patch
from snapstamps.psi.config import PsiParams
from snapstamps.psi.gamma import (
    coh_histogram,
    estimate_gamma,
    grid_cells,
    p_square_weighting,
    random_phase_coherence,
)
from snapstamps.psi.geometry import dem_error_phase_per_m
from snapstamps.psi.select import bin_threshold, select_ps

LAMBDA = 0.05546576
EXTENT = 1500.0  # m
N_CAND, N_IFG, PS_FRACTION = 2000, 29, 0.15


def make_scene(seed: int = 1, noise: float = 0.3) -> tuple[dict, np.ndarray, np.ndarray]:
    """~2000 candidates on 1.5 x 1.5 km, 29 ifgs; 15 % PS with a subsidence bowl, a smooth
    atmosphere per ifg, a DEM error and phase noise ``noise`` (rad); the rest random phase."""
    rng = np.random.default_rng(seed)
    n = N_CAND
    xy = rng.uniform(0, EXTENT, size=(n, 2))
    is_ps = np.zeros(n, bool)
    is_ps[rng.choice(n, int(PS_FRACTION * n), replace=False)] = True
    bperp = rng.normal(0, 60, N_IFG)
    bperp_mat = (bperp[None, :] * (1 + 0.002 * (xy[:, :1] / EXTENT - 0.5))).astype(np.float32)
    t = (np.arange(N_IFG) - N_IFG // 2) * 12 / 365.25
    t[t >= 0] += 12 / 365.25  # master in the middle, not an ifg
    v = 0.02 * np.exp(-((xy[:, 0] - 900) ** 2 + (xy[:, 1] - 600) ** 2) / (2 * 400.0**2))  # m/yr
    defo = -(4 * np.pi / LAMBDA) * v[:, None] * t[None, :]
    atm = np.zeros((n, N_IFG))
    for _ in range(3):
        kx, ky = rng.normal(0, 2 * np.pi / 4000, size=(2, N_IFG))
        atm += rng.uniform(0.2, 0.6, N_IFG) * np.cos(
            kx * xy[:, :1] + ky * xy[:, 1:] + rng.uniform(0, 2 * np.pi, N_IFG)
        )
    inc = np.full(n, np.deg2rad(39.0))
    dh = rng.uniform(-15, 15, n)
    k_true = dh * dem_error_phase_per_m(850000.0, inc, LAMBDA)
    c = 0.8 + rng.normal(0, 0.3, n)  # master contribution
    phase = defo + atm + k_true[:, None] * bperp_mat + c[:, None] + rng.normal(0, noise, (n, N_IFG))
    phase = np.where(is_ps[:, None], phase, rng.uniform(0, 2 * np.pi, (n, N_IFG)))
    amp = rng.uniform(0.5, 2.0, (n, 1))
    ph = (amp * np.exp(1j * phase)).astype(np.complex64)
    da = np.where(is_ps, rng.uniform(0.1, 0.3, n), rng.uniform(0.25, 0.4, n)).astype(np.float32)
    data = dict(ph=ph, bperp_mat=bperp_mat, bperp=bperp_mat.mean(0).astype(np.float64), xy=xy, da=da,
                inc=inc, wavelength=LAMBDA)
    return data, is_ps, k_true


def _params(**kw) -> PsiParams:
    # 40 m cells: 37 x 37 cells on 1.5 km (>= clap_win = 32 needed by step 3)
    return PsiParams(**{"filter_grid_size": 40.0, "n_rand": 20000, **kw})


@pytest.fixture(scope="module")
def scene():
    return make_scene()


@pytest.fixture(scope="module")
def step2(scene):
    data, _, _ = scene
    return estimate_gamma(**data, **_params().kernel_args(estimate_gamma))


def _select(scene, gamma, **kw):
    data, _, _ = scene
    return select_ps(data["ph"], data["bperp_mat"], data["bperp"], data["xy"], data["da"], gamma,
                     **_params(**{k: v for k, v in kw.items() if k != "drop_ifg"}).kernel_args(select_ps),
                     drop_ifg=kw.get("drop_ifg", ()))


def _scores(is_ps: np.ndarray, chosen: np.ndarray) -> tuple[float, float, int]:
    m = np.zeros(is_ps.size, bool)
    m[chosen] = True
    tp = int((m & is_ps).sum())
    return tp / is_ps.sum(), tp / max(m.sum(), 1), int((m & ~is_ps).sum())


# ---------------------------------------------------------------- random-phase reference
def test_random_phase_gamma_distribution() -> None:
    b = np.random.default_rng(0).normal(0, 60, N_IFG)
    a = random_phase_coherence(b, 0.3, 20000, seed=1)
    c = random_phase_coherence(b, 0.3, 20000, seed=2)
    ks = np.max(np.abs(np.searchsorted(np.sort(a), np.linspace(0, 1, 501)) -
                       np.searchsorted(np.sort(c), np.linspace(0, 1, 501)))) / 20000
    assert ks < 0.025  # 99.9 % two-sample KS critical value for n=20000 is ~0.0195
    # deterministic for a seed
    np.testing.assert_array_equal(a, random_phase_coherence(b, 0.3, 20000, seed=1))
    # without a baseline span there is no K search: gamma = |mean of 29 random unit phasors|,
    # whose mean is sqrt(pi / (4 K)) (Rayleigh) = 0.1646 for K = 29
    flat = random_phase_coherence(np.full(N_IFG, 100.0), 0.3, 20000, seed=3)
    assert flat.mean() == pytest.approx(math.sqrt(math.pi / (4 * N_IFG)), rel=0.015)
    # the K search can only increase gamma, more trials -> higher gamma
    assert 0.19 < a.mean() < 0.26
    wide = random_phase_coherence(b, 2.0, 20000, seed=1)
    assert wide.mean() > a.mean() + 0.03
    assert np.mean(a > 0.5) < 0.01


def test_coh_histogram_bins() -> None:
    # centres 0.005..0.995, edges halfway (0.01, 0.02, ...), first/last bins open, NaN ignored
    h = coh_histogram(np.array([-0.1, 0.0, 0.0099, 0.0101, 0.0199, 0.0201, 0.505, 0.9901, 1.0, 1.2, np.nan]))
    assert h.sum() == 10
    assert h[0] == 3 and h[1] == 2 and h[2] == 1 and h[50] == 1 and h[99] == 3


def test_grid_cells_fold_last_partial_row() -> None:
    xy = np.array([[0.0, 0.0], [95.0, 10.0], [120.0, 260.0], [249.0, 130.0]])
    ij, n_i, n_j = grid_cells(xy, 50.0)
    # y: ceil((v+1e-6)/50) -> [1, 1, 6, 3]; the max row 6 folds to 5; 0-based rows [0,0,4,2]
    np.testing.assert_array_equal(ij[:, 0], [0, 0, 4, 2])
    np.testing.assert_array_equal(ij[:, 1], [0, 1, 2, 3])
    assert (n_i, n_j) == (5, 4)


def test_p_square_weighting_shape() -> None:
    b = np.random.default_rng(0).normal(0, 60, N_IFG)
    nr = coh_histogram(random_phase_coherence(b, 0.3, 20000, seed=1))
    last = int(np.flatnonzero(nr)[-1])
    coh = np.concatenate([random_phase_coherence(b, 0.3, 5000, seed=4),
                          np.random.default_rng(1).uniform(0.85, 0.99, 1000)])
    w = p_square_weighting(np.array([0.05, 0.2, 0.3, 0.95, 1.0]), nr, last)
    assert np.all(w[:3] < 0.01)  # random-phase range: weight ~0
    assert np.all(w[3:] > 0.98)  # beyond the random distribution: weight ~1
    wc = p_square_weighting(coh, nr, last)
    assert np.all(np.isfinite(wc)) and wc.min() > -0.05 and wc.max() < 1.1
    assert np.mean(wc[5000:]) > 0.95 and np.mean(wc[:5000]) < 0.1


def test_bin_threshold_passes_requested_number_of_random_pixels() -> None:
    b = np.random.default_rng(0).normal(0, 60, N_IFG)
    nr = coh_histogram(random_phase_coherence(b, 0.3, 100000, seed=1))
    rand = random_phase_coherence(b, 0.3, 20000, seed=5)
    ps = np.random.default_rng(2).uniform(0.8, 1.0, 3000)
    for allowed in (20.0, 100.0, 400.0):
        th = bin_threshold(np.concatenate([rand, ps]), nr, allowed, "DENSITY")
        n_false = int(np.sum(rand > th))
        assert 0.6 * allowed < n_false < 1.5 * allowed, (allowed, th, n_false)
    th = bin_threshold(np.concatenate([rand, ps]), nr, 1.0, "PERCENT")
    sel = np.concatenate([rand, ps]) > th
    assert np.sum(rand > th) / sel.sum() < 0.02


# ---------------------------------------------------------------- steps 2 and 3 end to end
def test_step2_separates_ps_from_random(scene, step2) -> None:
    _, is_ps, k_true = scene
    g = step2
    # PS phase noise 0.3 rad -> gamma ~ exp(-0.045) = 0.956
    assert np.median(g.coh_ps[is_ps]) > 0.93
    assert np.mean(g.coh_ps[~is_ps]) < 0.32
    assert np.corrcoef(g.K_ps[is_ps], k_true[is_ps])[0, 1] > 0.85
    assert g.ph_patch.dtype == np.complex64 and g.ph_res.dtype == np.float32
    assert g.ph_grid.shape == (37, 37, N_IFG)
    np.testing.assert_allclose(np.abs(g.ph_patch), 1.0, atol=1e-5)
    assert 1 <= g.n_iterations <= 3
    assert g.Nr.sum() == 20000 and g.Nr[g.Nr_max_nz_ix] > 0 and g.Nr[g.Nr_max_nz_ix + 1:].sum() == 0


def test_select_recall_precision_density(scene, step2) -> None:
    _, is_ps, k_true = scene
    s = _select(scene, step2, density_rand=2.0)  # 4.5 random pixels allowed on 2.25 km2
    recall, precision, _ = _scores(is_ps, s.ix[s.keep_ix])
    assert recall >= 0.97 and precision >= 0.97
    keep = s.ix[s.keep_ix]
    m = is_ps[keep]
    assert np.corrcoef(s.K_ps2[s.keep_ix][m], k_true[keep][m])[0, 1] > 0.85
    assert np.all(s.coh_ps2[s.keep_ix] > s.coh_thresh[s.keep_ix])
    np.testing.assert_array_equal(s.ifg_index, np.arange(N_IFG))


def test_select_recall_precision_percent(scene, step2) -> None:
    _, is_ps, _ = scene
    s = _select(scene, step2, select_method="PERCENT", percent_rand=1.0)
    recall, precision, _ = _scores(is_ps, s.ix[s.keep_ix])
    assert recall >= 0.97 and precision >= 0.97


def test_default_density_admits_about_the_budgeted_random_pixels(scene, step2) -> None:
    # density_rand = 20 per km2 on 2.25 km2 budgets ~45 random-phase pixels among the selection
    _, is_ps, _ = scene
    s = _select(scene, step2)
    recall, _, n_false = _scores(is_ps, s.ix[s.keep_ix])
    assert recall >= 0.99
    assert 0.25 * 45 <= n_false <= 1.5 * 45  # Poisson-like; 16..42 over seeds 2-7


def test_reestimation_equals_per_pixel_window(scene, step2) -> None:
    data, _, _ = scene
    s = _select(scene, step2, density_rand=2.0)
    g = step2
    n_i, n_j, _ = g.ph_grid.shape
    for p in range(0, s.ix.size, 37):
        ci, cj = g.grid_ij[s.ix[p]]
        i0 = min(max(ci - 16, 0), n_i - 32)
        j0 = min(max(cj - 16, 0), n_j - 32)
        win = g.ph_grid[i0:i0 + 32, j0:j0 + 32, :].astype(complex).copy()
        win[ci - i0, cj - j0, :] = 0
        filt = clap_filt_patch(np.moveaxis(win, 2, 0), 1.0, 0.3, g.low_pass)[:, ci - i0, cj - j0]
        np.testing.assert_allclose(s.ph_patch2[p], filt / np.abs(filt), atol=1e-5)
    # re-estimated gamma removes the pixel's own contribution: random pixels lose coherence
    assert np.nanmean(s.coh_ps2) <= np.mean(g.coh_ps[s.ix]) + 1e-9


def test_drop_ifg_and_no_reestimation(scene, step2) -> None:
    _, is_ps, _ = scene
    s = _select(scene, step2, density_rand=2.0, drop_ifg=(3, 7))
    assert 3 not in s.ifg_index and 7 not in s.ifg_index and s.ifg_index.size == N_IFG - 2
    assert np.all(s.ph_res2[:, [3, 7]] == 0) and np.all(s.ph_patch2[:, [3, 7]] == 0)
    recall, precision, _ = _scores(is_ps, s.ix[s.keep_ix])
    assert recall >= 0.97 and precision >= 0.95
    n = _select(scene, step2, density_rand=2.0, select_reest_gamma_flag="n")
    assert n.keep_ix.all()
    np.testing.assert_array_equal(n.K_ps2, step2.K_ps[n.ix])


def test_gamma_stdev_reject_keeps_ps(scene, step2) -> None:
    _, is_ps, _ = scene
    base = _select(scene, step2)
    s = _select(scene, step2, gamma_stdev_reject=0.1)
    assert set(s.ix) <= set(base.ix)
    assert is_ps[s.ix].sum() >= 0.99 * is_ps[base.ix].sum()


def test_snr_weighting_and_progress(scene) -> None:
    data, is_ps, _ = scene
    seen: list[float] = []
    g = estimate_gamma(**data, **_params(filter_weighting="SNR", n_rand=2000).kernel_args(estimate_gamma), progress=seen.append)
    assert np.median(g.coh_ps[is_ps]) > 0.9 and np.mean(g.coh_ps[~is_ps]) < 0.35
    assert seen and seen[-1] == 1.0 and all(0 <= a <= b <= 1 for a, b in zip(seen, seen[1:]))


def test_small_grid_is_a_clear_parameter_error(scene, step2) -> None:
    data, _, _ = scene
    with pytest.raises(ParameterError, match="filter_grid_size"):
        estimate_gamma(**data, **_params().with_updates({"filter_grid_size": 70.0}).kernel_args(estimate_gamma))
    g50 = estimate_gamma(**data, **_params().with_updates({"filter_grid_size": 50.0, "n_rand": 1000}).kernel_args(estimate_gamma))
    assert g50.ph_grid.shape[:2] == (29, 29)  # step 2 works with >= 24 cells
    with pytest.raises(ParameterError, match="filter_grid_size"):
        select_ps(data["ph"], data["bperp_mat"], data["bperp"], data["xy"], data["da"], g50,
                  **_params().with_updates({"filter_grid_size": 50.0}).kernel_args(select_ps))


# ---------------------------------------------------------------- threads change nothing
def test_steps_2_and_3_do_not_depend_on_the_number_of_threads(scene, step2) -> None:
    data, _, _ = scene
    one = estimate_gamma(**data, **_params().kernel_args(estimate_gamma), workers=1)
    three = estimate_gamma(**data, **_params().kernel_args(estimate_gamma), workers=3)
    for name in ("K_ps", "C_ps", "coh_ps", "ph_patch", "ph_res", "ph_grid", "Nr"):
        np.testing.assert_array_equal(getattr(one, name), getattr(three, name), err_msg=name)
        np.testing.assert_array_equal(getattr(one, name), getattr(step2, name), err_msg=name)
    kw = _params(density_rand=2.0).kernel_args(select_ps)
    args = (data["ph"], data["bperp_mat"], data["bperp"], data["xy"], data["da"], step2)
    s1 = select_ps(*args, **kw, workers=1)
    s3 = select_ps(*args, **kw, workers=3)
    for name in ("ix", "keep_ix", "K_ps2", "coh_ps2", "ph_patch2", "ph_res2"):
        np.testing.assert_array_equal(getattr(s1, name), getattr(s3, name), err_msg=name)


def test_random_phase_coherence_equals_one_sequential_draw() -> None:
    # the phases are drawn chunk by chunk in order: the same numbers as one draw of all of them
    b = np.random.default_rng(0).normal(0, 60, N_IFG)
    n = 5000
    got = random_phase_coherence(b, 0.3, n, seed=7, workers=2)
    phase = np.random.default_rng(7).uniform(0.0, 2.0 * np.pi, size=(n, N_IFG))
    ref = np.array([_literal_coherence(np.exp(1j * phase[p]), b, 0.3) for p in range(0, n, 97)])
    np.testing.assert_allclose(got[::97], ref, rtol=0, atol=1e-12)


def _literal_coherence(z: np.ndarray, b: np.ndarray, ntw: float) -> float:
    """Topofit gamma of one pixel written from the reference (grid search + one refinement)."""
    span = b.max() - b.min()
    best, k0 = -1.0, 0.0
    t_max = math.ceil(8 * ntw)
    for t in range(-t_max, t_max + 1):
        g = abs(np.sum(z * np.exp(-1j * t * (np.pi / 4) / span * b))) / np.sum(abs(z))
        if g > best:
            best, k0 = g, t * (np.pi / 4) / span
    r = z * np.exp(-1j * k0 * b)
    rho = np.angle(r * np.conj(r.sum()))
    k = k0 + np.sum(b * rho) / np.sum(b * b)
    res = z * np.exp(-1j * k * b)
    return float(abs(res.sum()) / abs(res).sum())
