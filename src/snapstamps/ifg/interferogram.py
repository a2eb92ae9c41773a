"""Coregistration of a secondary burst window and the interferogram (numba kernels, one pass per row).

``coregister``: deramp the secondary window with its own TOPS ramp, resample it at the
DEM-derived positions with the Kaiser-windowed sinc of :mod:`snapstamps.ifg.resample`, reramp
it at the resampled positions.  ``interferogram``: ``reference x conj(secondary)`` with the
flat-earth and topographic phase ``4 pi (R_sec - R_ref) / lambda`` removed.

The positions come in as the secondary's zero-Doppler time and slant range of every output pixel
(``t_sec``, ``r_sec``, what the geometry gives); the kernels turn them into burst line and sample
and evaluate the ramp per pixel, row by row, so a block needs no full-size temporaries.  The
arithmetic follows the numpy expressions of :func:`secondary_positions` and
:func:`snapstamps.ifg.tops.ramp_phase` operation by operation (no fastmath), and the complex
products are rounded as numpy's SIMD loops round them (:func:`cmul`): on the simulated stacks the
outputs are byte-identical to the numpy engine's (its last bit depends on numpy's SIMD dispatch;
tests/test_ifg_kernels.py checks to float32 rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .geocoding import SPEED_OF_LIGHT
from .jit import njit
from .resample import C64, F32, F64, kernel_lut, resample_row
from .tops import BurstRamp

__all__ = ["BurstClock", "coregister", "interferogram", "mul_conj", "secondary_positions", "window_bounds"]


@dataclass(frozen=True)
class BurstClock:
    """Line and sample clock of a secondary burst: line ``l`` at ``t0 + l dt``, sample ``s`` at ``tau0 + s / fs``.

    ``t_offsets`` (s) are subtracted, in order, from the geometry's times before they are turned
    into lines (the reference-to-secondary epoch difference, then the ESD shift).
    """

    t0: float
    dt: float
    tau0: float
    fs: float
    t_offsets: tuple[float, ...] = ()


def secondary_positions(t_sec: ArrayLike, r_sec: ArrayLike, clock: BurstClock) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Burst line ``y`` and sample ``x`` of zero-Doppler times ``t_sec`` and slant ranges ``r_sec`` (numpy reference)."""
    t = np.asarray(t_sec, np.float64)
    for off in clock.t_offsets:
        t = t - off
    y = (t - clock.t0) / clock.dt
    x = (2.0 * np.asarray(r_sec, np.float64) / SPEED_OF_LIGHT - clock.tau0) * clock.fs
    return y, x


def window_bounds(t_sec: ArrayLike, r_sec: ArrayLike, clock: BurstClock, n_lines: int, n_samples: int, margin: int) -> tuple[int, int, int, int]:
    """Burst lines ``[l0, l1)`` and samples ``[c0, c1)`` the positions need, ``margin`` pixels around (clipped to the burst).

    The position formulas are monotonic in ``t`` and ``r``, so the extremes of the positions are
    those of the extreme times and ranges (no full-size position arrays needed).
    """
    y_lo, x_lo = secondary_positions(np.nanmin(t_sec), np.nanmin(r_sec), clock)
    y_hi, x_hi = secondary_positions(np.nanmax(t_sec), np.nanmax(r_sec), clock)
    l0 = max(0, math.floor(y_lo) - margin)
    l1 = min(n_lines, math.ceil(y_hi) + margin + 1)
    c0 = max(0, math.floor(x_lo) - margin)
    c1 = min(n_samples, math.ceil(x_hi) + margin + 1)
    return l0, l1, c0, c1


@njit()
def cmul(ar: Any, ai: Any, br: Any, bi: Any) -> tuple[Any, Any]:
    """Product ``a x b`` of float32 complex parts, each part rounded once to float32.

    numpy's SIMD complex64 loops compute ``(fma(ar, br, -ai bi), fma(ar, bi, ai br))``; here the
    float64 products of two float32 are exact and the sums rounded once in float64, then to float32
    (equal to the fused form but for ties, about one in 2^29).  The operand order matters: numpy
    evaluates ``x * tmp`` with a large temporary ``tmp`` as ``tmp * x`` (temporary elision), so
    callers pass the operands in the order numpy used them.
    """
    re = np.float32(np.float64(ar) * np.float64(br) - np.float64(np.float32(ai * bi)))
    im = np.float32(np.float64(ar) * np.float64(bi) + np.float64(np.float32(ai * br)))
    return re, im


@njit()
def _mul_conj_block(x: C64, y: C64, out: C64) -> None:
    n_rows, n_cols = x.shape
    for i in range(n_rows):
        for j in range(n_cols):
            a = x[i, j]
            b = y[i, j]
            re, im = cmul(b.real, -b.imag, a.real, a.imag)
            out[i, j] = complex(re, im)


def mul_conj(x: NDArray[np.complex64], y: NDArray[np.complex64], out: NDArray[np.complex64] | None = None) -> NDArray[np.complex64]:
    """``x * np.conj(y)`` of two complex64 arrays of one 2-D shape, as numpy computes it for large arrays.

    ``out`` may be ``x`` or ``y`` (each pixel is read before it is written).
    """
    if x.shape != y.shape or x.ndim != 2 or x.dtype != np.complex64 or y.dtype != np.complex64:
        raise ValueError(f"x {x.shape} {x.dtype} and y {y.shape} {y.dtype}: two complex64 arrays of one 2-D shape expected")
    if out is None:
        out = np.empty(x.shape, np.complex64)
    _mul_conj_block(x, y, out)
    return out


@njit()
def _polyval(x: float, c: F64) -> float:
    """numpy.polynomial.polynomial.polyval's Horner scheme, operation by operation."""
    n = c.shape[0]
    v = c[n - 1] + x * 0.0
    for i in range(2, n + 1):
        v = c[n - i] + v * x
    return v


@njit()
def _ramp_terms(tau: float, fm_t0: float, fm_c: F64, dc_t0: float, dc_c: F64, ks: float, eta_c_mid: float) -> tuple[float, float, float]:
    """``(kt, fdc, eta_ref)`` of :class:`snapstamps.ifg.tops.BurstRamp` at slant-range time ``tau``."""
    ka = _polyval(tau - fm_t0, fm_c)
    fdc = _polyval(tau - dc_t0, dc_c)
    kt = ka * ks / (ka - ks)
    eta_ref = -fdc / ka - eta_c_mid
    return kt, fdc, eta_ref


@njit()
def _deramp(win: C64, t_lines: F64, tau_cols: F64, t_mid: float, fm_t0: float, fm_c: F64, dc_t0: float, dc_c: F64, ks: float, eta_c_mid: float) -> None:
    """``win *= exp(-j ramp_phase)`` in place (complex64 product of the complex64-rounded ramp)."""
    n_l, n_c = win.shape
    kt = np.empty(n_c)
    fdc = np.empty(n_c)
    er = np.empty(n_c)
    for c in range(n_c):
        kt[c], fdc[c], er[c] = _ramp_terms(tau_cols[c], fm_t0, fm_c, dc_t0, dc_c, ks, eta_c_mid)
    two_pi = 2.0 * np.pi
    for l in range(n_l):
        for c in range(n_c):
            d = t_lines[l] - t_mid - er[c]
            ph = np.pi * kt[c] * (d * d) + two_pi * fdc[c] * d
            cr = np.float32(math.cos(ph))
            ci = np.float32(-math.sin(ph))
            v = win[l, c]
            re, im = cmul(cr, ci, v.real, v.imag)  # numpy computed exp(...) x window (temporary first)
            win[l, c] = complex(re, im)


@njit()
def _coregister_block(
    win: C64, line0: int, sample0: int, t_sec: F64, r_sec: F64, offsets: F64, t0: float, dt: float, tau0: float, fs: float, light: float,
    has_ramp: bool, t_mid: float, fm_t0: float, fm_c: F64, dc_t0: float, dc_c: F64, ks: float, eta_c_mid: float, lut: F32, taps: int, out: C64,
) -> None:
    n_rows, n_out = t_sec.shape
    n_l, n_s = win.shape
    w_in = n_s
    cols = np.arange(w_in).astype(np.float64)
    pos0 = np.empty(w_in)
    inter_r = np.empty(w_in, np.float32)
    inter_i = np.empty(w_in, np.float32)
    out_r = np.empty(n_out, np.float32)
    out_i = np.empty(n_out, np.float32)
    y = np.empty(n_out)
    x = np.empty(n_out)
    yr = np.empty(n_out)
    xr = np.empty(n_out)
    two_pi = 2.0 * np.pi
    y_max = line0 + n_l - 1
    x_max = sample0 + n_s - 1
    for i in range(n_rows):
        for j in range(n_out):
            t = t_sec[i, j]
            for o in range(offsets.shape[0]):
                t = t - offsets[o]
            y[j] = (t - t0) / dt
            x[j] = (2.0 * r_sec[i, j] / light - tau0) * fs
            yr[j] = y[j] - line0
            xr[j] = x[j] - sample0
        resample_row(win, yr, xr, lut, taps, cols, pos0, inter_r, inter_i, out_r, out_i)
        for j in range(n_out):
            if not (y[j] >= line0 and y[j] <= y_max and x[j] >= sample0 and x[j] <= x_max):
                out[i, j] = 0
                continue
            vr = out_r[j]
            vi = out_i[j]
            if has_ramp:
                tl = t0 + y[j] * dt
                tau = tau0 + x[j] / fs
                kt, fdc, er = _ramp_terms(tau, fm_t0, fm_c, dc_t0, dc_c, ks, eta_c_mid)
                d = tl - t_mid - er
                ph = np.pi * kt * (d * d) + two_pi * fdc * d
                cr = np.float32(math.cos(ph))
                ci = np.float32(math.sin(ph))
                re, im = cmul(vr, vi, cr, ci)
                out[i, j] = complex(re, im)
            else:
                out[i, j] = complex(vr, vi)


def coregister(
    window: NDArray[np.complex64],
    line0: int,
    sample0: int,
    t_sec: NDArray[np.float64],
    r_sec: NDArray[np.float64],
    clock: BurstClock,
    ramp: BurstRamp | None,
    taps: int = 16,
    overwrite_window: bool = False,
) -> NDArray[np.complex64]:
    """Secondary values at the pixels of zero-Doppler times ``t_sec`` and slant ranges ``r_sec`` (arrays of the output shape).

    ``window`` holds burst lines ``line0..`` and samples ``sample0..`` of the burst whose clock is
    ``clock``; positions outside it give 0.  ``ramp=None`` skips the deramp/reramp (only correct
    for data without TOPS steering; kept for tests).  ``overwrite_window``: deramp ``window`` in
    place (saves a window-sized copy).
    """
    if taps % 2 or taps < 2:
        raise ValueError(f"taps {taps}: an even number of at least 2")
    t_sec = np.asarray(t_sec, np.float64)
    r_sec = np.asarray(r_sec, np.float64)
    if t_sec.shape != r_sec.shape or t_sec.ndim != 2:
        raise ValueError(f"t_sec {t_sec.shape} and r_sec {r_sec.shape}: two arrays of one 2-D shape expected")
    a = window if (overwrite_window and window.dtype == np.complex64 and window.flags.c_contiguous) else np.array(window, np.complex64, order="C")
    if ramp is not None:
        fm_c = np.asarray(ramp.fm_coeffs, np.float64)
        dc_c = np.asarray(ramp.dc_coeffs, np.float64)
        eta_c_mid = float(-ramp.fdc(ramp.tau_mid) / ramp.ka(ramp.tau_mid))
        rp = (True, float(ramp.t_mid), float(ramp.fm_t0), fm_c, float(ramp.dc_t0), dc_c, float(ramp.ks), eta_c_mid)
        t_lines = clock.t0 + np.asarray(line0 + np.arange(a.shape[0]), np.float64) * clock.dt
        tau_cols = clock.tau0 + np.asarray(sample0 + np.arange(a.shape[1]), np.float64) / clock.fs
        _deramp(a, t_lines, tau_cols, *rp[1:])
    else:
        rp = (False, 0.0, 0.0, np.zeros(1), 0.0, np.zeros(1), 0.0, 0.0)
    out = np.empty(t_sec.shape, np.complex64)
    offsets = np.asarray(clock.t_offsets, np.float64).reshape(-1)
    _coregister_block(a, int(line0), int(sample0), t_sec, r_sec, offsets, float(clock.t0), float(clock.dt), float(clock.tau0), float(clock.fs),
                      SPEED_OF_LIGHT, *rp, kernel_lut(taps), taps, out)
    return out


@njit()
def _interferogram_block(ref: C64, sec: C64, r_ref: F64, r_sec: F64, k_imag: float, out: C64) -> None:
    n_rows, n_cols = ref.shape
    for i in range(n_rows):
        for j in range(n_cols):
            a = ref[i, j]
            b = sec[i, j]
            # complex64 product with the conjugate, in float32 as numpy does
            pr, pi_ = cmul(b.real, -b.imag, a.real, a.imag)  # conj(sec) x ref, as numpy computed ref x conj(sec)
            th = k_imag * (r_sec[i, j] - r_ref[i, j])
            cr = math.cos(th)
            ci = math.sin(th)
            out[i, j] = complex(np.float64(pr) * cr - np.float64(pi_) * ci, np.float64(pr) * ci + np.float64(pi_) * cr)


def interferogram(
    ref: NDArray[np.complex64], sec: NDArray[np.complex64], r_ref: ArrayLike, r_sec: ArrayLike, wavelength: float,
    out: NDArray[np.complex64] | None = None,
) -> NDArray[np.complex64]:
    """``ref x conj(sec) x exp(-j 4 pi (R_sec - R_ref) / lambda)`` (flat earth and topography removed).

    ``r_ref`` and ``r_sec`` broadcast to the shape of ``ref``; the product with the phase is
    formed in complex128 and rounded once to complex64.  ``out``: a complex64 array of that
    shape to write into (may be ``ref`` itself: each pixel is read before it is written).
    """
    ref = np.asarray(ref, np.complex64)
    sec = np.asarray(sec, np.complex64)
    if ref.shape != sec.shape or ref.ndim != 2:
        raise ValueError(f"ref {ref.shape} and sec {sec.shape}: two complex arrays of one 2-D shape expected")
    r_ref_b = np.broadcast_to(np.asarray(r_ref, np.float64), ref.shape)
    r_sec_b = np.broadcast_to(np.asarray(r_sec, np.float64), ref.shape)
    k_imag = float((-1j * 4.0 * np.pi / wavelength).imag)
    if out is None:
        out = np.empty(ref.shape, np.complex64)
    elif out.shape != ref.shape or out.dtype != np.complex64:
        raise ValueError(f"out {out.shape} {out.dtype}: complex64 of shape {ref.shape} expected")
    _interferogram_block(ref, sec, r_ref_b, r_sec_b, k_imag, out)
    return out
