"""Prep (StaMPS ``mt_prep_snap``): stream the SLCs, select candidates, extract them per patch.

Two streaming passes over ``rslc/``: calibration constants, then amplitude dispersion by
blocks of lines.  Peak memory is a few blocks plus the candidates; it does not grow with
the scene.  Candidate phases, lon/lat and DEM heights are then gathered from the
memory-mapped ``diff0/`` and ``geo/`` files.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import InputError, NoCandidatesError
from ..io.stamps_export import StampsStack
from ..progress import ProgressFn
from ..psi.config import PsiParams
from ..psi.prep import (
    DispersionAccumulator,
    calibration_sums,
    patch_layout,
    select_candidates,
)
from .state import save_npz, write_json

log = logging.getLogger("snapstamps")


class BlockMask:
    """uint8 mask file, same size as the SLCs (0 = use, non-zero = exclude), read by blocks of
    lines from a memory map, so that it costs a block, not the scene."""

    def __init__(self, path: Path, shape: tuple[int, int]) -> None:
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: mask file not found")
        size = path.stat().st_size
        if size != shape[0] * shape[1]:
            raise InputError(f"{path}: mask has {size} bytes, expected {shape[0] * shape[1]} (length x width)")
        self.path, self.shape = path, shape

    def __getitem__(self, lines: slice) -> np.ndarray:
        """Excluded pixels (bool) of a block of lines."""
        m = np.memmap(self.path, dtype=np.uint8, mode="r", shape=self.shape)
        try:
            return np.asarray(m[lines]) != 0
        finally:
            del m


def read_mask(path: Path, shape: tuple[int, int]) -> BlockMask:
    """The mask file ``path`` (0 = use, non-zero = exclude), checked, read block by block."""
    return BlockMask(path, shape)


def calibrate(stack: StampsStack, params: PsiParams, mask: BlockMask | None, progress: ProgressFn | None) -> dict:
    """Mean amplitude of each SLC over pixels brighter than 0.001 (``calamp``)."""
    length, _ = stack.shape
    dates = stack.dates
    step = params.prep_block_lines
    out = {}
    for k, d in enumerate(dates):
        total, count = 0.0, 0
        for l0 in range(0, length, step):
            l1 = min(l0 + step, length)
            s, c = calibration_sums(stack.rslc_block(d, l0, l1), None if mask is None else mask[l0:l1])
            total += s
            count += c
        if count == 0 or total <= 0:
            raise InputError(f"{stack.rslc[d]}: image is all zero (no amplitude above 0.001)")
        out[d] = total / count
        if progress:
            progress((k + 1) / len(dates))
    return out


def amplitude_dispersion_candidates(
    stack: StampsStack, calib: dict, params: PsiParams, mask: BlockMask | None, progress: ProgressFn | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Stream blocks of lines over all SLCs; return candidate lines, pixels, D_A and the zero count."""
    length, width = stack.shape
    step = params.prep_block_lines
    lines, pixels, das = [], [], []
    n_zero = 0
    for l0 in range(0, length, step):
        l1 = min(l0 + step, length)
        acc = DispersionAccumulator.empty((l1 - l0, width))
        for d in stack.dates:
            acc.add(stack.rslc_block(d, l0, l1), calib[d])
        da = acc.dispersion()
        n_zero += int(acc.zero.sum())
        sel = select_candidates(da, params.da_thresh, None if mask is None else mask[l0:l1])
        li, pj = np.nonzero(sel)
        lines.append(li + l0)
        pixels.append(pj)
        das.append(da[li, pj].astype(np.float32))
        if progress:
            progress(l1 / length)
    return np.concatenate(lines), np.concatenate(pixels), np.concatenate(das), n_zero


def run_prep(
    stack: StampsStack,
    out_dir: Path,
    params: PsiParams,
    mask_file: Path | None = None,
    progress: ProgressFn | None = None,
) -> dict:
    """Select candidates and write ``PATCH_n/cands.npz`` for each patch; return a summary."""
    out_dir = Path(out_dir)
    mask = read_mask(mask_file, stack.shape) if mask_file else None
    calib = calibrate(stack, params, mask, None if progress is None else (lambda f: progress(0.2 * f)))
    lines, pixels, da, n_zero = amplitude_dispersion_candidates(
        stack, calib, params, mask, None if progress is None else (lambda f: progress(0.2 + 0.6 * f))
    )
    if lines.size == 0:
        raise NoCandidatesError(
            f"no pixel has amplitude dispersion below da_thresh={params.da_thresh}; "
            "raise da_thresh or check the SLCs"
        )
    log.info("prep: %d candidates (D_A < %.2f), %d zero-amplitude pixels", lines.size, params.da_thresh, n_zero)

    # gather phases and geocoding of all candidates once (memory-mapped fancy indexing)
    ph = np.empty((lines.size, len(stack.slaves)), dtype=np.complex64)
    for k, s in enumerate(stack.slaves):
        ph[:, k] = stack.diff_at(s, lines, pixels)
        if progress:
            progress(0.8 + 0.15 * (k + 1) / len(stack.slaves))
    lonlat = stack.lonlat_at(lines, pixels)
    hgt = stack.dem_at(lines, pixels)

    length, width = stack.shape
    patches = patch_layout(width, length, params.rg_patches, params.az_patches, params.rg_overlap, params.az_overlap)
    summary = {"n_candidates": int(lines.size), "n_zero_amplitude": n_zero, "patches": []}
    for p in patches:
        sel = p.contains(lines, pixels)
        if sel.all():
            sel = slice(None)  # one patch holds every candidate: no copies
        save_npz(
            out_dir / p.name / "cands.npz",
            {
                "ij": np.stack([lines[sel], pixels[sel]], axis=1).astype(np.int64),
                "da": da[sel],
                "lonlat": lonlat[sel],
                "hgt": hgt[sel],
                "ph": ph[sel],
            },
        )
        write_json(out_dir / p.name / "patch.json", p.__dict__)
        n_sel = lines.size if isinstance(sel, slice) else int(sel.sum())
        summary["patches"].append({"name": p.name, "n_candidates": n_sel})
    write_json(out_dir / "calamp.json", {d.isoformat(): c for d, c in calib.items()})
    if progress:
        progress(1.0)
    return summary
