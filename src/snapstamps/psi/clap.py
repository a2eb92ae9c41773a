"""CLAP filter (Combined Low-pass and Adaptive Phase filter) on gridded complex phase.

The filter estimates the spatially correlated part of the interferometric phase from the
(weighted) phasor sums of the PS candidates in each cell of a regular grid.  For one window of
complex values it

1. takes the 2-D FFT ``F`` (the window may first be zero-padded);
2. forms the amplitude spectrum ``H = |F|`` and smooths it, in the centred (fftshifted) frequency
   layout, with a 7 x 7 separable Gaussian kernel (``gausswin(7)``, alpha 2.5; zero outside);
3. normalises ``H`` by its median, raises it to ``alpha`` and keeps only the excess above 1:
   ``H = max(H^alpha - 1, 0)`` -- the adaptive part, which passes the dominant fringes;
4. builds the response ``G = beta H + LP`` with ``LP`` a fixed 5th-order Butterworth low pass;
5. returns ``ifft2(F G)``.

The whole-grid version (:func:`clap_filt`) cuts the grid into overlapping ``n_win x n_win``
tiles (step ``floor(n_win/4)``), zero-pads each to ``n_win + n_pad``, filters it, crops the
``n_win x n_win`` corner, multiplies by a pyramid taper and adds the tiles up.  Output magnitudes
are not renormalised (only the phase is used downstream).  All tiles of all interferograms are
filtered with batched FFTs.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import NDArray
from scipy import fft as sfft

from ..errors import ParameterError

__all__ = ["clap_low_pass", "clap_filt", "clap_filt_patch", "clap_filt_patch_at", "gausswin"]

# complex128 elements per FFT batch (~64 MB)
_CHUNK_ELEMENTS = 1 << 19


def gausswin(n: int, alpha: float = 2.5) -> NDArray[np.float64]:
    """MATLAB-style Gaussian window of length ``n``: ``exp(-0.5 (alpha k / ((n-1)/2))^2)``."""
    k = np.arange(n) - (n - 1) / 2.0
    return np.exp(-0.5 * (alpha * k / ((n - 1) / 2.0)) ** 2)


def clap_low_pass(grid_size: float, wavelength_m: float, n_win: int) -> NDArray[np.float64]:
    """Low-pass response of the CLAP filter, ``(n_win, n_win)``, in unshifted FFT layout.

    Frequencies ``f = (-n/2 .. n/2-1) / (grid_size n)`` (cycles per m, ``grid_size`` in m);
    ``b(f) = 1 / (1 + (f / f0)^10)`` with ``f0 = 1 / wavelength_m``; the 2-D response is the outer
    product ``b b^T`` rearranged so that DC is at index ``[0, 0]`` (numpy ``ifftshift`` layout).
    """
    n = int(n_win)
    f = (np.arange(n) - n // 2) / (grid_size * n)
    b = 1.0 / (1.0 + (f * wavelength_m) ** 10)
    return np.fft.ifftshift(np.outer(b, b))


@functools.lru_cache(maxsize=8)
def _smoothing_matrix(n: int) -> NDArray[np.float64]:
    """Matrix ``S`` with ``S @ H @ S.T`` = 7x7 Gaussian smoothing of ``H`` in the fftshifted
    layout (zero boundary), mapped back to the unshifted layout."""
    g = gausswin(7)
    band = np.zeros((n, n))
    for d in range(-3, 4):
        band += np.eye(n, k=d) * g[d + 3]
    # unshifted index u <-> shifted index s = (u + n//2) % n
    perm = (np.arange(n) + n // 2) % n
    out = band[np.ix_(perm, perm)]
    out.flags.writeable = False
    return out


def _adaptive_response(
    spec: np.ndarray, alpha: float, beta: float, low_pass: NDArray[np.float64]
) -> np.ndarray:
    """``beta * max((H/median H)^alpha - 1, 0) + low_pass`` for a batch of spectra ``(..., n, n)``.

    Computed in the real precision of ``spec`` (float32 for complex64 input).
    """
    n = spec.shape[-1]
    real = np.float32 if spec.dtype == np.complex64 else np.float64
    s = _smoothing_matrix(n).astype(real)
    h = s @ np.abs(spec) @ s.T
    med = np.median(h.reshape(h.shape[:-2] + (-1,)), axis=-1)
    med[med == 0] = 1.0
    h /= med[..., None, None]
    if alpha != 1.0:
        np.power(h, alpha, out=h)
    h -= 1.0
    np.maximum(h, 0.0, out=h)
    h *= beta
    h += low_pass.astype(real)
    return h


def clap_filt_patch(
    windows: np.ndarray, alpha: float, beta: float, low_pass: np.ndarray
) -> NDArray[np.complex128]:
    """Single-window CLAP (no padding, no taper) of a batch of windows ``(..., n, n)`` complex.

    ``low_pass`` must be ``(n, n)`` (see :func:`clap_low_pass`).  NaNs are treated as 0.
    Returns the filtered windows, complex128, same shape.
    """
    w = np.asarray(windows)
    n = w.shape[-1]
    if w.ndim < 2 or w.shape[-2] != n:
        raise ValueError(f"windows must be (..., n, n), got {w.shape}")
    if low_pass.shape != (n, n):
        raise ValueError(f"low_pass shape {low_pass.shape} does not match windows of {n}x{n}")
    w = np.nan_to_num(w.astype(np.complex128, copy=False), nan=0.0)
    lead = w.shape[:-2]
    flat = w.reshape((-1, n, n))
    out = np.empty_like(flat)
    step = max(1, _CHUNK_ELEMENTS // (n * n))
    for s in range(0, flat.shape[0], step):
        spec = sfft.fft2(flat[s : s + step])
        g = _adaptive_response(spec, alpha, beta, low_pass)
        out[s : s + step] = sfft.ifft2(spec * g)
    return out.reshape(lead + (n, n))


def clap_filt_patch_at(
    windows: np.ndarray,
    alpha: float,
    beta: float,
    low_pass: np.ndarray,
    li: np.ndarray,
    lj: np.ndarray,
) -> NDArray[np.complex128]:
    """Value of :func:`clap_filt_patch` at one cell per window, without the inverse FFT.

    ``windows`` is ``(c, ..., n, n)``; ``li``, ``lj`` ``(c,)`` give the cell (row, column) read
    in window ``c``.  The inverse DFT is evaluated only there, as
    ``e_i^T (F G) e_j / n^2`` with ``e = exp(2 pi i k l / n)``, which costs O(n^2) instead of an
    inverse FFT.  Computed in single precision (StaMPS keeps the grid in single precision too);
    NaNs count as 0.  Returns ``(c, ...)`` complex128.
    """
    w = np.asarray(windows)
    n = w.shape[-1]
    if w.ndim < 3 or w.shape[-2] != n:
        raise ValueError(f"windows must be (c, ..., n, n), got {w.shape}")
    if low_pass.shape != (n, n):
        raise ValueError(f"low_pass shape {low_pass.shape} does not match windows of {n}x{n}")
    li = np.asarray(li, dtype=np.float64)
    lj = np.asarray(lj, dtype=np.float64)
    c = w.shape[0]
    mid = w.shape[1:-2]
    per = int(np.prod(mid, dtype=np.int64)) * n * n
    out = np.empty((c,) + mid, dtype=np.complex128)
    k = np.arange(n, dtype=np.float64)
    step = max(1, _CHUNK_ELEMENTS // max(per, 1))
    for s in range(0, c, step):
        e = min(c, s + step)
        blk = w[s:e].astype(np.complex64)
        nan = np.isnan(blk)
        if nan.any():
            blk[nan] = 0.0
        spec = sfft.fft2(blk, overwrite_x=True)
        spec *= _adaptive_response(spec, alpha, beta, low_pass)
        ei = np.exp(2j * np.pi * np.outer(li[s:e], k) / n).astype(np.complex64)  # (b, n)
        ej = np.exp(2j * np.pi * np.outer(lj[s:e], k) / n).astype(np.complex64)
        eshape = (e - s,) + (1,) * len(mid) + (n,)
        rowsum = np.einsum("...ab,...b->...a", spec, ej.reshape(eshape))
        out[s:e] = np.einsum("...a,...a->...", rowsum, ei.reshape(eshape)) / (n * n)
    return out


def _taper(n_win: int) -> NDArray[np.float64]:
    """Pyramid taper ``x_a + x_b`` (x = 0..n/2-1), mirrored to ``n_win x n_win``, plus 1e-6."""
    x = np.arange(n_win // 2, dtype=np.float64)
    q = x[:, None] + x[None, :]
    half = np.concatenate([q, q[:, ::-1]], axis=1)
    return np.concatenate([half, half[::-1, :]], axis=0) + 1e-6


def _tile_origins(n: int, n_win: int, n_inc: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Tile start indices along one axis and the shift applied to the last tiles (0 if none)."""
    n_tiles = max(math.ceil(n / n_inc) - 3, 1)
    start = np.arange(n_tiles, dtype=np.int64) * n_inc
    shift = np.maximum(start + n_win - n, 0)
    return start - shift, shift


def _shifted_taper_1d(n_win: int, shift: int) -> NDArray[np.float64]:
    """Row selector for a taper shifted down by ``shift`` (zero-filled at the start)."""
    return np.concatenate([np.full(shift, -1), np.arange(n_win - shift)])


def clap_filt(
    grid: np.ndarray,
    alpha: float,
    beta: float,
    n_win: int,
    n_pad: int,
    low_pass: np.ndarray,
) -> NDArray[np.complex64]:
    """Tiled CLAP filter of a complex grid ``(n_i, n_j)`` or a stack ``(n_i, n_j, n_ifg)``.

    Tiles are ``n_win x n_win`` with step ``floor(n_win/4)``; ``ceil(n/step) - 3`` tiles per axis
    (at least one).  A tile that would run past the grid edge is moved back to end at the edge
    and its taper is shifted with it (zero-filled where it falls off).  Each tile is zero-padded
    to ``n_win + n_pad`` (data in the top-left corner), filtered as in :func:`clap_filt_patch`
    (``low_pass`` is ``(n_win+n_pad, n_win+n_pad)``), cropped, tapered and summed.  NaNs count
    as 0.  Returns complex64 of the input shape.  Raises :class:`ParameterError` if the grid is
    smaller than ``n_win`` cells in either dimension.
    """
    g = np.asarray(grid)
    squeeze = g.ndim == 2
    if squeeze:
        g = g[:, :, None]
    if g.ndim != 3:
        raise ValueError(f"grid must be (n_i, n_j) or (n_i, n_j, n_ifg), got {np.shape(grid)}")
    n_i, n_j, n_ifg = g.shape
    n_win, n_pad = int(n_win), int(n_pad)
    if n_win % 2:
        raise ValueError("n_win must be even")
    if n_i < n_win or n_j < n_win:
        raise ParameterError(
            f"filter_grid_size: the CLAP grid has {n_i} x {n_j} cells, fewer than the "
            f"{n_win}-cell filter window; use a smaller filter_grid_size or a larger area"
        )
    n_fft = n_win + n_pad
    if low_pass.shape != (n_fft, n_fft):
        raise ValueError(f"low_pass shape {low_pass.shape} does not match {n_fft}x{n_fft}")
    n_inc = n_win // 4
    g = np.nan_to_num(g.astype(np.complex128, copy=False), nan=0.0)
    gt = np.moveaxis(g, 2, 0)  # (n_ifg, n_i, n_j)

    i0, ish = _tile_origins(n_i, n_win, n_inc)
    j0, jsh = _tile_origins(n_j, n_win, n_inc)
    taper = np.vstack([_taper(n_win), np.zeros((1, n_win))])  # row -1 -> zeros
    taper = np.hstack([taper, np.zeros((n_win + 1, 1))])
    # per-tile taper row/col selectors (-1 selects the zero row/col)
    rsel = np.stack([_shifted_taper_1d(n_win, int(s)) for s in ish])  # (ti, n_win)
    csel = np.stack([_shifted_taper_1d(n_win, int(s)) for s in jsh])  # (tj, n_win)
    tapers = taper[rsel[:, None, :, None], csel[None, :, None, :]]  # (ti, tj, n_win, n_win)

    out = np.zeros((n_ifg, n_i, n_j), dtype=np.complex128)
    ar = np.arange(n_win)
    rows = i0[:, None] + ar[None, :]  # (ti, n_win)
    cols = j0[:, None] + ar[None, :]  # (tj, n_win)
    n_ti, n_tj = len(i0), len(j0)
    per_row = n_tj * n_ifg * n_fft * n_fft
    if per_row <= _CHUNK_ELEMENTS:
        ifg_step, rows_per_chunk = n_ifg, max(1, _CHUNK_ELEMENTS // per_row)
    else:
        ifg_step, rows_per_chunk = max(1, _CHUNK_ELEMENTS // (n_tj * n_fft * n_fft)), 1
    for f0 in range(0, n_ifg, ifg_step):
        f1 = min(n_ifg, f0 + ifg_step)
        sub = gt[f0:f1]
        for t0 in range(0, n_ti, rows_per_chunk):
            t1 = min(n_ti, t0 + rows_per_chunk)
            # (f, ti, tj, n_win, n_win)
            tiles = sub[:, rows[t0:t1, None, :, None], cols[None, :, None, :]]
            padded = np.zeros(tiles.shape[:-2] + (n_fft, n_fft), dtype=np.complex128)
            padded[..., :n_win, :n_win] = tiles
            spec = sfft.fft2(padded)
            resp = _adaptive_response(spec, alpha, beta, low_pass)
            filt = sfft.ifft2(spec * resp)[..., :n_win, :n_win] * tapers[t0:t1]
            for a in range(t1 - t0):
                ri = rows[t0 + a]
                for c in range(n_tj):
                    out[f0:f1, ri[0] : ri[0] + n_win, cols[c, 0] : cols[c, 0] + n_win] += filt[:, a, c]
    res = np.moveaxis(out, 0, 2).astype(np.complex64)
    return res[:, :, 0] if squeeze else res
