"""Coregistration of a secondary burst window and the interferogram (pure numerical kernels).

``coregister``: deramp the secondary window with its own TOPS ramp, resample it at the
DEM-derived positions with the Kaiser-windowed sinc of :mod:`snapstamps.ifg.resample`, reramp
it at the resampled positions.  ``interferogram``: ``reference x conj(secondary)`` with the
flat-earth and topographic phase ``4 pi (R_sec - R_ref) / lambda`` removed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .resample import resample_2d
from .tops import BurstRamp, ramp_phase


def coregister(
    window: NDArray[np.complex64],
    line0: int,
    sample0: int,
    y: NDArray[np.float64],
    x: NDArray[np.float64],
    t_of_line: Callable[[Any], NDArray[Any]],
    tau_of_sample: Callable[[Any], NDArray[Any]],
    ramp: BurstRamp | None,
    taps: int = 16,
) -> NDArray[np.complex64]:
    """Secondary values at burst line ``y`` and sample ``x`` (arrays of the output shape).

    ``window`` holds burst lines ``line0..`` and samples ``sample0..``; ``t_of_line(l)`` and
    ``tau_of_sample(s)`` give azimuth and slant-range times (the ramp's clock).  ``ramp=None``
    skips the deramp/reramp (only correct for data without TOPS steering; kept for tests).
    """
    a = window
    if ramp is not None:
        tl = t_of_line(line0 + np.arange(window.shape[0]))
        ts = tau_of_sample(sample0 + np.arange(window.shape[1]))
        a = window * np.exp(-1j * ramp_phase(ramp, tl[:, None], ts[None, :])).astype(np.complex64)
    out = resample_2d(a, y - line0, x - sample0, taps)
    if ramp is not None:
        out *= np.exp(1j * ramp_phase(ramp, t_of_line(y), tau_of_sample(x))).astype(np.complex64)
    n_l, n_s = window.shape
    inside = (y >= line0) & (y <= line0 + n_l - 1) & (x >= sample0) & (x <= sample0 + n_s - 1)
    return np.where(inside, out, 0).astype(np.complex64)


def interferogram(
    ref: NDArray[np.complex64], sec: NDArray[np.complex64], r_ref: ArrayLike, r_sec: ArrayLike, wavelength: float
) -> NDArray[np.complex64]:
    """``ref x conj(sec) x exp(-j 4 pi (R_sec - R_ref) / lambda)`` (flat earth and topography removed)."""
    dr = np.asarray(r_sec, np.float64) - np.asarray(r_ref, np.float64)
    return (ref * np.conj(sec) * np.exp(-1j * 4.0 * np.pi / wavelength * dr)).astype(np.complex64)
