"""The numba kernels of the interferogram engine against their numpy formulation.

The engine's resampling (:func:`snapstamps.ifg.resample.resample_2d`), coregistration (deramp,
sinc resampling, reramp: :func:`snapstamps.ifg.interferogram.coregister`) and interferogram run
as numba kernels row by row; the numpy expressions they replace (gathered copies per tap, whole
arrays) are written out here and must give the same values to float32 rounding (measured: equal
to the last bit for the resampling, a few float32 ulps at most for the ramp and the phase), with
positions inside, across and outside the input.  And the kernels still work where numba cannot
write its cache.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from snapstamps.ifg.interferogram import BurstClock, coregister, interferogram, mul_conj, secondary_positions, window_bounds
from snapstamps.ifg.resample import interp_axis0, interp_axis1, resample_2d
from snapstamps.ifg.tops import BurstRamp, ramp_phase


def _cplx(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def _two_pass_numpy(a: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The numpy two-pass resampling: azimuth at each input column, then range."""
    cols = np.arange(a.shape[1], dtype=np.float64)
    pos0 = np.stack([np.interp(cols, x[i], y[i]) for i in range(y.shape[0])])
    return interp_axis1(interp_axis0(a, pos0), x)


def _positions(L: int, W: int, y0: float, x0: float) -> tuple[np.ndarray, np.ndarray]:
    """Smooth, slightly rotated and stretched positions (as a coregistration's)."""
    yy, xx = np.meshgrid(np.arange(L, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    return y0 + yy * 1.0003 + 0.004 * xx + 1e-5 * xx**2, x0 + xx * 0.9991 + 0.03 * yy + 2e-6 * yy * xx


@pytest.mark.parametrize(("y0", "x0"), [(20.3, 15.7), (-6.2, -9.4), (60.8, 80.1)])  # inside, across the first and the last edges
def test_resample_equals_numpy_two_pass(y0: float, x0: float) -> None:
    rng = np.random.default_rng(1)
    a = _cplx(rng, (90, 260))
    y, x = _positions(50, 200, y0, x0)
    got = resample_2d(a, y, x)
    want = _two_pass_numpy(a, y, x)
    assert got.dtype == np.complex64 and got.shape == y.shape
    assert np.abs(want).max() > 1.0
    assert np.abs(got - want).max() <= 1e-6 * np.abs(want).max()


def _ramp() -> BurstRamp:
    """A ramp of Sentinel-1 IW1 magnitudes (Doppler rate ~ -1.7 kHz/s after steering)."""
    return BurstRamp(t_mid=12.5, ks=7600.0, fm_t0=5.35e-3, fm_coeffs=(-2310.0, 4.6e5, -7.9e7), dc_t0=5.35e-3, dc_coeffs=(18.0, -3.1e4, 2.2e7), tau_mid=5.4e-3)


def _coregister_numpy(window, line0, sample0, t_sec, r_sec, clock: BurstClock, ramp: BurstRamp) -> np.ndarray:
    """Deramp, two-pass resampling and reramp with whole numpy arrays."""
    y, x = secondary_positions(t_sec, r_sec, clock)
    tl = clock.t0 + np.asarray(line0 + np.arange(window.shape[0]), np.float64) * clock.dt
    ts = clock.tau0 + np.asarray(sample0 + np.arange(window.shape[1]), np.float64) / clock.fs
    a = window * np.exp(-1j * ramp_phase(ramp, tl[:, None], ts[None, :])).astype(np.complex64)
    out = _two_pass_numpy(a, y - line0, x - sample0)
    out *= np.exp(1j * ramp_phase(ramp, clock.t0 + y * clock.dt, clock.tau0 + x / clock.fs)).astype(np.complex64)
    n_l, n_s = window.shape
    inside = (y >= line0) & (y <= line0 + n_l - 1) & (x >= sample0) & (x <= sample0 + n_s - 1)
    return np.where(inside, out, 0).astype(np.complex64)


@pytest.mark.parametrize("offsets", [(0.0,), (-3.7e-3, 2.1e-5)])
def test_coregister_equals_numpy_formulation(offsets: tuple[float, ...]) -> None:
    rng = np.random.default_rng(2)
    clock = BurstClock(t0=11.0, dt=2.0556e-3, tau0=5.3e-3, fs=64.345e6, t_offsets=offsets)
    line0, sample0 = 700, 1200
    window = _cplx(rng, (80, 240))
    y, x = _positions(48, 180, line0 + 12.4, sample0 + 9.6)
    # times and ranges that give those positions (through the offsets)
    t_sec = y * clock.dt + clock.t0 + sum(offsets)
    r_sec = (x / clock.fs + clock.tau0) * 299792458.0 / 2.0
    t_sec[:3] -= 40 * clock.dt  # some rows before the window: zeros
    got = coregister(window.copy(), line0, sample0, t_sec, r_sec, clock, _ramp())
    want = _coregister_numpy(window, line0, sample0, t_sec, r_sec, clock, _ramp())
    assert (want[:3] == 0).all() and np.abs(want[3:]).min() > 0
    assert np.array_equal(got == 0, want == 0)
    assert np.abs(got - want).max() <= 2e-6 * np.abs(want).max()
    # in place: the same values, the window deramped
    w2 = window.copy()
    assert np.array_equal(coregister(w2, line0, sample0, t_sec, r_sec, clock, _ramp(), overwrite_window=True), got)
    assert not np.array_equal(w2, window)
    # without the ramp: the bare resampling
    y_, x_ = secondary_positions(t_sec, r_sec, clock)
    bare = coregister(window, line0, sample0, t_sec, r_sec, clock, None)
    ref = _two_pass_numpy(window, y_ - line0, x_ - sample0)
    assert np.abs(bare[3:] - ref[3:]).max() <= 1e-6 * np.abs(ref).max()


def test_window_bounds_cover_the_positions() -> None:
    clock = BurstClock(t0=11.0, dt=2.0556e-3, tau0=5.3e-3, fs=64.345e6, t_offsets=(1e-3,))
    y, x = _positions(30, 50, 100.3, 2000.6)
    t_sec = y * clock.dt + clock.t0 + 1e-3
    r_sec = (x / clock.fs + clock.tau0) * 299792458.0 / 2.0
    yy, xx = secondary_positions(t_sec, r_sec, clock)
    l0, l1, c0, c1 = window_bounds(t_sec, r_sec, clock, 1500, 20000, 16)
    assert (l0, l1, c0, c1) == (int(np.floor(yy.min())) - 16, int(np.ceil(yy.max())) + 17, int(np.floor(xx.min())) - 16, int(np.ceil(xx.max())) + 17)
    assert window_bounds(t_sec, r_sec, clock, 120, 2010, 16)[1::2] == (120, 2010)  # clipped to the burst


def test_interferogram_equals_numpy_expression() -> None:
    rng = np.random.default_rng(3)
    ref, sec = _cplx(rng, (40, 70)), _cplx(rng, (40, 70))
    r_ref = 8.5e5 + np.arange(70) * 2.33
    r_sec = r_ref[None, :] + rng.uniform(-30, 30, (40, 70))
    lam = 0.05546576
    want = (ref * np.conj(sec) * np.exp(-1j * 4.0 * np.pi / lam * (r_sec - r_ref[None, :]))).astype(np.complex64)
    got = interferogram(ref, sec, r_ref[None, :], r_sec, lam)
    assert np.abs(got - want).max() <= 1e-6 * np.abs(want).max()
    buf = ref.copy()
    assert np.array_equal(interferogram(buf, sec, r_ref[None, :], r_sec, lam, out=buf), got)  # in place
    with pytest.raises(ValueError, match="two complex arrays"):
        interferogram(ref, sec[:3], r_ref, r_sec, lam)


def test_mul_conj_equals_numpy_expression() -> None:
    """``x * conj(y)``; numpy's own last bit depends on its SIMD loops (fused multiply-add), so within rounding."""
    rng = np.random.default_rng(4)
    x, y = _cplx(rng, (300, 400)), _cplx(rng, (300, 400))
    want = x * np.conj(y)
    got = mul_conj(x, y)
    assert np.abs(got - want).max() <= 1e-6 * np.abs(want).max()
    y2 = y.copy()
    assert np.array_equal(mul_conj(x, y2, out=y2), got)  # in place
    with pytest.raises(ValueError, match="complex64"):
        mul_conj(x, y.astype(np.complex128))


def test_kernels_compile_without_a_writable_cache(tmp_path) -> None:
    """A kernel whose cache has nowhere to go (no source file here) compiles in memory instead of failing."""
    code = textwrap.dedent("""
        import numpy as np
        from snapstamps.ifg import jit
        ns = {}
        exec("def twice(a):\\n    return a * 2\\n", ns)
        f = jit.njit()(ns["twice"])
        assert f(np.arange(3)).tolist() == [0, 2, 4]
        assert jit.uncached == ["twice"], jit.uncached
        print("ok")
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]
