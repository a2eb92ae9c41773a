"""Goldstein adaptive phase filter of a gridded interferogram (StaMPS step 6 prefilter).

The grid is cut into square tiles of ``n_win`` cells overlapping by half a tile. Each tile is
zero-padded to ``n_win + n_pad`` cells, Fourier transformed, and its spectrum ``F`` is multiplied
by a response built from the spectrum itself: ``H = |F|`` smoothed with a 7 x 7 Gaussian
(``gausswin(7)``, alpha 2.5) in the centred (fftshifted) frequency domain, divided by its median
and raised to the power ``alpha``.  Dominant fringes (spectral peaks) are therefore kept while
the diffuse noise floor is damped.  The filtered tiles (cropped back to ``n_win``) are weighted
by a pyramid taper and summed into the output, and finally the magnitude of the input cells is
restored: ``out = |G| exp(i angle(sum))`` so that empty cells stay empty.

Tiles that would run past the grid edge are moved back to end at the edge; their taper is moved
with them and zero-filled on the side that now overlaps the previous tile (as StaMPS does).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

__all__ = ["goldstein_filter", "tile_layout", "pyramid_taper"]

# MATLAB gausswin(7) (alpha = 2.5): exp(-1/2 (alpha k / 3)^2), k = -3..3.
_GAUSS7 = np.exp(-0.5 * (2.5 * np.arange(-3, 4) / 3.0) ** 2)


def pyramid_taper(n_win: int) -> np.ndarray:
    """Pyramid taper of an ``n_win`` tile: ``x_a + x_b`` with ``x = 1..n_win/2``, mirrored.

    Smallest (2) at the tile corners, largest (``n_win``) at its centre.
    """
    half = n_win // 2
    x = np.arange(1, half + 1, dtype=np.float64)
    quarter = x[:, None] + x[None, :]
    top = np.concatenate([quarter, quarter[:, ::-1]], axis=1)
    taper = np.concatenate([top, top[::-1, :]], axis=0)
    if taper.shape[0] != n_win:  # odd window: repeat the centre row/column
        taper = np.pad(taper, ((0, n_win - taper.shape[0]), (0, n_win - taper.shape[1])), mode="edge")
    return taper


def tile_layout(n: int, n_win: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile origins (0-based) and edge shifts along one axis of length ``n``.

    Tiles step by ``n_win // 2``; there are ``ceil(n / step) - 1`` of them (at least one).  A
    tile running past the end is moved back by ``shift`` cells to end exactly at the edge.
    """
    step = max(n_win // 2, 1)
    count = max(int(np.ceil(n / step)) - 1, 1)
    start = np.arange(count) * step
    shift = np.maximum(start + n_win - n, 0)
    return start - shift, shift


def _shifted_tapers(taper: np.ndarray, shift_i: int, shift_j: np.ndarray) -> np.ndarray:
    """Tapers of one tile row, moved down by ``shift_i`` and right by ``shift_j[t]`` (zero fill).

    Returns ``(len(shift_j), n_win, n_win)``.
    """
    n_win = taper.shape[0]
    a = np.arange(n_win)[:, None] - shift_i  # (n_win, 1)
    b = np.arange(n_win)[None, None, :] - shift_j[:, None, None]  # (n_tj, 1, n_win)
    valid = (a >= 0)[None] & (b >= 0)
    return np.where(valid, taper[np.clip(a, 0, None)[None], np.clip(b, 0, None)], 0.0)


def goldstein_filter(grid: np.ndarray, alpha: float, n_win: int, n_pad: int) -> np.ndarray:
    """Goldstein-filter a complex grid ``(n_i, n_j)`` or a stack ``(n_i, n_j, K)`` of grids.

    Args:
        grid: complex cell sums (any magnitude; NaN treated as 0).
        alpha: exponent of the spectral response (StaMPS ``unwrap_gold_alpha``, 0.8).
        n_win: tile size in cells (``unwrap_gold_n_win``, 32); must not exceed the grid.
        n_pad: zero padding of each tile before the FFT (StaMPS: ``round(n_win / 4)``).

    Returns:
        complex64 array of the input shape: filtered phase with the input magnitude.
    """
    g = np.asarray(grid)
    squeeze = g.ndim == 2
    if squeeze:
        g = g[:, :, None]
    if g.ndim != 3:
        raise ValueError("grid must be (n_i, n_j) or (n_i, n_j, K)")
    g = np.where(np.isfinite(g), g, 0).astype(np.complex128)
    n_i, n_j, n_k = g.shape
    if min(n_i, n_j) < n_win:
        raise ValueError(f"grid {n_i} x {n_j} is smaller than the filter window {n_win}")

    taper = pyramid_taper(n_win)
    i_start, i_shift = tile_layout(n_i, n_win)
    j_start, j_shift = tile_layout(n_j, n_win)
    n_fft = n_win + n_pad
    acc = np.zeros_like(g)
    jj = j_start[:, None] + np.arange(n_win)[None, :]  # (n_tj, n_win)

    # ifgs per batch so that one tile row of spectra stays around 32 MB
    k_step = max(1, int((32 << 20) // (16 * n_fft * n_fft * len(j_start))))
    for ti, i0 in enumerate(i_start):
        for k0 in range(0, n_k, k_step):
            ks = slice(k0, min(n_k, k0 + k_step))
            _filter_tile_row(g, acc, i0, int(i_shift[ti]), ks, jj, j_start, j_shift, taper, n_fft, alpha)

    out = np.abs(g) * np.exp(1j * np.angle(acc))
    out = out.astype(np.complex64)
    return out[:, :, 0] if squeeze else out


def _filter_tile_row(
    g: np.ndarray,
    acc: np.ndarray,
    i0: int,
    i_shift: int,
    ks: slice,
    jj: np.ndarray,
    j_start: np.ndarray,
    j_shift: np.ndarray,
    taper: np.ndarray,
    n_fft: int,
    alpha: float,
) -> None:
    """Filter all tiles of one tile row for the ifgs ``ks`` and add them into ``acc``."""
    n_win = taper.shape[0]
    block = g[i0 : i0 + n_win, :, ks]  # (n_win, n_j, k)
    n_k = block.shape[2]
    tiles = np.moveaxis(block[:, jj, :], 1, 0)  # (n_tj, n_win[i], n_win[j], K)
    spec = np.fft.fft2(tiles, s=(n_fft, n_fft), axes=(1, 2))
    h = np.fft.fftshift(np.abs(spec), axes=(1, 2))
    h = correlate1d(h, _GAUSS7, axis=1, mode="constant", cval=0.0)
    h = correlate1d(h, _GAUSS7, axis=2, mode="constant", cval=0.0)
    h = np.fft.ifftshift(h, axes=(1, 2))
    med = np.median(h.reshape(h.shape[0], -1, n_k), axis=1)  # (n_tj, K)
    med = np.where(med > 0, med, 1.0)
    h = (h / med[:, None, None, :]) ** alpha
    filt = np.fft.ifft2(spec * h, axes=(1, 2))[:, :n_win, :n_win, :]
    w = _shifted_tapers(taper, i_shift, j_shift)  # (n_tj, n_win, n_win)
    filt *= w[..., None]
    for tj, j0 in enumerate(j_start):
        acc[i0 : i0 + n_win, j0 : j0 + n_win, ks] += filt[tj]
