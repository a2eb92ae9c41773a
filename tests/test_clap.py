"""Tests of the CLAP filter: low-pass shape, signal preservation, noise reduction, tiling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import correlate2d

from snapstamps.errors import ParameterError
from snapstamps.psi.clap import clap_filt, clap_filt_patch, clap_filt_patch_at, clap_low_pass, gausswin


def _naive_window(bit: np.ndarray, alpha: float, beta: float, lp: np.ndarray) -> np.ndarray:
    """One CLAP window, written literally from the reference (2-D correlation, fftshift)."""
    f = np.fft.fft2(bit)
    h = np.abs(f)
    g = gausswin(7)
    h = np.fft.ifftshift(correlate2d(np.fft.fftshift(h), np.outer(g, g), mode="same"))
    med = np.median(h)
    if med != 0:
        h = h / med
    h = np.maximum(h**alpha - 1.0, 0.0)
    return np.fft.ifft2(f * (beta * h + lp))


def _naive_clap(grid: np.ndarray, alpha: float, beta: float, n_win: int, n_pad: int, lp: np.ndarray) -> np.ndarray:
    grid = np.nan_to_num(grid)
    n_i, n_j = grid.shape
    inc = n_win // 4
    x = np.arange(n_win // 2)
    w0 = x[:, None] + x[None, :]
    w = np.block([[w0, w0[:, ::-1]], [w0[::-1, :], w0[::-1, ::-1]]]) + 1e-6
    out = np.zeros_like(grid, dtype=complex)
    for a in range(math.ceil(n_i / inc) - 3):
        i1, wf = a * inc, w.copy()
        if i1 + n_win > n_i:
            sh = i1 + n_win - n_i
            i1 = n_i - n_win
            wf = np.vstack([np.zeros((sh, n_win)), wf[: n_win - sh]])
        for c in range(math.ceil(n_j / inc) - 3):
            j1, wf2 = c * inc, wf.copy()
            if j1 + n_win > n_j:
                sh = j1 + n_win - n_j
                j1 = n_j - n_win
                wf2 = np.hstack([np.zeros((n_win, sh)), wf2[:, : n_win - sh]])
            bit = np.zeros((n_win + n_pad,) * 2, complex)
            bit[:n_win, :n_win] = grid[i1 : i1 + n_win, j1 : j1 + n_win]
            filt = _naive_window(bit, alpha, beta, lp)[:n_win, :n_win] * wf2
            out[i1 : i1 + n_win, j1 : j1 + n_win] += filt
    return out


def test_low_pass_shape() -> None:
    lp = clap_low_pass(50.0, 800.0, 32)
    assert lp.shape == (32, 32)
    assert lp[0, 0] == pytest.approx(1.0)
    # frequency index 2 is 2/(32*50 m) = 1/800 m = cut-off -> Butterworth half power (0.5 amplitude)
    assert lp[2, 0] == pytest.approx(0.5, abs=1e-12)
    assert lp[0, 2] == pytest.approx(0.5, abs=1e-12)
    assert lp[2, 2] == pytest.approx(0.25, abs=1e-12)
    # symmetric in +-f, monotonic decrease to Nyquist, strongly attenuated at 2 f0 (2^-10 order)
    np.testing.assert_allclose(lp[1:, 0], lp[1:, 0][::-1], atol=1e-15)
    assert np.all(np.diff(lp[:17, 0]) <= 0)
    assert lp[4, 0] == pytest.approx(1 / (1 + 2.0**10), rel=1e-9)
    np.testing.assert_allclose(lp, lp.T)


def test_plane_wave_preserved() -> None:
    n = 64
    y, x = np.mgrid[:n, :n]
    g = np.exp(1j * (0.2 * x - 0.12 * y + 0.3))  # fringes of ~31 and ~52 cells
    lp = clap_low_pass(50.0, 800.0, 32)
    out = clap_filt(g, 1.0, 0.3, 24, 8, lp)
    err = np.angle(out * np.conj(g))
    # zero-padding leakage of a non-periodic fringe leaves a small phase bias (~0.01 rad rms)
    assert np.sqrt(np.mean(err**2)) < 0.02
    assert np.abs(err[4:-4, 4:-4]).max() < 0.03
    assert np.abs(err).max() < 0.06
    assert out.dtype == np.complex64


def test_white_phase_noise_reduced() -> None:
    rng = np.random.default_rng(7)
    n = 60
    y, x = np.mgrid[:n, :n]
    smooth = 1.5 * np.sin(2 * np.pi * x / 70.0) + 0.04 * y
    noisy = np.exp(1j * (smooth + rng.normal(0, 1.0, (n, n))))
    out = clap_filt(noisy, 1.0, 0.3, 24, 8, clap_low_pass(50.0, 800.0, 32))
    before = np.std(np.angle(noisy * np.exp(-1j * smooth)))
    after = np.std(np.angle(out * np.exp(-1j * smooth)))
    assert before > 0.9
    assert after < 0.25 * before


def test_tiled_filter_matches_literal_reference_on_odd_sized_stack() -> None:
    rng = np.random.default_rng(8)
    n_i, n_j = 29, 41  # not multiples of the 6-cell step: exercises the shifted edge tiles
    stack = rng.normal(size=(n_i, n_j, 2)) + 1j * rng.normal(size=(n_i, n_j, 2))
    stack[3, 4, 0] = np.nan  # NaN counts as 0
    lp = clap_low_pass(40.0, 800.0, 32)
    out = clap_filt(stack, 1.0, 0.3, 24, 8, lp)
    assert out.shape == stack.shape
    for f in range(2):
        ref = _naive_clap(stack[:, :, f], 1.0, 0.3, 24, 8, lp)
        np.testing.assert_allclose(out[:, :, f], ref, rtol=1e-5, atol=1e-4 * np.abs(ref).max())
    # alpha != 1 also matches
    out2 = clap_filt(stack[:, :, 1], 0.7, 0.5, 24, 8, lp)
    ref2 = _naive_clap(stack[:, :, 1], 0.7, 0.5, 24, 8, lp)
    np.testing.assert_allclose(out2, ref2, rtol=1e-5, atol=1e-4 * np.abs(ref2).max())


def test_patch_filter_batched_equals_single_and_reference() -> None:
    rng = np.random.default_rng(9)
    w = rng.normal(size=(3, 4, 32, 32)) + 1j * rng.normal(size=(3, 4, 32, 32))
    lp = clap_low_pass(50.0, 800.0, 32)
    out = clap_filt_patch(w, 1.0, 0.3, lp)
    assert out.shape == w.shape
    np.testing.assert_allclose(out[1, 2], clap_filt_patch(w[1, 2], 1.0, 0.3, lp), rtol=1e-12)
    np.testing.assert_allclose(out[2, 3], _naive_window(w[2, 3], 1.0, 0.3, lp), rtol=1e-9, atol=1e-9)
    # a constant-phase window stays at that phase
    c = np.full((32, 32), np.exp(0.9j))
    assert np.allclose(np.angle(clap_filt_patch(c, 1.0, 0.3, lp)), 0.9, atol=1e-9)


def test_patch_value_at_cell_equals_full_filter() -> None:
    rng = np.random.default_rng(10)
    w = rng.normal(size=(5, 3, 32, 32)) + 1j * rng.normal(size=(5, 3, 32, 32))
    lp = clap_low_pass(50.0, 800.0, 32)
    li, lj = np.array([0, 5, 16, 31, 20]), np.array([31, 2, 16, 0, 7])
    at = clap_filt_patch_at(w, 1.0, 0.3, lp, li, lj)
    full = clap_filt_patch(w, 1.0, 0.3, lp)[np.arange(5), :, li, lj]
    assert at.shape == (5, 3)
    # single precision inside clap_filt_patch_at
    np.testing.assert_allclose(at, full, rtol=1e-4, atol=1e-5 * np.abs(full).max())


def test_grid_smaller_than_window_is_a_parameter_error() -> None:
    with pytest.raises(ParameterError, match="filter_grid_size"):
        clap_filt(np.ones((20, 40), complex), 1.0, 0.3, 24, 8, clap_low_pass(50.0, 800.0, 32))
