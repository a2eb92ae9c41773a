"""Step 5: phase correction per patch, patch merge, and per-interferogram noise.

* ``correct_phase`` (StaMPS ``ps_correct_phase``): remove the uncorrelated look-angle error
  and the master constant from the wrapped phase: ``ph_rc = ph exp(-i (K bperp + C))``.
* ``merge_patches`` (``ps_merge_patches`` without resampling): keep each PS from the patch
  whose core holds it (else from the first patch that has it), drop duplicate lon/lat
  keeping the most coherent, recompute local xy about the merged origin and sort by y, x.
* ``ifg_std`` (``ps_calc_ifg_std``): RMS over PS of the residual phase per interferogram, deg.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import geometry
from .load import PatchState


@dataclass
class PsSet:
    """PS after weeding (per patch) or after merging: geometry plus phase estimates."""

    state: PatchState
    K_ps: NDArray[np.float32]       # (N,) rad/m
    C_ps: NDArray[np.float32]       # (N,) rad
    coh_ps: NDArray[np.float32]     # (N,)
    ph_patch: NDArray[np.complex64]  # (N, M) filtered patch phase, master column 1
    ph_rc: NDArray[np.complex64] | None = None  # (N, M) corrected phase (step 5)

    @property
    def n_ps(self) -> int:
        return self.state.n_ps

    def subset(self, index: NDArray[Any]) -> "PsSet":
        return PsSet(
            state=self.state.subset(index),
            K_ps=self.K_ps[index],
            C_ps=self.C_ps[index],
            coh_ps=self.coh_ps[index],
            ph_patch=self.ph_patch[index],
            ph_rc=None if self.ph_rc is None else self.ph_rc[index],
        )

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        d = self.state.to_arrays()
        for f in fields(self):
            if f.name != "state" and getattr(self, f.name) is not None:
                d[f.name] = np.asarray(getattr(self, f.name))
        return d

    @classmethod
    def from_arrays(cls, d: dict[str, NDArray[Any]]) -> "PsSet":
        return cls(
            state=PatchState.from_arrays(d),
            K_ps=d["K_ps"],
            C_ps=d["C_ps"],
            coh_ps=d["coh_ps"],
            ph_patch=d["ph_patch"],
            ph_rc=d.get("ph_rc"),
        )


def correct_phase(ps: PsSet) -> PsSet:
    """Wrapped phase with the uncorrelated look-angle error and the master constant removed."""
    bp = ps.state.bperp_full()
    corr = np.exp(-1j * (ps.K_ps[:, None].astype(np.float64) * bp + ps.C_ps[:, None]))
    ph_rc = (ps.state.ph * corr).astype(np.complex64)
    return PsSet(ps.state, ps.K_ps, ps.C_ps, ps.coh_ps, ps.ph_patch, ph_rc)


def _concat_states(states: list[PatchState]) -> PatchState:
    first = states[0]
    kw = {}
    for f in fields(PatchState):
        if f.name in {"ll0", "bperp", "day", "master_ix"}:
            kw[f.name] = getattr(first, f.name)
        else:
            kw[f.name] = np.concatenate([getattr(s, f.name) for s in states], axis=0)
    return PatchState(**kw)


def merge_patches(patches: list[tuple[PsSet, NDArray[np.bool_]]], heading: float) -> PsSet:
    """Merge per-patch PS sets. ``patches`` holds (ps, in_core mask) per patch, in patch order."""
    patches = [(p, c) for p, c in patches if p.n_ps > 0]
    if not patches:
        raise ValueError("no PS in any patch")
    state = _concat_states([p.state for p, _ in patches])

    def cat(name: str) -> NDArray[Any]:
        return np.concatenate([getattr(p, name) for p, _ in patches], axis=0)

    merged = PsSet(state, cat("K_ps"), cat("C_ps"), cat("coh_ps"), cat("ph_patch"), cat("ph_rc"))
    in_core = np.concatenate([c for _, c in patches])

    # one entry per (line, pixel): prefer the patch whose core holds it, then the first patch
    key = state.ij[:, 0].astype(np.int64) * (1 << 32) + state.ij[:, 1]
    order = np.lexsort((np.arange(len(key)), ~in_core, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    keep = order[first]
    merged = merged.subset(np.sort(keep))

    # duplicate lon/lat: keep the most coherent
    ll = merged.state.lonlat
    order = np.lexsort((-merged.coh_ps, ll[:, 1], ll[:, 0]))
    dup = np.zeros(len(order), dtype=bool)
    dup[1:] = (ll[order][1:] == ll[order][:-1]).all(axis=1)
    merged = merged.subset(np.sort(order[~dup]))

    # local coordinates about the merged origin, sorted by y then x
    xy, ll0 = geometry.radar_frame_xy(merged.state.lonlat, heading)
    merged.state.xy = xy
    merged.state.ll0 = ll0
    merged = merged.subset(geometry.sort_order(xy))

    # unit-magnitude corrected phase (zeros kept)
    rc = merged.ph_rc
    if rc is None:
        raise ValueError("merge_patches needs the corrected phase (correct_phase) of every patch")
    mag = np.abs(rc)
    merged.ph_rc = np.where(mag > 0, rc / np.where(mag > 0, mag, 1), 0).astype(np.complex64)
    merged.state.bperp = np.insert(
        merged.state.bperp_mat.mean(axis=0, dtype=np.float64), merged.state.master_ix, 0.0
    )
    return merged


def ifg_std(ps: PsSet) -> NDArray[np.float64]:
    """Per-image RMS (deg) over PS of ``angle(ph conj(ph_patch) exp(-i (K bperp + C)))``."""
    bp = ps.state.bperp_full()
    resid = ps.state.ph * np.conj(ps.ph_patch) * np.exp(-1j * (ps.K_ps[:, None] * bp + ps.C_ps[:, None]))
    d = np.angle(resid)
    return np.sqrt(np.mean(d.astype(np.float64) ** 2, axis=0)) * 180.0 / np.pi
