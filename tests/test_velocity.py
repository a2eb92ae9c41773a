"""Referencing, deramping, displacement series and mean velocities (physics on synthetic stacks)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snapstamps.errors import ParameterError
from snapstamps.psi.config import PsiParams
from snapstamps.psi.geometry import mm_to_phase
from snapstamps.psi.velocity import (
    deramp,
    displacement_series,
    mean_velocity,
    mean_velocity_std,
    reference,
    reference_mask,
    velocity_map,
)

LAMBDA = 0.0554658


def _stack(n=200, m=25, master_ix=8, seed=1):
    rng = np.random.default_rng(seed)
    day = 737000.0 + 12.0 * np.arange(m)
    xy = rng.uniform(0, 5000, size=(n, 2))
    v_true = rng.uniform(-20, 20, size=n)  # mm/yr toward the satellite
    d = v_true[:, None] * (day - day[master_ix])[None, :] / 365.25  # mm
    return rng, day, xy, v_true, d


def test_velocity_exact_and_sign():
    rng, day, xy, v_true, d = _stack()
    ph = mm_to_phase(d, LAMBDA)
    v = mean_velocity(ph, day, 8, LAMBDA)
    np.testing.assert_allclose(v, v_true, atol=1e-9)
    # sign: motion toward the satellite (positive d) gives a negative phase trend
    i = int(np.argmax(v_true))
    assert v_true[i] > 0 and ph[i, -1] < 0 and v[i] > 0
    # one rad per ifg step of 12 days -> -4.414 mm per 12 days
    ph1 = (np.arange(25) - 8.0)[None, :] * 1.0
    v1 = mean_velocity(ph1, day, 8, LAMBDA)
    assert v1[0] == pytest.approx(-LAMBDA * 1000 / (4 * np.pi) * 365.25 / 12.0, rel=1e-12)


def test_velocity_nan_and_weights_and_constant_offset():
    rng, day, xy, v_true, d = _stack()
    ph = mm_to_phase(d, LAMBDA) + rng.normal(0, 3, size=(200, 1))  # per-pixel constant absorbed
    ph[::7, 3] = np.nan
    std = np.full(25, 20.0)
    std[5] = 1e4  # down-weighted ifg with a huge error
    ph[:, 5] += 50.0
    v = mean_velocity(ph, day, 8, LAMBDA, ifg_std_deg=std)
    np.testing.assert_allclose(v, v_true, atol=1e-3)
    v_unw = mean_velocity(ph, day, 8, LAMBDA)
    assert np.max(np.abs(v_unw - v_true)) > 1.0


def test_bootstrap_std_shrinks_with_noise_and_is_deterministic():
    rng, day, xy, v_true, d = _stack(n=300)
    ph0 = mm_to_phase(d, LAMBDA)
    noise = rng.normal(size=ph0.shape)
    s_hi = mean_velocity_std(ph0 + 1.0 * noise, day, 8, LAMBDA, n_boot=100, seed=3)
    s_lo = mean_velocity_std(ph0 + 0.1 * noise, day, 8, LAMBDA, n_boot=100, seed=3)
    np.testing.assert_allclose(np.median(s_lo) / np.median(s_hi), 0.1, rtol=0.05)
    # analytic OLS slope std for sigma = 1 rad: sigma / sqrt(sum (t - tbar)^2)
    t = np.delete(day - day[8], 8)
    sd = 1.0 / np.sqrt(np.sum((t - t.mean()) ** 2)) * 365.25 * LAMBDA * 1000 / (4 * np.pi)
    assert np.median(s_hi) == pytest.approx(sd, rel=0.2)
    again = mean_velocity_std(ph0 + 1.0 * noise, day, 8, LAMBDA, n_boot=100, seed=3)
    np.testing.assert_array_equal(s_hi, again)
    assert np.all(mean_velocity_std(ph0, day, 8, LAMBDA) < 1e-9)


def test_reference_radius_and_box():
    ll0 = np.array([10.0, 45.0])
    rng = np.random.default_rng(0)
    lonlat = ll0 + rng.uniform(-0.05, 0.05, size=(500, 2))
    p = PsiParams(ref_centre_lonlat=(10.0, 45.0), ref_radius=1000.0)
    mask = reference_mask(lonlat, ll0, **p.kernel_args(reference_mask))
    dist = np.hypot((lonlat[:, 0] - 10.0) * 111320 * math.cos(math.radians(45.0)), (lonlat[:, 1] - 45.0) * 111132)
    far_enough = np.abs(dist - 1000.0) > 10.0
    np.testing.assert_array_equal(mask[far_enough], (dist <= 1000.0)[far_enough])
    assert 5 < mask.sum() < 100
    assert reference_mask(lonlat, ll0, **PsiParams().kernel_args(reference_mask)).all()  # defaults: whole scene
    assert not reference_mask(lonlat, ll0, **PsiParams(ref_radius=-math.inf).kernel_args(reference_mask)).any()
    box = reference_mask(lonlat, ll0, **PsiParams(ref_lon=(10.0, 10.02), ref_lat=(44.99, 45.0)).kernel_args(reference_mask))
    np.testing.assert_array_equal(box, (lonlat[:, 0] > 10) & (lonlat[:, 0] < 10.02) & (lonlat[:, 1] > 44.99) & (lonlat[:, 1] < 45))
    with pytest.raises(ParameterError, match="ref_radius"):
        reference_mask(lonlat, ll0, **PsiParams(ref_centre_lonlat=(12.0, 45.0), ref_radius=100.0).kernel_args(reference_mask))
    ph = rng.normal(size=(500, 4))
    ph[mask] += 7.0
    ph[np.flatnonzero(mask)[0], 2] = np.nan
    r = reference(ph, mask)
    np.testing.assert_allclose(np.nanmean(r[mask], axis=0), 0.0, atol=1e-12)
    np.testing.assert_array_equal(reference(ph, np.zeros(500, bool)), ph)


def test_deramp_removes_plane_and_keeps_residual():
    rng = np.random.default_rng(2)
    xy = rng.uniform(-3000, 8000, size=(400, 2))
    sig = np.sin(xy[:, :1] / 300.0) * np.ones((1, 3))  # non-planar signal
    plane = np.column_stack([0.5 * xy[:, 0] / 1000 - 0.2 * xy[:, 1] / 1000 + 1.0, 0.0 * xy[:, 0], -xy[:, 1] / 1000])
    ph = plane.copy()
    ph[5, 2] = np.nan
    out, ramp = deramp(ph, xy)
    np.testing.assert_allclose(ramp, plane, atol=1e-9)
    assert np.isnan(out[5, 2])
    np.testing.assert_allclose(np.nan_to_num(out), 0.0, atol=1e-9)
    out2, ramp2 = deramp(sig + plane, xy, columns=[0, 2])
    assert np.all(ramp2[:, 1] == 0)
    # the residual of a planar fit is orthogonal to the plane: signal survives up to its own plane
    assert np.corrcoef(out2[:, 0], sig[:, 0])[0, 1] > 0.95


def test_displacement_series_and_velocity_map():
    rng, day, xy, v_true, d = _stack(n=150, m=20, master_ix=8)
    n, m = d.shape
    bperp = rng.uniform(-150, 150, size=(1, m))
    bperp[0, 8] = 0.0
    K = rng.normal(0, 0.01, size=n)
    ph_scla = K[:, None] * bperp
    C = rng.normal(0, 1, size=n)
    ramp = (xy[:, :1] / 1000.0) * rng.normal(0, 0.5, size=(1, m))  # orbit-like ramps
    ramp[:, 8] = 0
    ph_uw = mm_to_phase(d, LAMBDA) + ph_scla + C[:, None] + 3.0
    ph_uw[:, 8] = 0.0
    ref = np.zeros(n, bool)
    ref[:10] = True
    u = displacement_series(ph_uw, ph_scla, C, 8, ref, LAMBDA, zero_master=True)
    np.testing.assert_allclose(u, d - d[:10].mean(axis=0), atol=1e-9)
    u_out = displacement_series(ph_uw, ph_scla, C, 8, ref, LAMBDA, zero_master=False)
    np.testing.assert_allclose(u_out[:, 8], (C - C[:10].mean()) * LAMBDA * 1000 / (4 * np.pi), atol=1e-9)
    vref = v_true - v_true[:10].mean()
    np.testing.assert_allclose(velocity_map("v-d", ph_uw, ph_scla, C, None, xy, day, 8, LAMBDA, ref), vref, atol=1e-9)
    v_raw = velocity_map("v", ph_uw, ph_scla, C, None, xy, day, 8, LAMBDA, ref)
    assert np.max(np.abs(v_raw - vref)) > 0.5
    # a planar deformation field is removed by 'v-do', anything else survives
    vo = velocity_map("v-do", ph_uw + ramp, ph_scla, C, None, xy, day, 8, LAMBDA, ref)
    dplane = vref + 0.0
    G = np.column_stack([xy / 1000, np.ones(n)])
    resid = dplane - G @ np.linalg.lstsq(G, dplane, rcond=None)[0]
    np.testing.assert_allclose(vo - vo[:10].mean(), resid - resid[:10].mean(), atol=1e-6)
    scn = rng.normal(0, 0.3, size=(n, m))
    scn[:, 8] = 0
    vs = velocity_map("v-ds", ph_uw + scn, ph_scla, C, scn, xy, day, 8, LAMBDA, ref, drop=[3])
    np.testing.assert_allclose(vs, vref, atol=1e-9)
    with pytest.raises(ParameterError):
        velocity_map("v-x", ph_uw, ph_scla, C, None, xy, day, 8, LAMBDA, ref)
