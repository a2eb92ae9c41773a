"""Enhanced Spectral Diversity: residual azimuth shift from the burst overlaps.

In the overlap of bursts ``b`` and ``b+1`` the same ground is seen with local Doppler frequencies
``f_b`` and ``f_{b+1}``.  A secondary misregistered by ``delta`` seconds (``s_resampled(eta) =
s(eta + delta)``) puts ``-2 pi f delta`` into each interferogram, so the double difference
``ifg_b x conj(ifg_{b+1})`` has phase ``-2 pi (f_b - f_{b+1}) delta``.  Pure function (the
double difference by :func:`snapstamps.ifg.interferogram.mul_conj`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .interferogram import mul_conj


def esd_shift(ifg_b: NDArray[np.complex64], ifg_b1: NDArray[np.complex64], df: NDArray[np.float64]) -> tuple[float, float]:
    """Azimuth shift ``delta`` (s) and the coherence of the double difference.

    ``df`` = ``f_b - f_{b+1}`` (Hz) per pixel (same shape).  Unambiguous for
    ``|delta| < 1 / (2 |df|)`` (about 0.05 line for Sentinel-1 IW).
    """
    delta, coh, _ = esd_terms(ifg_b, ifg_b1, df)
    return delta, coh


def esd_terms(ifg_b: NDArray[np.complex64], ifg_b1: NDArray[np.complex64], df: NDArray[np.float64], overwrite: bool = False) -> tuple[float, float, float]:
    """:func:`esd_shift`'s ``(delta, coherence)`` and the overlap's weight ``sum |ifg_b x conj(ifg_b1)|``.

    ``overwrite``: the double difference is formed in ``ifg_b1``'s array (same values, one
    overlap-sized array less).
    """
    z = mul_conj(ifg_b, ifg_b1, out=ifg_b1 if overwrite else None)
    zs = np.sum(z)
    az = np.abs(z)
    wsum = float(np.sum(az))
    coh = float(np.abs(zs) / max(wsum, 1e-30))
    mean_df = float(np.sum(az * df) / max(wsum, 1e-30))
    return float(-np.angle(zs) / (2.0 * np.pi * mean_df)), coh, wsum
