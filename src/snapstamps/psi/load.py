"""Step 1 (StaMPS ``ps_load_initial_gamma``): candidates -> patch state with geometry.

For every candidate: slant range, look and incidence angle, per-pixel perpendicular
baseline of each interferogram, local xy (rotated to the radar frame, sorted by y then x),
and the phase matrix with a unit master column inserted.  Candidates with NaN lon/lat or
phase are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import geometry

#: Candidates per block of the per-pixel baseline computation in :func:`load_initial`.
LOAD_BLOCK = 16384


@dataclass(frozen=True)
class Geometry:
    """What step 1 needs from the master ``.rslc.par``."""

    width: int
    length: int
    near_range: float
    range_pixel_spacing: float
    sar_to_earth_center: float
    earth_radius: float
    prf: float
    heading: float
    wavelength: float


@dataclass
class PatchState:
    """PS (or candidate) arrays of one patch or of the merged set (see docs/conventions.md)."""

    ij: NDArray[np.int64]          # (N, 2) line, pixel (0-based)
    lonlat: NDArray[np.float64]    # (N, 2)
    xy: NDArray[np.float64]        # (N, 2) m
    ll0: NDArray[np.float64]       # (2,) lon/lat origin of xy
    ph: NDArray[np.complex64]      # (N, M) master column = 1
    bperp_mat: NDArray[np.float32] # (N, M-1)
    bperp: NDArray[np.float64]     # (M,) per-ifg mean, 0 at master
    day: NDArray[np.float64]       # (M,)
    master_ix: int
    inc: NDArray[np.float64]       # (N,) incidence (rad)
    rng: NDArray[np.float64]       # (N,) slant range (m)
    da: NDArray[np.float32]        # (N,)
    hgt: NDArray[np.float32]       # (N,)

    @property
    def n_ps(self) -> int:
        return int(self.ij.shape[0])

    def subset(self, index: NDArray[Any]) -> "PatchState":
        """The same state restricted to ``index`` (bool mask or integer indices) of the PS."""
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in {"ll0", "bperp", "day", "master_ix"}:
                kw[f.name] = v
            else:
                kw[f.name] = v[index]
        return PatchState(**kw)

    def bperp_full(self) -> NDArray[np.float32]:
        """(N, M) per-pixel bperp with a zero master column."""
        return np.insert(self.bperp_mat, self.master_ix, 0.0, axis=1).astype(np.float32)

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        d = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        return d

    @classmethod
    def from_arrays(cls, d: dict[str, NDArray[Any]]) -> "PatchState":
        kw: dict[str, Any] = {f.name: d[f.name] for f in fields(cls)}
        kw["master_ix"] = int(kw["master_ix"])
        return cls(**kw)


def load_initial(
    ij: NDArray[np.int64],
    lonlat: NDArray[np.float64],
    hgt: NDArray[np.float32],
    da: NDArray[np.float32],
    ph_slaves: NDArray[np.complex64],
    baselines: NDArray[np.float64],
    day: NDArray[np.float64],
    master_ix: int,
    geom: Geometry,
) -> PatchState:
    """Build the step-1 patch state from extracted candidates.

    ``ph_slaves`` is ``(N, M-1)`` in slave-date order, ``baselines`` ``(M-1, 4)`` (C, N,
    Cdot, Ndot per ifg), ``day`` ``(M,)`` all dates (master included).
    """
    ij = np.asarray(ij, dtype=np.int64)
    ok = np.isfinite(lonlat).all(axis=1) & np.isfinite(ph_slaves).all(axis=1)
    ok &= (lonlat != 0).any(axis=1)
    if not ok.all():
        ij, lonlat, hgt, da, ph_slaves = ij[ok], lonlat[ok], hgt[ok], da[ok], ph_slaves[ok]

    rng = geometry.slant_range(ij[:, 1], geom.near_range, geom.range_pixel_spacing)
    theta = geometry.look_angle(rng, geom.sar_to_earth_center, geom.earth_radius)
    inc = geometry.incidence_angle(rng, geom.sar_to_earth_center, geom.earth_radius)
    n, n_ifg = ph_slaves.shape
    bperp_mat = np.empty((n, baselines.shape[0]), dtype=np.float32)
    for r0 in range(0, n, LOAD_BLOCK):  # row by row formulas: blocks bound the float64 temporaries
        bperp_mat[r0 : r0 + LOAD_BLOCK] = geometry.perpendicular_baseline(
            ij[r0 : r0 + LOAD_BLOCK, 0], theta[r0 : r0 + LOAD_BLOCK], baselines, geom.length, geom.prf
        )
    bperp = np.insert(bperp_mat.mean(axis=0, dtype=np.float64), master_ix, 0.0) if len(ij) else np.zeros(len(day))

    xy, ll0 = geometry.radar_frame_xy(lonlat, geom.heading) if len(ij) else (np.zeros((0, 2)), np.zeros(2))
    order = geometry.sort_order(xy)
    # phases in the sorted order with a unit master column, filled a column at a time (no N x M copies)
    ph = np.empty((n, n_ifg + 1), dtype=np.complex64)
    ph[:, master_ix] = 1.0
    for j in range(n_ifg):
        ph[:, j if j < master_ix else j + 1] = ph_slaves[order, j]
    return PatchState(
        ij=ij[order],
        lonlat=np.asarray(lonlat, dtype=np.float64)[order],
        xy=xy[order],
        ll0=np.asarray(ll0, dtype=np.float64),
        ph=ph,
        bperp_mat=bperp_mat[order],
        bperp=np.asarray(bperp, dtype=np.float64),
        day=np.asarray(day, dtype=np.float64),
        master_ix=int(master_ix),
        inc=inc[order],
        rng=rng[order],
        da=np.asarray(da, dtype=np.float32)[order],
        hgt=np.asarray(hgt, dtype=np.float32)[order],
    )
