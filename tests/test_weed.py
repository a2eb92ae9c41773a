"""Step 4 weeding: triangulation, duplicate/neighbour rules and arc-noise weeding."""

from __future__ import annotations

import time

import numpy as np

from snapstamps.psi.config import PsiParams
from snapstamps.psi.weed import arc_noise, delaunay_edges, weed_ps


def test_delaunay_edges_square_and_degenerate():
    sq = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], float)
    e = delaunay_edges(sq)
    assert e.shape == (5, 2)  # 4 sides + 1 diagonal
    assert np.all(e[:, 0] < e[:, 1])
    assert {(0, 1), (0, 2), (1, 3), (2, 3)} <= set(map(tuple, e.tolist()))
    assert len(set(map(tuple, e.tolist())) & {(0, 3), (1, 2)}) == 1
    assert delaunay_edges(np.zeros((1, 2))).shape == (0, 2)
    assert delaunay_edges(np.zeros((0, 2))).shape == (0, 2)
    assert delaunay_edges(np.array([[0.0, 0], [3, 4]])).tolist() == [[0, 1]]
    line = np.array([[2.0, 2], [0, 0], [1, 1], [3, 3]])
    assert sorted(map(tuple, delaunay_edges(line).tolist())) == [(0, 2), (0, 3), (1, 2)]
    dup = np.vstack([sq, sq[1:2]])  # point 4 coincides with point 1
    ed = delaunay_edges(dup)
    assert (1, 4) in set(map(tuple, ed.tolist()))
    assert ed.shape == (6, 2)


def _stack(n_side=12, m=20, master_ix=6, seed=0):
    rng = np.random.default_rng(seed)
    g = np.stack(np.meshgrid(np.arange(n_side), np.arange(n_side)), -1).reshape(-1, 2)
    n = g.shape[0]
    xy = g * 50.0 + rng.uniform(-10, 10, size=(n, 2))
    ij = g * 5
    day = 737000.0 + 12.0 * np.arange(m)
    bperp = rng.uniform(-100, 100, size=m)
    bperp[master_ix] = 0.0
    K = rng.normal(0, 0.02, size=n)
    C = rng.uniform(-np.pi, np.pi, size=n)
    # smooth deformation (spatially and temporally) + DEM error + 0.2 rad noise
    defo = 1e-3 * xy[:, :1] * (day - day[master_ix])[None, :] / 100.0
    phase = defo + K[:, None] * bperp[None, :] + rng.normal(0, 0.2, size=(n, m))
    ph = np.exp(1j * phase).astype(np.complex64)
    ph[:, master_ix] = 1.0
    return rng, ph, xy, ij, K, C, bperp, day, master_ix


def test_noisy_ps_is_weeded_coherent_ones_kept():
    rng, ph, xy, ij, K, C, bperp, day, mi = _stack()
    n = ph.shape[0]
    bad = np.array([30, 77, 100])
    ph[bad] = np.exp(1j * rng.uniform(-np.pi, np.pi, size=(bad.size, ph.shape[1])))
    ph[bad, mi] = 1.0
    hgt = np.full(n, 10.0, np.float32)
    coh = np.full(n, 0.9)
    t0 = time.perf_counter()
    res = weed_ps(ph, xy, ij, hgt, K, C, coh, bperp, day, mi, **PsiParams().kernel_args(weed_ps))
    assert time.perf_counter() - t0 < 5.0
    good = np.setdiff1d(np.arange(n), bad)
    assert res.n_edges > 2 * n
    assert np.all(res.ps_std[bad] > 1.0)
    assert np.median(res.ps_std[good]) < 0.4  # 0.2 rad per PS -> ~0.28 rad per arc
    assert not res.keep[bad].any()
    assert res.keep[good].mean() > 0.97
    # a std threshold above the noise of random phase keeps everything
    res2 = weed_ps(ph, xy, ij, hgt, K, C, coh, bperp, day, mi, **PsiParams(weed_standard_dev=3.0).kernel_args(weed_ps))
    assert res2.keep.all() and np.isfinite(res2.ps_std).all()
    # skipped when both thresholds >= pi
    res3 = weed_ps(ph, xy, ij, hgt, K, C, coh, bperp, day, mi, **PsiParams(weed_standard_dev=4.0).kernel_args(weed_ps))
    assert res3.keep.all() and res3.n_edges == 0 and np.isnan(res3.ps_std).all()
    # a dropped ifg full of random phase must not spoil the noise estimate
    ph4 = ph.copy()
    ph4[:, 3] = np.exp(1j * rng.uniform(-np.pi, np.pi, size=n))
    r4 = weed_ps(ph4, xy, ij, hgt, K, C, coh, bperp, day, mi, **PsiParams().kernel_args(weed_ps), drop_ifg=[3])
    np.testing.assert_array_equal(r4.keep, res.keep)
    r5 = weed_ps(ph4, xy, ij, hgt, K, C, coh, bperp, day, mi, **PsiParams().kernel_args(weed_ps))
    assert np.median(r5.ps_std[good]) > np.median(res.ps_std[good]) + 0.1


def test_arc_noise_removes_residual_dem_error():
    rng = np.random.default_rng(4)
    m, e = 30, 500
    day = 12.0 * np.arange(m)
    bperp = rng.uniform(-150, 150, size=m)
    phase = rng.normal(0, 0.1, size=(e, m)) + rng.normal(0, 0.004, size=(e, 1)) * bperp[None, :]
    std, mx = arc_noise(np.exp(1j * phase), day, bperp, 730.0)
    assert np.median(np.std(phase, axis=1)) > 0.25  # the residual DEM error dominates the raw phase
    # DEM-error slope is (mostly: the temporal smoother absorbs part of it first) removed
    assert np.median(std) < 0.15
    std_nok, _ = arc_noise(np.exp(1j * phase), day, 0 * bperp, 730.0)
    assert np.median(std_nok) > 1.5 * np.median(std)
    assert np.all(mx >= std)


def test_duplicates_neighbours_and_zero_elevation():
    rng, ph, xy, ij, K, C, bperp, day, mi = _stack(n_side=6)
    n = ph.shape[0]
    coh = rng.uniform(0.5, 0.9, size=n)
    hgt = np.full(n, 5.0)
    xy[1] = xy[0]  # duplicate position
    coh[1] = 0.95
    ij[7] = ij[8] + [0, 1]  # 8-neighbour pixels (same line) ...
    ij[9] = ij[8] + [1, 1]  # ... and a diagonal one: a group of three
    coh[7], coh[8], coh[9] = 0.6, 0.99, 0.7
    hgt[20] = 0.0
    p = PsiParams(weed_standard_dev=4.0)  # no noise weeding
    r = weed_ps(ph, xy, ij, hgt, K, C, coh, bperp, day, mi, **p.kernel_args(weed_ps))
    assert not r.keep[0] and r.keep[1]
    assert r.keep[7] and r.keep[9] and r.keep[20]  # rules off by default
    r = weed_ps(ph, xy, ij, hgt, K, C, coh, bperp, day, mi, **p.with_updates({"weed_neighbours": "y", "weed_zero_elevation": "y"}).kernel_args(weed_ps))
    assert r.keep[8] and not r.keep[7] and not r.keep[9]
    assert not r.keep[20]
    assert r.keep.sum() == n - 4


def test_arc_noise_blocks_do_not_change_the_estimate(monkeypatch):
    """Chunks of arcs and the cache-sized sub-blocks of the per-column loop only bound memory:
    the noise estimate of every arc is the same (to rounding) with any block sizes, including the
    reference without blocks, written out with the plain (not in-place) wrap."""
    import snapstamps.psi.weed as w

    rng = np.random.default_rng(7)
    e, u = 3000, 25
    day = np.sort(rng.uniform(0, 800, u))
    bperp = rng.normal(0, 100, u)
    ph = 0.01 * day[None, :] * rng.normal(0, 1, (e, 1)) + rng.normal(0, 0.6, (e, u))
    d = np.exp(1j * ph).astype(np.complex64)

    def reference() -> tuple[np.ndarray, np.ndarray]:
        dts = day[:, None] - day[None, :]
        W = np.exp(-(dts**2) / (2.0 * 730.0**2))
        W /= W.sum(axis=1, keepdims=True)
        dc = d.astype(np.complex128)
        theta, mcs = np.angle(dc), dc @ W.T
        phi = np.angle(mcs)
        smooth = np.empty_like(theta)
        for k in range(u):
            P = w._wls_projector(np.column_stack([np.ones(u), dts[k]]), W[k])
            a = w._wrap(theta - phi[:, k : k + 1])
            c1 = a @ P.T
            a2 = w._wrap(a - c1[:, :1] - c1[:, 1:] * dts[k][None, :])
            smooth[:, k] = phi[:, k] + c1[:, 0] + a2 @ P[0]
        noise = w._wrap(theta - smooth)
        n2 = w._wrap(theta - np.angle(mcs - np.diag(W)[None, :] * dc))
        var = n2.var(axis=0, ddof=1)
        wb = bperp / var
        noise = noise - ((noise @ wb) / np.sum(wb * bperp))[:, None] * bperp[None, :]
        return np.std(noise, axis=1, ddof=1), np.max(np.abs(noise), axis=1)

    ref_std, ref_max = reference()
    for chunk, sub in ((1 << 19, 1 << 16), (1 << 12, 1 << 9), (7 * u, 3 * u)):
        monkeypatch.setattr(w, "_ARC_CHUNK_ELEMENTS", chunk)
        monkeypatch.setattr(w, "_ARC_SUB_ELEMENTS", sub)
        std, mx = arc_noise(d, day, bperp, 730.0)
        np.testing.assert_allclose(std, ref_std, rtol=0, atol=1e-12)
        np.testing.assert_allclose(mx, ref_max, rtol=0, atol=1e-12)
