"""Steps 7 (SCLA + master APS) and 8 (spatially correlated noise) on synthetic stacks."""

from __future__ import annotations

import time

import numpy as np

from snapstamps.psi.config import PsiParams
from snapstamps.psi.scla import SclaResult, calc_scla, smooth_scla
from snapstamps.psi.scn import scn_filter


def _scla_stack(n=300, m=30, master_ix=10, seed=0):
    rng = np.random.default_rng(seed)
    day = 737000.0 + np.cumsum(rng.integers(6, 25, size=m)).astype(float)
    xy = rng.uniform(0, 4000, size=(n, 2))
    b = rng.uniform(-150, 150, size=m)
    b[master_ix] = 0.0
    bperp_full = b[None, :] * (1.0 + 0.02 * (xy[:, :1] / 4000.0))  # slight per-pixel variation
    bperp_full[:, master_ix] = 0.0
    K = rng.normal(0, 0.01, size=n)
    C = rng.normal(0, 1.5, size=n)
    vel = rng.normal(0, 0.01, size=n)  # rad/day
    defo = vel[:, None] * (day - day[master_ix])[None, :]
    ph_uw = defo + K[:, None] * bperp_full + C[:, None]
    ph_uw[:, master_ix] = 0.0  # master column of an unwrapped stack is 0
    return rng, ph_uw, bperp_full, day, master_ix, xy, K, C, vel


def test_scla_recovers_dem_error_and_master_aps_noise_free():
    rng, ph_uw, bp, day, mi, xy, K, C, vel = _scla_stack()
    n = ph_uw.shape[0]
    ref = np.zeros(n, bool)  # no referencing
    res = calc_scla(ph_uw, bp, day, mi, None, ref, xy, **PsiParams().kernel_args(calc_scla))
    # the fit uses the PS-mean bperp difference (as StaMPS); bperp varies by 2% over the scene
    assert np.max(np.abs(res.K_ps_uw - K) / np.abs(K)) < 0.015
    bp_const = np.broadcast_to(bp.mean(axis=0), bp.shape).copy()
    ph_c = ph_uw - K[:, None] * (bp - bp_const)
    res = calc_scla(ph_c, bp_const, day, mi, None, ref, xy, **PsiParams().kernel_args(calc_scla))
    np.testing.assert_allclose(res.K_ps_uw, K, rtol=1e-3, atol=1e-9)
    # the master column of ph_uw is 0, so ph_uw = defo + K B - (-C) at slaves: intercept is -C
    np.testing.assert_allclose(res.C_ps_uw, C, atol=1e-6)
    assert res.ph_scla.dtype == np.float32 and res.ph_scla.shape == ph_uw.shape
    np.testing.assert_allclose(res.ph_scla, K[:, None] * bp_const, atol=1e-4)
    assert res.ph_ramp is None


def test_scla_weights_referencing_drop_and_l1():
    rng, ph_uw, bp, day, mi, xy, K, C, vel = _scla_stack()
    bp = np.broadcast_to(bp.mean(axis=0), bp.shape).copy()
    ph_uw = vel[:, None] * (day - day[mi]) + K[:, None] * bp + C[:, None]
    ph_uw[:, mi] = 0
    n, m = ph_uw.shape
    bad = 4
    ph_uw[:, bad] += rng.normal(0, 20, size=n)  # an unwrapping disaster in image 5
    r_bad = calc_scla(ph_uw, bp, day, mi, None, np.zeros(n, bool), xy, **PsiParams().kernel_args(calc_scla))
    assert np.median(np.abs(r_bad.K_ps_uw - K) / np.abs(K)) > 0.05
    r = calc_scla(ph_uw, bp, day, mi, None, np.zeros(n, bool), xy, **PsiParams(scla_drop_index=[bad + 1]).kernel_args(calc_scla))
    np.testing.assert_allclose(r.K_ps_uw, K, rtol=1e-3, atol=1e-9)
    np.testing.assert_allclose(r.C_ps_uw, C, atol=1e-6)
    # L1 shrugs off the outlier image without being told about it
    r1 = calc_scla(ph_uw, bp, day, mi, None, np.zeros(n, bool), xy, **PsiParams(scla_method="L1").kernel_args(calc_scla))
    assert np.median(np.abs(r1.K_ps_uw - K) / np.abs(K)) < 0.01
    # referencing: a common offset per column added to every PS disappears
    ref = np.zeros(n, bool)
    ref[:20] = True
    off = rng.normal(0, 3, size=m)
    off[mi] = 0
    ph2 = ph_uw + off[None, :]
    r2 = calc_scla(ph2, bp, day, mi, None, ref, xy, **PsiParams(scla_drop_index=[bad + 1]).kernel_args(calc_scla))
    r0 = calc_scla(ph_uw, bp, day, mi, None, ref, xy, **PsiParams(scla_drop_index=[bad + 1]).kernel_args(calc_scla))
    np.testing.assert_allclose(r2.K_ps_uw, r0.K_ps_uw, atol=1e-9)
    # ifg_std weights: with a robust (L1) K, a noisy image given a large std does not bias C
    std = np.full(m, 10.0)
    std[bad] = 1e4
    rw = calc_scla(ph_uw, bp, day, mi, std, np.zeros(n, bool), xy, **PsiParams(scla_method="L1").kernel_args(calc_scla))
    assert np.median(np.abs(rw.C_ps_uw - C)) < 0.02
    assert np.median(np.abs(r1.C_ps_uw - C)) > 0.2  # unweighted: the bad image leaks into C


def test_scla_deramp_returns_ramp():
    rng, ph_uw, bp, day, mi, xy, K, C, vel = _scla_stack(n=200)
    n, m = ph_uw.shape
    ramp = (xy[:, :1] / 1000.0) * rng.normal(0, 1, size=(1, m))
    ramp[:, mi] = 0
    r = calc_scla(ph_uw + ramp, bp, day, mi, None, np.zeros(n, bool), xy, **PsiParams(scla_deramp="y").kernel_args(calc_scla))
    assert r.ph_ramp is not None and r.ph_ramp.shape == (n, m)
    # the ramp estimate contains the injected planes (plus the planar part of the signal)
    assert np.corrcoef((r.ph_ramp - ramp)[:, 3], ramp[:, 3])[0, 1] < 0.5


def test_smooth_scla_clamps_outlier():
    rng = np.random.default_rng(5)
    g = np.stack(np.meshgrid(np.arange(8), np.arange(8)), -1).reshape(-1, 2) * 100.0
    n = g.shape[0]
    K = 0.001 * g[:, 0] / 100.0 + rng.normal(0, 1e-5, size=n)
    C = rng.normal(0, 0.1, size=n)
    i = 27
    K[i] = 0.5
    C[i] = -9.0
    bp = rng.uniform(-100, 100, size=(1, 10))
    res = SclaResult(K.copy(), C.copy(), (K[:, None] * bp).astype(np.float32), None)
    s = smooth_scla(res, g, bp)
    assert s.K_ps_uw[i] < 0.01 and s.C_ps_uw[i] > -1.0
    others = np.arange(n) != i
    # elsewhere only local extrema move, by no more than the 1e-5 noise between neighbours
    np.testing.assert_allclose(s.K_ps_uw[others], K[others], atol=6e-5)
    assert np.mean(s.K_ps_uw[others] == K[others]) > 0.6
    np.testing.assert_allclose(s.ph_scla, s.K_ps_uw[:, None] * bp, rtol=1e-6)


# ----------------------------------------------------------------------------- step 8
def _smooth_field(xy, rng, scale, n_modes=30):
    """Spatially smooth random field, unit-ish amplitude, correlation length ~ ``scale`` m."""
    k = rng.normal(0, 1.0 / scale, size=(n_modes, 2))
    ph = rng.uniform(0, 2 * np.pi, size=n_modes)
    return np.sqrt(2.0 / n_modes) * np.cos(xy @ k.T + ph).sum(axis=1)


def test_scn_captures_correlated_noise_not_deformation():
    rng = np.random.default_rng(11)
    n, m, mi = 1500, 40, 15
    xy = rng.uniform(0, 6000, size=(n, 2))
    day = 737000.0 + 12.0 * np.arange(m)
    aps = np.column_stack([_smooth_field(xy, rng, 1500.0) for _ in range(m)])  # temporally white
    aps[:, mi] = 0.0
    vmap = 0.004 * _smooth_field(xy, rng, 2000.0)  # rad/day, spatially smooth deformation rate
    defo = vmap[:, None] * (day - day[mi])[None, :]
    noise = rng.normal(0, 0.3, size=(n, m))  # spatially white
    K = rng.normal(0, 0.01, size=n)
    bp = rng.uniform(-100, 100, size=m)
    bp[mi] = 0
    ph_scla = K[:, None] * bp[None, :]
    C = rng.normal(0, 1, size=n)
    ph_uw = defo + aps + noise + ph_scla + C[:, None]
    ph_uw[:, mi] = 0.0
    t0 = time.perf_counter()
    res = scn_filter(ph_uw, ph_scla.astype(np.float32), C, xy, day, mi, **PsiParams(scn_time_win=60.0).kernel_args(scn_filter))
    assert time.perf_counter() - t0 < 10.0
    scn = res.ph_scn_slave
    assert scn.shape == (n, m) and scn.dtype == np.float32
    assert np.all(scn[:, mi] == 0) and np.all(scn[0] == 0)  # master column 0, referenced to PS 0
    slaves = np.delete(np.arange(m), mi)
    tgt = aps - aps[0:1]
    t = day - day[mi]
    tt = t[slaves] - t[slaves].mean()
    v_def = vmap - vmap[0]

    def score(sc):
        cors = [np.corrcoef(sc[:, c], tgt[:, c])[0, 1] for c in slaves]
        v_scn = (sc[:, slaves] - sc[:, slaves].mean(axis=1, keepdims=True)) @ tt / (tt @ tt)
        return np.median(cors), np.std(v_scn) / np.std(v_def)

    cor, leak = score(scn)
    assert cor > 0.9 and leak < 0.2, (cor, leak)  # 480-day series, 60-day window
    # StaMPS' default 365-day window on a 480-day series lets the trend leak (known behaviour);
    # the local-linear low-pass removes linear deformation whatever the window
    cor365, leak365 = score(scn_filter(ph_uw, ph_scla, C, xy, day, mi, **PsiParams().kernel_args(scn_filter)).ph_scn_slave)
    assert leak365 > 0.5
    cor_ll, leak_ll = score(scn_filter(ph_uw, ph_scla, C, xy, day, mi, **PsiParams().kernel_args(scn_filter), local_linear=True).ph_scn_slave)
    assert cor_ll > 0.9 and leak_ll < 0.05, (cor_ll, leak_ll)
    # dropped images are zero, and do not disturb the rest
    res2 = scn_filter(ph_uw, ph_scla, C, xy, day, mi, **PsiParams(drop_ifg_index=[4], scn_time_win=60.0).kernel_args(scn_filter))
    assert np.all(res2.ph_scn_slave[:, 3] == 0)
    cors2 = [np.corrcoef(res2.ph_scn_slave[:, c], tgt[:, c])[0, 1] for c in slaves if c != 3]
    assert np.median(cors2) > 0.8


def test_integrate_arcs_and_lowpass_against_brute_force():
    from scipy.spatial.distance import cdist

    from snapstamps.psi.scn import gaussian_lowpass, integrate_arcs
    from snapstamps.psi.weed import delaunay_edges

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 1000, size=(300, 2))
    x = rng.normal(size=(300, 3))
    x -= x[0]
    e = delaunay_edges(xy)
    got = integrate_arcs(e, x[e[:, 1]] - x[e[:, 0]], 300)
    np.testing.assert_allclose(got, x, atol=1e-9)  # consistent arcs integrate exactly
    sigma = 60.0
    D = cdist(xy, xy)
    W = np.where(D < 4 * sigma, np.exp(-(D**2) / (2 * sigma**2)), 0.0)
    want = (W @ x) / W.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(gaussian_lowpass(xy, x, sigma, chunk_pairs=500), want, atol=1e-12)


def test_scn_deramp_keeps_ramps():
    rng = np.random.default_rng(8)
    n, m, mi = 400, 12, 4
    xy = rng.uniform(0, 3000, size=(n, 2))
    day = 737000.0 + 12.0 * np.arange(m)
    ramp = (xy[:, :1] - xy[0, 0]) / 1000.0 * rng.normal(0, 1, size=(1, m))
    ramp[:, mi] = 0
    zeros = np.zeros((n, m))
    r_no = scn_filter(ramp, zeros, np.zeros(n), xy, day, mi, **PsiParams().kernel_args(scn_filter))
    r_dr = scn_filter(ramp, zeros, np.zeros(n), xy, day, mi, **PsiParams(scn_deramp_ifg=list(range(1, m + 1))).kernel_args(scn_filter))
    # the planes bypass the temporal high-pass and come back whole; without deramping the
    # temporal mean of the other images' planes is subtracted from each
    np.testing.assert_allclose(r_dr.ph_hpt - r_dr.ph_hpt[0:1], ramp - ramp[0:1], atol=1e-6)
    # a plane is a fixed point of the Gaussian low-pass away from the borders (up to the
    # PS-0 reference offset)
    inner = np.all((xy > 450) & (xy < 2550), axis=1)
    diff = (r_dr.ph_scn_slave - ramp)[inner]
    assert np.max(np.std(diff, axis=0)) < 0.05 * np.max(np.std(ramp, axis=0))
    assert np.max(np.abs(r_no.ph_hpt - r_no.ph_hpt[0:1] - (ramp - ramp[0:1]))) > 0.1
