"""Tests of the CLAP filter: low-pass shape, signal preservation, noise reduction, tiling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import correlate2d

from snapstamps.errors import ParameterError
from snapstamps.psi.clap import (
    clap_filt,
    clap_filt_cells,
    clap_filt_patch,
    clap_low_pass,
    gausswin,
    median_last_axis,
)


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


def _naive_zeroed_cell(grid: np.ndarray, cell: tuple[int, int], origin: tuple[int, int], lp: np.ndarray) -> np.ndarray:
    """StaMPS step 3 for one cell, literally: copy the window, zero the cell, filter, read it."""
    n = lp.shape[0]
    (ci, cj), (i0, j0) = cell, origin
    win = np.nan_to_num(grid[i0 : i0 + n, j0 : j0 + n, :].astype(complex))
    win[ci - i0, cj - j0, :] = 0
    return np.array([_naive_window(win[:, :, f], 1.0, 0.3, lp)[ci - i0, cj - j0] for f in range(grid.shape[2])])


@pytest.mark.parametrize("workers", [1, 3])
def test_zeroed_cell_filter_equals_literal_per_cell_computation(workers: int) -> None:
    rng = np.random.default_rng(10)
    n_i, n_j, n_f = 45, 37, 3
    grid = (rng.normal(size=(n_i, n_j, n_f)) + 1j * rng.normal(size=(n_i, n_j, n_f))).astype(np.complex64)
    grid[:, :, 1] *= np.exp(1j * 0.3 * np.arange(n_j))[None, :]  # a fringe: the adaptive part matters
    grid[7, 9, 2] = np.nan
    lp = clap_low_pass(50.0, 800.0, 32)
    # every cell of the grid, windows centred and clipped as in step 3 (edges, corners, middle)
    ci, cj = np.meshgrid(np.arange(n_i), np.arange(n_j), indexing="ij")
    cells = np.stack([ci.ravel(), cj.ravel()], axis=1)
    origins = np.stack([np.clip(cells[:, 0] - 16, 0, n_i - 32), np.clip(cells[:, 1] - 16, 0, n_j - 32)], axis=1)
    got = clap_filt_cells(grid, cells, origins, n_win=32, alpha=1.0, beta=0.3, low_pass=lp, workers=workers)
    assert got.shape == (n_i * n_j, n_f) and got.dtype == np.complex128
    for k in range(0, cells.shape[0], 23):
        ref = _naive_zeroed_cell(grid, tuple(cells[k]), tuple(origins[k]), lp)
        # single precision inside clap_filt_cells (StaMPS keeps the grid in single precision)
        np.testing.assert_allclose(got[k], ref, rtol=2e-5, atol=2e-5 * np.abs(ref).max())
    # the cell's own value does not matter (it is zeroed: only single-precision rounding of
    # removing it from the shared transforms is left), its neighbours' do
    k = 20 * n_j + 18
    bumped = grid.copy()
    bumped[20, 18, :] += 5.0
    again = clap_filt_cells(bumped, cells[k : k + 1], origins[k : k + 1], n_win=32, alpha=1.0, beta=0.3, low_pass=lp)
    np.testing.assert_allclose(again[0], got[k], rtol=1e-5)
    bumped[20, 19, :] += 5.0
    moved = clap_filt_cells(bumped, cells[k : k + 1], origins[k : k + 1], n_win=32, alpha=1.0, beta=0.3, low_pass=lp)
    assert np.all(np.abs(moved[0] - got[k]) > 1e-3)


def test_zeroed_cell_filter_general_alpha_and_order_independence() -> None:
    rng = np.random.default_rng(11)
    grid = rng.normal(size=(40, 34, 2)) + 1j * rng.normal(size=(40, 34, 2))
    lp = clap_low_pass(50.0, 800.0, 32)
    cells = np.array([[0, 0], [39, 33], [20, 17], [5, 30], [20, 17]])
    origins = np.stack([np.clip(cells[:, 0] - 16, 0, 8), np.clip(cells[:, 1] - 16, 0, 2)], axis=1)
    got = clap_filt_cells(grid, cells, origins, n_win=32, alpha=0.7, beta=0.5, low_pass=lp)
    for k in range(cells.shape[0]):
        i0, j0 = origins[k]
        win = grid[i0 : i0 + 32, j0 : j0 + 32, :].copy()
        win[cells[k, 0] - i0, cells[k, 1] - j0, :] = 0
        ref = clap_filt_patch(np.moveaxis(win, 2, 0), 0.7, 0.5, lp)[:, cells[k, 0] - i0, cells[k, 1] - j0]
        np.testing.assert_allclose(got[k], ref, rtol=2e-5, atol=2e-5 * np.abs(ref).max())
    # a cell listed twice gets the same value; a permutation of the cells permutes the values
    np.testing.assert_array_equal(got[2], got[4])
    perm = np.array([3, 1, 4, 0, 2])
    np.testing.assert_array_equal(
        clap_filt_cells(grid, cells[perm], origins[perm], n_win=32, alpha=0.7, beta=0.5, low_pass=lp), got[perm]
    )
    with pytest.raises(ValueError, match="contain its cell"):
        clap_filt_cells(grid, cells[:1], origins[:1] + 1, n_win=32, alpha=0.7, beta=0.5, low_pass=lp)


def test_median_equals_numpy_median_bit_for_bit() -> None:
    rng = np.random.default_rng(12)
    for dtype in (np.float32, np.float64):
        for m in (1, 2, 7, 1024, 1025):
            x = (rng.random((40, m)) ** 3).astype(dtype)
            np.testing.assert_array_equal(median_last_axis(x), np.median(x, axis=-1))
            ties = rng.integers(0, 3, (40, m)).astype(dtype)
            np.testing.assert_array_equal(median_last_axis(ties), np.median(ties, axis=-1))
            assert median_last_axis(x).dtype == dtype


def test_grid_smaller_than_window_is_a_parameter_error() -> None:
    with pytest.raises(ParameterError, match="filter_grid_size"):
        clap_filt(np.ones((20, 40), complex), 1.0, 0.3, 24, 8, clap_low_pass(50.0, 800.0, 32))
