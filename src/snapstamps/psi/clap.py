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
filtered with batched FFTs, on threads.

:func:`clap_filt_cells` is the single-window version that step 3 needs at every occupied cell,
with the cell itself zeroed; it computes exactly that, reorganised (shared first FFT pass, no
inverse FFT, single-pivot median) to cost less than half of the literal computation.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from scipy import fft as sfft

from ..errors import ParameterError
from .parallel import map_ordered, resolve_workers

__all__ = ["clap_low_pass", "clap_filt", "clap_filt_patch", "clap_filt_cells", "gausswin", "median_last_axis"]

# complex128 elements per FFT batch (2 MB)
_CHUNK_ELEMENTS = 1 << 17


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


def median_last_axis(x: np.ndarray) -> np.ndarray:
    """Median along the last axis, equal to ``np.median(x, axis=-1)`` bit for bit (no NaNs).

    ``np.median`` partitions around both middle elements of an even-length axis, which numpy
    does with a generic two-pivot selection (~10x slower than a single pivot, which uses the
    SIMD quickselect).  Here one partition puts the upper middle element ``m/2`` in place; the
    lower one is the maximum of the part below it.  The mean of the two is formed as numpy
    does (``(a + b) / 2`` in the input precision), so the result is identical.
    """
    m = x.shape[-1]
    hi = m // 2
    part = np.partition(x, hi, axis=-1)
    upper = part[..., hi]
    if m % 2:
        return upper.copy()
    lower = part[..., :hi].max(axis=-1)
    return (lower + upper) / x.dtype.type(2)


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
    med = median_last_axis(h.reshape(h.shape[:-2] + (-1,)))
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


def clap_filt_cells(
    grid: np.ndarray,
    cells: np.ndarray,
    origins: np.ndarray,
    *,
    n_win: int,
    alpha: float,
    beta: float,
    low_pass: np.ndarray,
    workers: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> NDArray[np.complex128]:
    """Single-window CLAP of the window of each cell, with that cell zeroed, read at the cell.

    For each cell ``c`` of ``cells`` ``(n_c, 2)`` (row, column), the ``n_win x n_win`` window of
    ``grid`` ``(n_i, n_j, n_f)`` starting at ``origins[c]`` (it must contain the cell) is copied,
    the cell itself is set to 0 in every layer, each layer is filtered as in
    :func:`clap_filt_patch` (``low_pass`` ``(n_win, n_win)``) and the filtered value at the cell
    is returned: ``(n_c, n_f)`` complex128.  This is what StaMPS step 3 computes per pixel.

    Exact reformulations (no approximation) make this ~2.4x cheaper than the batched literal
    computation (measured on the 600 x 1200 x 30 benchmark stack):

    * each window is transformed circularly shifted so that its cell lands at ``[0, 0]``: by the
      shift theorem the spectrum becomes ``F' = F e^{2 pi i (k l_i + l l_j)/n}``, with the same
      amplitude ``|F|`` (so the same response ``G``), and the filtered value at the cell is the
      plain sum ``sum(F' G) / n^2`` -- no inverse transform;
    * the 2-D transform is split in its two passes of 1-D transforms.  The first one (along
      the window rows) depends only on the grid row, the window's column origin and the shift,
      so it is computed once per grid row and column for a tile of cells and shared by all
      the windows that contain that row; zeroing the cell is then subtracting its value from
      one transformed row.  Only the second pass is per window;
    * with ``G = beta max(H/m - 1, 0) + LP`` (``alpha = 1``) the sum is
      ``(beta/m) sum(F' max(H - m, 0)) + sum(F' LP)``: one batched real matrix product and one
      complex matrix-vector product;
    * the median ``m`` of the smoothed amplitude is a single-pivot selection
      (:func:`median_last_axis`).

    Computed in single precision (StaMPS keeps the grid in single precision); NaNs count as 0.
    Tiles of cells run on ``workers`` threads (default: all available CPUs; numpy and pocketfft
    release the GIL); the result does not depend on it.  ``progress`` gets the completed fraction.
    """
    g = np.asarray(grid)
    if g.ndim != 3:
        raise ValueError(f"grid must be (n_i, n_j, n_f), got {g.shape}")
    n = int(n_win)
    if low_pass.shape != (n, n):
        raise ValueError(f"low_pass shape {low_pass.shape} does not match windows of {n}x{n}")
    cells = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    origins = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
    n_i, n_j, n_f = g.shape
    local = cells - origins
    if cells.shape != origins.shape or np.any(local < 0) or np.any(local >= n) or np.any(origins < 0) \
            or np.any(origins[:, 0] + n > n_i) or np.any(origins[:, 1] + n > n_j):
        raise ValueError("each window must lie inside the grid and contain its cell")
    n_c = cells.shape[0]
    out = np.empty((n_c, n_f), dtype=np.complex128)
    if n_c == 0:
        return out
    g = np.nan_to_num(g.astype(np.complex64))  # a copy
    ctx = _CellsContext(g, origins, local, n, float(alpha), float(beta), low_pass, out)
    # tiles of t x t cells: the shared first-pass transforms of a tile hold at most
    # n_f (t + n) t n complex64 values; keep that near _TILE_BYTES
    t = next((t for t in (64, 32, 16) if n_f * (t + n) * t * n * 8 <= _TILE_BYTES), 8)
    key = (cells[:, 0] // t) * (n_j // t + 1) + cells[:, 1] // t
    order = np.argsort(key, kind="stable")
    cuts = np.flatnonzero(np.diff(key[order])) + 1
    tiles = np.split(order, cuts)
    # largest first: the threads take tiles in rounds, so rounds of similar sizes balance them
    tiles.sort(key=lambda tile: -tile.size)
    report = progress or (lambda f: None)
    done = 0
    for tile, _ in zip(tiles, map_ordered(ctx.run, tiles, resolve_workers(workers))):
        done += tile.size
        report(done / n_c)
    return out


# bytes of shared first-pass transforms per tile of clap_filt_cells
_TILE_BYTES = 16 << 20
# windows per chunk of the per-window second pass (~1 MB of complex64 32x32 windows)
_CELL_CHUNK_WINDOWS = 128


class _CellsContext:
    """Shared inputs of :func:`clap_filt_cells`; ``run(idx)`` fills ``out[idx]`` for a tile."""

    def __init__(
        self,
        grid: np.ndarray,
        origins: np.ndarray,
        local: np.ndarray,
        n: int,
        alpha: float,
        beta: float,
        low_pass: np.ndarray,
        out: np.ndarray,
    ) -> None:
        self.grid, self.origins, self.local, self.n = grid, origins, local, n
        self.alpha, self.beta, self.out = alpha, beta, out
        self.s = _smoothing_matrix(n).astype(np.float32)
        self.lp = np.asarray(low_pass, dtype=np.float32).reshape(-1).astype(np.complex64)
        self.ar = np.arange(n)

    def run(self, idx: np.ndarray) -> None:
        n, ar, grid = self.n, self.ar, self.grid
        n_f = grid.shape[2]
        # first pass, shared: 1-D transform along each grid row of the (circularly shifted)
        # column segment of every distinct (column origin, column shift) of the tile, laid
        # out (segment, grid row, frequency, ifg) so that a window reads whole blocks
        ckey, cpos = np.unique(self.origins[idx, 1] * n + self.local[idx, 1], return_inverse=True)
        # cells by segment, then by row: consecutive windows read mostly the same rows
        order = np.lexsort((self.origins[idx, 0], cpos))
        idx, cpos = idx[order], cpos[order]
        o, loc = self.origins[idx], self.local[idx]
        r0 = int(o[:, 0].min())
        n_r = int(o[:, 0].max()) + n - r0
        seg_cols = (ckey // n)[:, None] + ((ckey % n)[:, None] + ar) % n  # (n_seg, n)
        rows_ft = grid[(r0 + np.arange(n_r))[None, :, None], seg_cols[:, None, :]]  # (seg, r, q, f)
        rows_ft = sfft.fft(rows_ft, axis=2, overwrite_x=True).reshape(-1, n * n_f)
        # the cell's own value, to be removed from the transformed row that holds it: after
        # the column shift it sits at column 0, where every frequency sees it with phase 0
        cell_val = grid[o[:, 0] + loc[:, 0], o[:, 1] + loc[:, 1]]  # (b, f)
        step = max(1, _CELL_CHUNK_WINDOWS // n_f)
        work = np.empty((min(step, idx.size) * n_f, n, n), dtype=np.float32)
        for c0 in range(0, idx.size, step):
            c1 = min(idx.size, c0 + step)
            b = c1 - c0
            # second pass, per window: the window's rows, circularly shifted so that the
            # cell's row comes first, then the transform along them
            rows = o[c0:c1, 0, None] - r0 + (loc[c0:c1, 0, None] + ar) % n  # (b, n)
            win = np.take(rows_ft, (cpos[c0:c1, None] * n_r + rows).ravel(), axis=0)
            win = win.reshape(b, n, n, n_f)  # (b, rows, freqs, f)
            win[:, 0] -= cell_val[c0:c1, None, :]
            spec = sfft.fft(win, axis=1, overwrite_x=True)
            spec = np.ascontiguousarray(spec.transpose(0, 3, 1, 2))  # (b, f, k, l)
            self.out[idx[c0:c1]] = self._filtered_sum(spec, work[: b * n_f]).reshape(b, n_f)

    def _filtered_sum(self, spec: np.ndarray, h: np.ndarray) -> NDArray[np.complex128]:
        """``sum(F' G) / n^2`` per window of ``spec`` ``(..., n, n)`` complex64 (C-contiguous).

        ``h`` ``(windows, n, n)`` float32 is work space.
        """
        n = self.n
        m = n * n
        flat = spec.reshape(-1, m)
        b = flat.shape[0]
        # smoothed amplitude, then the adaptive weights max(H - med, 0)
        # (or max((H/med)^alpha - 1, 0)) in place
        np.matmul(self.s @ np.abs(spec).reshape(-1, n, n), self.s, out=h)
        hf = h.reshape(b, m)
        med = median_last_axis(hf)
        med[med == 0] = 1.0
        if self.alpha == 1.0:
            hf -= med[:, None]
            scale = self.beta / med.astype(np.float64)
        else:
            hf /= med[:, None]
            np.power(hf, self.alpha, out=hf)
            hf -= 1.0
            scale = np.full(med.shape, self.beta)
        np.maximum(hf, 0.0, out=hf)
        # sum(F' weights) as a batched real product with the (re, im) pairs of F', and the
        # low-pass sum as one complex matrix-vector product
        adapt = np.matmul(hf[:, None, :], flat.view(np.float32).reshape(b, m, 2))[:, 0, :]
        low = flat @ self.lp
        return (scale * (adapt[:, 0] + 1j * adapt[:, 1].astype(np.float64)) + low) / m


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
    workers: int | None = None,
) -> NDArray[np.complex64]:
    """Tiled CLAP filter of a complex grid ``(n_i, n_j)`` or a stack ``(n_i, n_j, n_ifg)``.

    Tiles are ``n_win x n_win`` with step ``floor(n_win/4)``; ``ceil(n/step) - 3`` tiles per axis
    (at least one).  A tile that would run past the grid edge is moved back to end at the edge
    and its taper is shifted with it (zero-filled where it falls off).  Each tile is zero-padded
    to ``n_win + n_pad`` (data in the top-left corner), filtered as in :func:`clap_filt_patch`
    (``low_pass`` is ``(n_win+n_pad, n_win+n_pad)``), cropped, tapered and summed.  NaNs count
    as 0.  Tiles are filtered on ``workers`` threads (default: all available CPUs); the result
    does not depend on it.  Returns complex64 of the input shape.  Raises
    :class:`ParameterError` if the grid is smaller than ``n_win`` cells in either dimension.
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
    gt = np.moveaxis(g, 2, 0).astype(np.complex128, order="C")  # (n_ifg, n_i, n_j), a copy
    np.nan_to_num(gt, copy=False, nan=0.0)
    windows = sliding_window_view(gt, (n_win, n_win), axis=(1, 2))  # (n_ifg, ., ., n_win, n_win)

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
        most = max(1, _CHUNK_ELEMENTS // (n_tj * n_fft * n_fft))
        ifg_step, rows_per_chunk = math.ceil(n_ifg / math.ceil(n_ifg / most)), 1  # even split
    chunks = [
        (f0, min(n_ifg, f0 + ifg_step), t0, min(n_ti, t0 + rows_per_chunk))
        for f0 in range(0, n_ifg, ifg_step)
        for t0 in range(0, n_ti, rows_per_chunk)
    ]

    def filter_chunk(chunk: tuple[int, int, int, int]) -> np.ndarray:
        f0, f1, t0, t1 = chunk
        padded = np.zeros((f1 - f0, t1 - t0, n_tj, n_fft, n_fft), dtype=np.complex128)
        padded[..., :n_win, :n_win] = windows[f0:f1, i0[t0:t1, None], j0[None, :]]
        spec = sfft.fft2(padded, overwrite_x=True)
        spec *= _adaptive_response(spec, alpha, beta, low_pass)
        return sfft.ifft2(spec, overwrite_x=True)[..., :n_win, :n_win] * tapers[t0:t1]

    # tiles are filtered on threads; their sum is formed here, always in the same order
    for (f0, f1, t0, t1), filt in zip(chunks, map_ordered(filter_chunk, chunks, resolve_workers(workers))):
        for a in range(t1 - t0):
            ri = rows[t0 + a]
            for c in range(n_tj):
                out[f0:f1, ri[0] : ri[0] + n_win, cols[c, 0] : cols[c, 0] + n_win] += filt[:, a, c]
    res = np.moveaxis(out, 0, 2).astype(np.complex64)
    return res[:, :, 0] if squeeze else res
