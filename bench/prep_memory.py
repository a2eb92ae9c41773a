"""Prep memory scaling: peak traced memory of step 0 against the scene size.

The prep streams the SLCs in blocks of lines, so its peak memory should grow only with the
candidates (N x M-1 complex phases plus a few per-candidate vectors), not with the scene.
This script simulates stacks of increasing length, runs the prep alone under ``tracemalloc``
and prints peak memory, the candidates' own footprint, and the difference.  Usage::

    python bench/prep_memory.py [--width 400] [--lengths 400 1600 6400] [--dates 30]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=400)
    ap.add_argument("--lengths", type=int, nargs="+", default=[400, 1600, 6400])
    ap.add_argument("--dates", type=int, default=30)
    args = ap.parse_args()

    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack
    from snapstamps.workflows.psi import run_psi

    print(f"{'lines':>6} {'scene MB':>9} {'cands':>7} {'cand MB':>8} {'peak MB':>8} {'peak-cand MB':>13} {'s':>6}")
    for length in args.lengths:
        tmp = Path(tempfile.mkdtemp(prefix="snapstamps-prepmem-"))
        try:
            insar = simulate_stamps_stack(tmp / "sim", SimConfig(width=args.width, length=length, n_dates=args.dates))
            tracemalloc.start()
            t0 = time.perf_counter()
            run_psi(insar, tmp / "psi", start=0, end=0, show_progress=False)
            dt = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
            n = json.loads((tmp / "psi" / "stack.json").read_text())["prep"]["n_candidates"]
            # phases (complex64) + ij (2 int64) + lonlat (2 float64) + da, hgt (float32) + selection temporaries
            cand_mb = n * ((args.dates - 1) * 8 + 16 + 16 + 8) / 1e6
            scene_mb = args.width * length * args.dates * 8 / 1e6
            print(f"{length:>6} {scene_mb:>9.0f} {n:>7} {cand_mb:>8.1f} {peak:>8.1f} {peak - cand_mb:>13.1f} {dt:>6.2f}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
