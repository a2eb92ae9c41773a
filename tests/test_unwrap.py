"""Step 6 (3-D unwrapping with snaphu): physics and behaviour on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from snapstamps.errors import ParameterError
from snapstamps.io.snaphu import run_snaphu
from snapstamps.psi.config import PsiParams
from snapstamps.psi.goldstein import goldstein_filter
from snapstamps.psi.unwrap import (
    arc_look_angle_error,
    n_trial_wraps_unwrap,
    node_connectivity,
    smooth_arcs_3d_full,
    stat_costs,
    unwrap_3d,
)

WAVELENGTH = 0.0555
INC = 0.6


def _wrap(x):
    return np.angle(np.exp(1j * x))


# ------------------------------------------------------------------------------ Goldstein
def test_goldstein_keeps_ramp_and_reduces_noise():
    rng = np.random.default_rng(0)
    ii, jj = np.mgrid[:45, :60]
    ramp = 0.3 * ii + 0.2 * jj
    clean = goldstein_filter(np.exp(1j * ramp), 0.8, 32, 8)
    assert clean.shape == ramp.shape and clean.dtype == np.complex64
    assert np.abs(_wrap(np.angle(clean) - ramp)).max() < 0.1  # the ramp survives
    noisy = 3.0 * np.exp(1j * (ramp + rng.normal(0, 1.0, ramp.shape)))
    out = goldstein_filter(noisy, 0.8, 32, 8)
    before = np.std(_wrap(np.angle(noisy) - ramp))
    after = np.std(_wrap(np.angle(out) - ramp))
    assert before > 0.9 and after < 0.45 * before
    np.testing.assert_allclose(np.abs(out), 3.0, rtol=1e-5)  # input magnitude restored
    # a stack is filtered ifg by ifg
    stack = goldstein_filter(np.stack([noisy, np.exp(1j * ramp)], axis=-1), 0.8, 32, 8)
    np.testing.assert_allclose(stack[..., 0], out, atol=1e-5)
    np.testing.assert_allclose(stack[..., 1], clean, atol=1e-5)


# ------------------------------------------------------------------------------ connectivity
def test_node_connectivity_partition_and_signs():
    rng = np.random.default_rng(3)
    n_i, n_j = 30, 40
    cells = rng.choice(n_i * n_j, 150, replace=False)
    cells.sort()
    node_ij = np.stack([cells // n_j, cells % n_j], axis=1)
    conn = node_connectivity(node_ij, n_i, n_j)
    assert np.array_equal(conn.owner[node_ij[:, 0], node_ij[:, 1]], np.arange(150))
    assert np.all(conn.edges[:, 0] < conn.edges[:, 1])
    # the signed arc id reproduces the owner difference across every adjacency
    val = np.arange(150, dtype=float) ** 1.5  # any node field
    dval = val[conn.edges[:, 1]] - val[conn.edges[:, 0]]
    for ix, a, b in [(conn.colix, conn.owner[:, :-1], conn.owner[:, 1:]), (conn.rowix, conn.owner[:-1], conn.owner[1:])]:
        same = ix == 0
        assert np.array_equal(same, a == b)
        e = np.abs(ix[~same]) - 1
        np.testing.assert_allclose(np.sign(ix[~same]) * dval[e], val[b[~same]] - val[a[~same]])
    assert conn.n_adj.sum() == np.count_nonzero(conn.colix) + np.count_nonzero(conn.rowix)


# ------------------------------------------------------------------------------ snaphu costs
@pytest.mark.parametrize("gi,gj", [(0.5, 4.0), (3.9, -0.5), (-4.2, -3.7)])
def test_snaphu_follows_cost_offsets_on_aliased_ramp(gi, gj):
    """Gradients > pi per cell are only recoverable through the cost offsets (sign convention)."""
    n_i, n_j = 16, 20
    ii, jj = np.mgrid[:n_i, :n_j]
    true = gi * ii + gj * jj
    conn = node_connectivity(np.stack([ii.ravel(), jj.ravel()], axis=1), n_i, n_j)
    lo, hi = conn.edges.T
    t = true.ravel()
    wrapped = _wrap(t[hi] - t[lo])
    ph = np.exp(1j * true).astype(np.complex64)
    sig = np.full(lo.size, 4.0)
    nostats = np.zeros(lo.size, bool)
    row, col = stat_costs(conn, (wrapped - (t[hi] - t[lo])) / (2 * np.pi), sig, nostats)
    uw = run_snaphu(ph, row, col)
    assert uw.dtype == np.float32 and uw.shape == (n_i, n_j)
    cyc = (uw - true) / (2 * np.pi)
    assert np.abs(cyc - np.round(cyc)).max() < 1e-4  # congruent with the input
    inner = np.round(cyc[2:-2, 2:-2] - cyc[n_i // 2, n_j // 2])
    assert np.all(inner == 0)
    # without the offsets the aliased gradient is unwrapped wrongly
    row0, col0 = stat_costs(conn, np.zeros(lo.size), sig, nostats)
    uw0 = run_snaphu(ph, row0, col0)
    cyc0 = np.round((uw0 - true) / (2 * np.pi))
    assert np.mean(cyc0[2:-2, 2:-2] != cyc0[n_i // 2, n_j // 2]) > 0.5


# ------------------------------------------------------------------------------ per-arc model
def test_arc_look_angle_error_recovers_dem_slope():
    rng = np.random.default_rng(5)
    n_arc, n_ifg = 400, 20
    day = np.concatenate([np.arange(-10, 0), np.arange(1, 11)]) * 12.0
    bperp = rng.uniform(-100, 100, n_ifg)
    ntw = n_trial_wraps_unwrap(np.concatenate([[0.0], bperp]), INC, WAVELENGTH, 20.0)
    k_true = rng.uniform(-0.006, 0.006, n_arc)
    rate = rng.uniform(-0.02, 0.02, n_arc)  # rad/day
    ph = k_true[:, None] * bperp + rate[:, None] * day + rng.normal(0, 0.1, (n_arc, n_ifg))
    k, coh = arc_look_angle_error(np.exp(1j * ph), day, bperp, ntw)
    # LS precision on the daisy chain: 0.1 * sqrt(2) rad / sqrt(sum(diff(bperp)^2)) ~ 4e-4 rad/m
    sigma = 0.1 * np.sqrt(2) / np.sqrt(np.sum(np.diff(np.sort(np.r_[0.0, bperp])) ** 2) + 1e-9)
    err = np.abs(k - k_true)
    assert np.median(err) < 1.0 * sigma + 1e-4
    assert np.mean(err < 3 * sigma + 3e-4) > 0.95
    assert np.median(coh) > 0.8
    # pure noise arcs: the slope is rejected (K = 0) for most of them
    k_noise, _ = arc_look_angle_error(np.exp(1j * rng.uniform(-np.pi, np.pi, (400, n_ifg))), day, bperp, ntw)
    assert np.mean(k_noise == 0) > 0.6


def test_temporal_model_unwraps_in_time():
    rng = np.random.default_rng(7)
    day = np.concatenate([np.arange(-10, 0), np.arange(1, 11)]) * 12.0
    # arcs (short spatial differences) move up to +-1.8 rad at the ends: a 3.6 rad span, beyond
    # pi (the single-pass model needs every phase within +-pi of the arc's complex mean)
    rate = rng.uniform(-0.015, 0.015, 300)  # rad/day
    true = rate[:, None] * day
    model = smooth_arcs_3d_full(np.exp(1j * (true + rng.normal(0, 0.3, true.shape))), day, 730.0)
    assert np.ptp(true, axis=1).max() > 3.4
    assert np.abs(model - true).max() < 0.4
    assert np.sqrt(np.mean((model - true) ** 2)) < 0.15  # half the 0.3 rad input noise


# ------------------------------------------------------------------------------ unwrap_3d
def _synthetic(n=2000, m=21, master=10, cycles=6.0, seed=1):
    """Deformation bowl growing linearly in time to ``cycles`` at the ends, K*bperp, noise."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 3000, (n, 2))
    day = 737000 + 12.0 * np.arange(m)
    t = day - day[master]
    bperp = rng.uniform(-100, 100, m)
    bperp[master] = 0
    bowl = np.exp(-((xy - 1500) ** 2).sum(axis=1) / (2 * 700.0**2))
    defo = -cycles * 2 * np.pi * bowl[:, None] * (t / np.abs(t).max())[None, :]
    dem_err = rng.normal(0, 5, n)  # m
    k = dem_err * 4 * np.pi / (WAVELENGTH * 830_000 * np.sin(INC))
    truth = defo + k[:, None] * bperp[None, :] + rng.normal(0, 0.3, (n, m))
    truth[:, master] = 0
    return np.exp(1j * truth).astype(np.complex64), xy, day, bperp, truth


def _fraction_correct(ph_uw, truth, cols):
    n = np.round((ph_uw[:, cols] - truth[:, cols]) / (2 * np.pi)).astype(int)
    ref = np.array([np.bincount(c - c.min()).argmax() + c.min() for c in n.T])  # per-ifg constant
    return (n == ref).mean(axis=0)


@pytest.mark.parametrize("method", ["3D", "3D_QUICK"])
def test_unwrap_3d_deformation_bowl(method):
    ph, xy, day, bperp, truth = _synthetic()
    master = 10
    params = PsiParams(unwrap_grid_size=75.0, unwrap_method=method)
    seen: list[float] = []
    res = unwrap_3d(ph, xy, day, master, bperp, INC, WAVELENGTH, **params.kernel_args(unwrap_3d), progress=seen.append)
    assert res.ph_uw.shape == ph.shape and res.ph_uw.dtype == np.float32
    assert np.abs(truth).max() > 5 * 2 * np.pi  # truly several cycles
    cols = [c for c in range(ph.shape[1]) if c != master]
    ok = _fraction_correct(res.ph_uw, truth, cols)
    assert ok.mean() >= 0.99 and ok.min() >= 0.97
    # exact 2-pi congruence with the wrapped input
    cyc = (res.ph_uw[:, cols].astype(np.float64) - np.angle(ph[:, cols])) / (2 * np.pi)
    assert np.abs(cyc - np.round(cyc)).max() < 1e-4
    assert np.all(res.ph_uw[:, master] == 0) and res.msd[master] == 0
    assert np.all(res.msd[cols] > 0)
    assert res.grid_size == 75.0 and 500 < res.n_nodes <= 40 * 40
    assert seen and seen[-1] == pytest.approx(1.0) and all(np.diff(seen) >= 0)


def test_unwrap_3d_subset_of_ifgs():
    ph, xy, day, bperp, truth = _synthetic(seed=2)
    master = 10
    params = PsiParams(unwrap_grid_size=75.0, n_cores=2)
    subset = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]  # includes the master, which is skipped
    res = unwrap_3d(ph, xy, day, master, bperp, INC, WAVELENGTH, **params.kernel_args(unwrap_3d), unwrap_ifg=subset)
    done = [c for c in subset if c != master]
    others = [c for c in range(ph.shape[1]) if c not in done]
    assert np.all(res.ph_uw[:, others] == 0) and np.all(res.msd[others] == 0)
    # 24-day sampling: the far-from-master ifgs (6 cycles at the bowl centre) are still right
    assert _fraction_correct(res.ph_uw, truth, done).mean() >= 0.99


def test_unwrap_3d_grid_too_small_is_a_parameter_error():
    ph, xy, day, bperp, _ = _synthetic(n=300)
    with pytest.raises(ParameterError, match=r"unwrap_grid_size=200 m gives a 14 x 14 cell .*unwrap_gold_n_win=32"):
        unwrap_3d(ph, xy, day, 10, bperp, INC, WAVELENGTH, **PsiParams().kernel_args(unwrap_3d))


def test_snaphu_adapter_errors_are_the_projects(monkeypatch, tmp_path):
    """A failing or missing snaphu is an ExternalToolError (one line), never a bare RuntimeError."""
    import snapstamps.io.snaphu as adapter
    from snapstamps.errors import ExternalToolError

    fake = tmp_path / "snaphu"
    fake.write_text("#!/bin/sh\necho 'fatal: simulated failure' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(adapter, "snaphu_executable", lambda: fake)
    ph = np.ones((4, 5), np.complex64)
    with pytest.raises(ExternalToolError, match=r"snaphu failed \(exit 3\): fatal: simulated failure"):
        adapter.run_snaphu(ph, np.zeros((3, 5, 4), np.int16), np.zeros((4, 4, 4), np.int16))
    monkeypatch.setattr(adapter, "snaphu_executable", lambda: tmp_path / "absent")
    with pytest.raises(ExternalToolError, match="cannot run snaphu"):
        adapter.run_snaphu(ph, np.zeros((3, 5, 4), np.int16), np.zeros((4, 4, 4), np.int16))


def test_unwrap_3d_calls_the_solver_it_is_given():
    """The kernel runs no program itself: it hands each grid and its costs to the solver passed in."""
    ph, xy, day, bperp, truth = _synthetic(n=800, m=7, master=3, cycles=1.0, seed=3)
    calls: list[tuple[tuple[int, int], tuple[int, ...], tuple[int, ...]]] = []

    def solver(grid, row_cost, col_cost):
        calls.append((grid.shape, row_cost.shape, col_cost.shape))
        return run_snaphu(grid, row_cost, col_cost)

    res = unwrap_3d(ph, xy, day, 3, bperp, INC, WAVELENGTH, unwrap_grid=solver,
                    **PsiParams(unwrap_grid_size=75.0).kernel_args(unwrap_3d))
    assert len(calls) == 6  # one per ifg, the master excepted
    (n_i, n_j), rc, cc = calls[0]
    assert rc == (n_i - 1, n_j, 4) and cc == (n_i, n_j - 1, 4)
    cols = [c for c in range(7) if c != 3]
    assert _fraction_correct(res.ph_uw, truth, cols).mean() >= 0.99


@pytest.mark.parametrize("n_cores", [None, 3])
def test_unwrap_3d_concurrent_solves_equal_serial(monkeypatch, n_cores):
    """Concurrent snaphu runs give the serial result bit for bit, never more at once than allowed.

    ``n_cores=None`` (the default) means one solve per CPU the process may use; the CPU count is
    pinned to 2 here so the bound is tested on any machine.
    """
    import threading
    import time

    import snapstamps.psi.parallel as parallel

    monkeypatch.setattr(parallel, "available_workers", lambda: 2)
    limit = 2 if n_cores is None else n_cores
    ph, xy, day, bperp, _ = _synthetic(n=800, m=9, master=4, cycles=2.0, seed=5)
    lock = threading.Lock()
    running, peak = [0], [0]

    def solver(grid, row_cost, col_cost):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.05)  # let the other threads start theirs
            return run_snaphu(grid, row_cost, col_cost)
        finally:
            with lock:
                running[0] -= 1

    args = PsiParams(unwrap_grid_size=75.0).kernel_args(unwrap_3d)
    serial = unwrap_3d(ph, xy, day, 4, bperp, INC, WAVELENGTH, **{**args, "n_cores": 1})
    conc = unwrap_3d(ph, xy, day, 4, bperp, INC, WAVELENGTH, unwrap_grid=solver, **{**args, "n_cores": n_cores})
    assert 1 < peak[0] <= limit
    np.testing.assert_array_equal(conc.ph_uw, serial.ph_uw)
    np.testing.assert_array_equal(conc.msd, serial.msd)
