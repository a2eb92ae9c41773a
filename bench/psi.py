"""Benchmark of the native psi pipeline: time, peak memory and throughput per step.

Simulates a stack (default 600 x 1200 pixels x 30 dates, the size of the StaMPS reference run
in ../shared/reference/stamps-psi.md section 7.3), then runs each step in its own process so that
the peak resident memory of every step is measured separately.  Prints a table and the accuracy
against the simulated truth.  Usage::

    python bench/psi.py [--width 600] [--length 1200] [--dates 30] [--out bench-output] [--unwrap-grid 50]

The StaMPS reference under GNU Octave on the same size: 573 s in all (step 2: 103 s, step 3:
421 s), 225 MB peak, PS precision 0.9996, recall 0.9958, velocity RMSE 3.32 mm/yr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

STEP_NAMES = {
    0: "prep",
    1: "load",
    2: "gamma",
    3: "select",
    4: "weed",
    5: "merge",
    6: "unwrap",
    7: "scla+products",
    8: "scn+products",
}

#: One psi step in its own process (argv: insar, out, step, JSON parameter updates, optional mask
#: file for the prep): seconds, CPU seconds and own peak RSS (MB) as JSON.  bench/scale.py uses it too.
CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from snapstamps.workflows.psi import run_psi
insar, out, s, updates = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
mask = Path(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] else None
t0 = time.perf_counter()
run_psi(Path(insar), Path(out), start=s, end=s, param_updates=updates if s == 0 else None, show_progress=False,
        mask_file=mask if s == 0 else None)
dt = time.perf_counter() - t0
def _own_peak_mb():
    # VmHWM: this process' own peak RSS.  ru_maxrss is no use here: Linux carries it over
    # exec from the parent (the bench process, which holds the simulated stack), so every
    # child would report at least the parent's RSS at spawn time.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": dt, "cpu": ru.ru_utime + ru.ru_stime, "peak_rss_mb": _own_peak_mb()}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=600)
    ap.add_argument("--length", type=int, default=1200)
    ap.add_argument("--dates", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench-output")
    ap.add_argument("--unwrap-grid", type=float, default=50.0, help="unwrap_grid_size (the reference run used 50 m)")
    args = ap.parse_args()

    from snapstamps.evaluate import evaluate_dir
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

    out = Path(args.out)
    sim_dir, psi_dir = out / "simulated", out / "psi"
    t0 = time.perf_counter()
    insar = simulate_stamps_stack(sim_dir, SimConfig(width=args.width, length=args.length, n_dates=args.dates, seed=args.seed))
    print(f"simulated {args.width} x {args.length} x {args.dates} in {time.perf_counter() - t0:.1f} s")

    updates = {"unwrap_grid_size": args.unwrap_grid}
    rows = []
    for s in range(0, 9):
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(insar), str(psi_dir), str(s), json.dumps(updates)],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            print(proc.stderr[-3000:])
            return 1
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append((s, res["seconds"], res["peak_rss_mb"], res["cpu"]))

    stack = json.loads((psi_dir / "stack.json").read_text())
    n_cand = stack["prep"]["n_candidates"]
    n_ifg = len(stack["dates"]) - 1
    total = sum(r[1] for r in rows)
    print(f"\ncandidates: {n_cand}, interferograms: {n_ifg}")
    print(f"{'step':>4} {'name':<14} {'seconds':>9} {'CPU s':>7} {'peak RSS MB':>12} {'cand x ifg / s':>15}")
    for s, sec, mb, cpu in rows:
        thr = n_cand * n_ifg / sec if sec > 0 else float("inf")
        print(f"{s:>4} {STEP_NAMES[s]:<14} {sec:>9.2f} {cpu:>7.2f} {mb:>12.0f} {thr:>15.3g}")
    cpu_total = sum(r[3] for r in rows)
    print(f"{'':>4} {'total':<14} {total:>9.2f} {cpu_total:>7.2f} {max(r[2] for r in rows):>12.0f} {n_cand * n_ifg / total:>15.3g}")
    print("seconds: wall time of the step itself (imports excluded); CPU s: the step process' user+sys CPU "
          f"(imports and BLAS threads included); peak RSS: the process' own high-water mark (VmHWM); "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    acc = evaluate_dir(psi_dir, sim_dir)
    print(
        f"\naccuracy: {acc['n_ps']} PS (truth {acc['n_true_ps']}), precision {acc['precision']:.4f}, "
        f"recall {acc['recall']:.4f}, velocity RMSE {acc['velocity_rmse_mm_yr']:.2f} mm/yr, "
        f"DEM error RMS {acc['dem_error_rms_m']:.2f} m"
    )
    print(f"StaMPS/Octave reference: 573 s, 225 MB; speed-up {573.0 / total:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
