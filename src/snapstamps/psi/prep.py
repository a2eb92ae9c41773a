"""PS candidate selection by amplitude dispersion, and patching (StaMPS ``mt_prep_snap``).

Pure kernels over blocks of lines; the streaming loop that feeds them lives in
:mod:`snapstamps.workflows.prep`.

Amplitude calibration: each SLC's amplitude is divided by its mean amplitude over
pixels brighter than 0.001 (``calamp``).  Amplitude dispersion per pixel over the M
calibrated images: ``D_A^2 = M sum(a^2) / (sum a)^2 - 1`` (population variance over
squared mean).  A pixel is a candidate when ``D_A < da_thresh``; pixels with any
calibrated amplitude <= 5e-5 are rejected as "zero amplitude".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

ZERO_AMPLITUDE = 5e-5
CALAMP_MIN = 0.001


def calibration_sums(block: NDArray[np.complexfloating], mask: NDArray[np.bool_] | None = None) -> tuple[float, int]:
    """Sum and count of amplitudes > 0.001 in a block (masked pixels excluded)."""
    amp = np.abs(block)
    ok = amp > CALAMP_MIN
    if mask is not None:
        ok &= ~mask
    return float(amp[ok].sum(dtype=np.float64)), int(ok.sum())


@dataclass
class DispersionAccumulator:
    """Running sums of calibrated amplitudes over the images of a block of lines."""

    sum_a: NDArray[np.float64]
    sum_a2: NDArray[np.float64]
    zero: NDArray[np.bool_]
    n: int = 0

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> "DispersionAccumulator":
        return cls(np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=bool))

    def add(self, block: NDArray[np.complexfloating], calib: float) -> None:
        a = np.abs(block).astype(np.float64) / calib
        self.sum_a += a
        self.sum_a2 += a * a
        self.zero |= a <= ZERO_AMPLITUDE
        self.n += 1

    def dispersion(self) -> NDArray[np.float64]:
        """D_A per pixel (inf where any amplitude was zero or the sum is zero)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            da2 = self.n * self.sum_a2 / self.sum_a**2 - 1.0
        da = np.sqrt(np.clip(da2, 0.0, None))
        da[self.zero | (self.sum_a <= 0) | ~np.isfinite(da)] = np.inf
        return da


def select_candidates(
    da: NDArray[np.float64], da_thresh: float, mask: NDArray[np.bool_] | None = None
) -> NDArray[np.bool_]:
    """Candidate mask: ``D_A < da_thresh`` and not masked (raster order = StaMPS id order)."""
    sel = da < da_thresh
    if mask is not None:
        sel &= ~mask
    return sel


@dataclass(frozen=True)
class Patch:
    """One processing patch: 0-based half-open extents in the full INSAR grid."""

    number: int
    rg_start: int
    rg_end: int
    az_start: int
    az_end: int
    core_rg_start: int
    core_rg_end: int
    core_az_start: int
    core_az_end: int

    @property
    def name(self) -> str:
        return f"PATCH_{self.number}"

    def contains(self, line: NDArray[np.integer], pixel: NDArray[np.integer]) -> NDArray[np.bool_]:
        return (line >= self.az_start) & (line < self.az_end) & (pixel >= self.rg_start) & (pixel < self.rg_end)

    def in_core(self, line: NDArray[np.integer], pixel: NDArray[np.integer]) -> NDArray[np.bool_]:
        return (
            (line >= self.core_az_start)
            & (line < self.core_az_end)
            & (pixel >= self.core_rg_start)
            & (pixel < self.core_rg_end)
        )


def patch_layout(
    width: int, length: int, rg_patches: int, az_patches: int, rg_overlap: int, az_overlap: int
) -> list[Patch]:
    """Patches as ``mt_prep_snap`` lays them out (range outer loop, azimuth inner).

    StaMPS uses integer division, so the last ``width mod rg_patches`` columns fall outside
    every core and are reached only through the overlap.  We fix that quirk: the last
    patch's core runs to the edge, so every pixel belongs to exactly one core.
    """
    if rg_patches > width or az_patches > length:
        from ..errors import ParameterError

        raise ParameterError(
            f"rg_patches/az_patches ({rg_patches}x{az_patches}) exceed the scene size ({width}x{length} pixels)"
        )
    wp, lp = width // rg_patches, length // az_patches
    patches = []
    n = 0
    for r in range(rg_patches):
        c0, c1 = r * wp, (width if r == rg_patches - 1 else (r + 1) * wp)
        for a in range(az_patches):
            l0, l1 = a * lp, (length if a == az_patches - 1 else (a + 1) * lp)
            n += 1
            patches.append(
                Patch(
                    number=n,
                    rg_start=max(c0 - rg_overlap, 0),
                    rg_end=min(c1 + rg_overlap, width),
                    az_start=max(l0 - az_overlap, 0),
                    az_end=min(l1 + az_overlap, length),
                    core_rg_start=c0,
                    core_rg_end=c1,
                    core_az_start=l0,
                    core_az_end=l1,
                )
            )
    return patches
