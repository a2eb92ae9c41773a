"""Deburst plan: which burst and which of its lines supplies each output line.

Each output line ``i`` has the azimuth time ``t_start + i dt`` on the line grid of the first burst
used; it is taken from the burst whose valid lines contain that time, and in an overlap from the
earlier burst up to the middle of the overlap and from the later one after it (SNAP's TOPS
Deburst).  The burst line is the nearest one (burst line grids of one sub-swath coincide to
~1e-4 line).  Pure function over burst timing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Segment:
    burst_id: int
    burst_index: int  # position in the reference swath's burst list
    burst_line0: int  # first line within the burst
    out_line0: int
    n_lines: int


def deburst_plan(bursts: Sequence[Any], dt: float, t_min: float, t_max: float) -> list[Segment]:
    """Segments covering azimuth times ``[t_min, t_max]`` (``bursts``: objects with t0, first/last_valid_line, burst_id)."""
    bounds = []
    for i, b in enumerate(bursts):
        lo = b.t0 + b.first_valid_line * dt
        hi = b.t0 + b.last_valid_line * dt
        if i > 0:
            p = bursts[i - 1]
            lo = max(lo, 0.5 * (p.t0 + p.last_valid_line * dt + b.t0 + b.first_valid_line * dt))
        if i < len(bursts) - 1:
            n = bursts[i + 1]
            hi = min(hi, 0.5 * (b.t0 + b.last_valid_line * dt + n.t0 + n.first_valid_line * dt))
        bounds.append((lo, hi))
    used = [i for i, (lo, hi) in enumerate(bounds) if hi >= t_min and lo <= t_max]
    if not used:
        return []
    b0 = bursts[used[0]]
    first = max(t_min, bounds[used[0]][0])
    k0 = int(np.ceil((first - b0.t0) / dt - 1e-6))
    t_start = b0.t0 + k0 * dt
    segs: list[Segment] = []
    i_out = 0
    for i in used:
        lo, hi = bounds[i]
        b = bursts[i]
        a = max(lo, t_min, t_start)
        z = min(hi, t_max)
        i0 = int(np.ceil((a - t_start) / dt - 1e-6))
        i0 = max(i0, i_out)
        i1 = int(np.floor((z - t_start) / dt + 1e-6))
        if i == used[-1] or True:
            # the last line of a non-final burst stays below the midpoint
            if i != used[-1] and t_start + i1 * dt >= hi - 1e-9:
                i1 -= 1
        if i1 < i0:
            continue
        bl0 = int(round((t_start + i0 * dt - b.t0) / dt))
        segs.append(Segment(b.burst_id, i, bl0, i0, i1 - i0 + 1))
        i_out = i1 + 1
    return segs


def plan_to_json(segs: list[Segment]) -> list[dict[str, Any]]:
    return [asdict(s) for s in segs]
