"""Tropospheric phase corrections in the manner of TRAIN (Bekaert et al. 2015), as pure kernels.

Three methods give a correction ``ph_tropo`` (N, M) in rad with StaMPS' phase convention (the
interferogram is master x conj(slave), ``phi = -(4 pi / lambda) d`` with ``d`` toward the
satellite, so a longer slave path, i.e. more slave delay, gives positive phase):

* ``linear_phase_topography``: per interferogram, ``ph_k ~ K_k h``, with ``K_k`` fitted on
  spatially *band-passed* phase and height (difference of two Gaussian smoothings): the short
  scale removes pixel noise, the long one removes long-wavelength deformation and orbit ramps,
  which would otherwise leak into ``K_k`` wherever they correlate with the topography;
* ``powerlaw``: ``ph_k ~ K_k (h0 - h)^alpha`` with the coefficient fitted on the band-passed
  data, TRAIN's power-law relation;
* ``delay_maps_phase``: external per-date zenith delays (GACOS, weather models; any per-date
  delay raster sampled at the PS), mapped to the line of sight by ``1 / cos(incidence)``.

Known limits (as in TRAIN): deformation that correlates with height *inside* the band biases
the phase-topography methods; the band should exclude the deformation's scales.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .aps import loo_gaussian_filter

__all__ = ["bandpass", "linear_phase_topography", "powerlaw", "delay_maps_phase", "TROPO_METHODS"]

#: StaMPS tropo_method names and the kernel each selects
TROPO_METHODS = {"a_l": "linear", "a_linear": "linear", "a_p": "powerlaw", "a_powerlaw": "powerlaw",
                 "a_gacos": "delay_maps", "a_ext": "delay_maps"}


def _smooth(xy: NDArray[Any], v: NDArray[Any], sigma: float) -> NDArray[np.float64]:
    return loo_gaussian_filter(xy=xy, values=v, sigma=sigma, leave_one_out=False)


def bandpass(*, xy: NDArray[Any], values: NDArray[Any], band: tuple[float, float]) -> NDArray[np.float64]:
    """Spatial band-pass of per-PS ``values`` (N, U): Gaussian smoothing at ``band[0]`` m minus at ``band[1]`` m."""
    lo, hi = band
    if not 0 < lo < hi:
        raise ValueError(f"band must be (short, long) with 0 < short < long, got {band}")
    v = np.asarray(values, dtype=np.float64)
    v = v[:, None] if v.ndim == 1 else v
    return _smooth(xy, v, lo) - _smooth(xy, v, hi)


def _slave_cols(m: int, master_ix: int, columns: NDArray[Any] | None) -> NDArray[np.int64]:
    cols = np.arange(m) if columns is None else np.asarray(columns, dtype=np.int64)
    return cols[cols != master_ix]


def linear_phase_topography(
    *, ph: NDArray[Any], hgt: NDArray[Any], xy: NDArray[Any], master_ix: int, band: tuple[float, float], columns: NDArray[Any] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Linear phase-topography correction (rad) ``K_k * h`` per image, and ``K_k`` (rad/m), (M,).

    ``ph`` (N, M) unwrapped phase (NaN = missing), ``hgt`` (N,) m (or any per-PS regressor), ``xy`` (N, 2) m; ``K_k``
    by least squares on the band-passed phase and height over the PS where both are finite.
    Images outside ``columns`` and the master get 0.
    """
    ph = np.asarray(ph, dtype=np.float64)
    n, m = ph.shape
    cols = _slave_cols(m, master_ix, columns)
    h = np.asarray(hgt, dtype=np.float64)
    bh = bandpass(xy=xy, values=h, band=band)[:, 0]
    bp = bandpass(xy=xy, values=ph[:, cols], band=band)
    ok = np.isfinite(bh)[:, None] & np.isfinite(bp)
    bh0 = np.where(ok, bh[:, None], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = (bh0 * np.where(ok, bp, 0.0)).sum(axis=0) / (bh0**2).sum(axis=0)
    K = np.zeros(m)
    K[cols] = np.nan_to_num(k)
    return K[None, :] * h[:, None], K


def powerlaw(
    *,
    ph: NDArray[Any],
    hgt: NDArray[Any],
    xy: NDArray[Any],
    master_ix: int,
    band: tuple[float, float],
    alpha: float,
    h0: float,
    columns: NDArray[Any] | None = None,
) -> NDArray[np.float64]:
    """Power-law correction (rad): ``K_k (h0 - h)^alpha`` per image, TRAIN's power-law relation.

    ``K_k`` by least squares of the band-passed phase on the band-passed ``q = (h0 - h)^alpha``
    (h clipped below ``h0``), one coefficient per image over the scene.  (TRAIN estimates the
    coefficient in windows; with a few thousand PS a per-window coefficient times the large
    mean of ``q`` turns its estimation noise into a spatial error bigger than the delay, so a
    scene-wide one is used: on scenes of tens of km run it per sub-area.)
    """
    h = np.minimum(np.asarray(hgt, dtype=np.float64), h0 - 1.0)
    q = (h0 - h) ** alpha
    scale = float(np.mean(q))
    est, _ = linear_phase_topography(ph=ph, hgt=q / scale, xy=xy, master_ix=master_ix, band=band, columns=columns)
    return est


def delay_maps_phase(*, zenith_delay: NDArray[Any], inc: NDArray[Any], wavelength: float, master_ix: int) -> NDArray[np.float64]:
    """Interferometric phase (rad, N x M) of per-date zenith delays ``zenith_delay`` (M, N) in m.

    Slant delay ``z / cos(inc)``; the interferogram master x conj(slave) carries
    ``(4 pi / lambda) (delay_slave - delay_master)``; 0 in the master column.
    """
    z = np.asarray(zenith_delay, dtype=np.float64)
    slant = z / np.cos(np.asarray(inc, dtype=np.float64))[None, :]
    ph = (4.0 * np.pi / wavelength) * (slant - slant[master_ix : master_ix + 1])
    return ph.T
