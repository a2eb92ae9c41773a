"""Scaling benchmark: psi at 1x, 4x, 16x the reference scene, and ifg-stack bursts of a sub-swath.

PSI: stacks of 600 x 1200 x 30 (the StaMPS reference run, ../shared/reference/stamps-psi.md 7.3)
times 1, 4 and 16 in area (both dimensions scaled by 1, 2, 4) are simulated on disk (streamed in
blocks of lines), then prep and steps 1-8 run with one process per step (as the CWL tools run
them); per size it prints wall and CPU seconds, the highest peak RSS of any step, candidates,
PS and throughput (candidate x interferogram per second), then the growth exponents
(d log y / d log pixels) of time and memory, and, with ``--fixed-candidates``, the same with a
mask file that leaves candidates only in a central 600 x 1200 window: the prep still streams the
whole scene, the candidates stay those of a 1x scene, so memory should not grow with the scene
(``--fixed-only`` skips the runs with all candidates).  Peak RSS is each step process' own
high-water mark (``VmHWM``; ``ru_maxrss`` would include the parent's RSS, inherited over exec).

ifg-stack (``--bursts N``): one simulated secondary pair over N bursts of IW1 (``bench/ifg.py
--bursts N``, a fresh process); prints wall/core seconds and peak RSS per burst, and extrapolates to a full sub-swath of 9 bursts
when N < 9 (saying so).  Usage::

    python bench/scale.py [--scales 1 4 16] [--dates 30] [--fixed-candidates [--fixed-only]] [--bursts 2] [--out bench-scale]

Run it once on an idle machine: the figures are only meaningful with the load noted beside them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from psi import CHILD  # (bench/psi.py: one psi step in its own process)


def _slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of log y against log x (the growth exponent)."""
    lx, ly = [math.log(v) for v in x], [math.log(max(v, 1e-9)) for v in y]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    den = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / den if den else float("nan")


def psi_at(scale: int, dates: int, out: Path, fixed_candidates: bool, keep: bool) -> dict:
    """Simulate the stack ``scale`` times the reference area, run psi step by step, return figures."""
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

    k = math.isqrt(scale)
    if k * k != scale:
        raise SystemExit(f"scale {scale} is not a square (1, 4, 16, ...)")
    width, length = 600 * k, 1200 * k
    cfg = {"width": width, "length": length, "n_dates": dates, "seed": 0}
    base = out / f"psi-{scale}x{'-fixedcand' if fixed_candidates else ''}"
    shutil.rmtree(base, ignore_errors=True)
    t0 = time.perf_counter()
    insar = simulate_stamps_stack(base / "sim", SimConfig(**cfg))
    t_sim = time.perf_counter() - t0
    mask = ""
    if fixed_candidates:  # candidates only in a central window of the 1x size: the whole scene is read
        import numpy as np  # (prep streams every line), the candidates stay those of a 1x scene

        m = np.memmap(base / "mask.u8", dtype=np.uint8, mode="w+", shape=(length, width))
        l0, p0 = (length - 1200) // 2, (width - 600) // 2
        for a in range(0, length, 1024):
            m[a : a + 1024] = 1
        m[l0 : l0 + 1200, p0 : p0 + 600] = 0
        m.flush()
        del m
        mask = str(base / "mask.u8")
    rows = []
    for s in range(9):
        proc = subprocess.run([sys.executable, "-c", CHILD, str(insar), str(base / "psi"), str(s),
                               json.dumps({"unwrap_grid_size": 50.0}), mask], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"psi step {s} at {scale}x failed:\n{proc.stderr[-3000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    stack = json.loads((base / "psi" / "stack.json").read_text())
    meta = json.loads((base / "psi" / "psi_metadata.json").read_text())
    res = {
        "scale": scale, "width": width, "length": length, "dates": dates, "simulate_s": t_sim,
        "pixels": width * length, "candidates": stack["prep"]["n_candidates"], "ps": meta["counts"]["ps"],
        "seconds": sum(r["seconds"] for r in rows), "cpu_s": sum(r["cpu"] for r in rows),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
        "step_seconds": [round(r["seconds"], 2) for r in rows], "step_peak_mb": [round(r["peak_rss_mb"]) for r in rows],
    }
    res["throughput"] = res["candidates"] * (dates - 1) / res["seconds"]
    print(f"  done {scale}x: {json.dumps(res)} (load {os.getloadavg()[0]:.1f})", flush=True)
    if not keep:
        shutil.rmtree(base / "sim", ignore_errors=True)
    return res


def print_psi(results: list[dict], title: str) -> None:
    print(f"\n{title}")
    print(f"{'scale':>5} {'scene':>13} {'cands':>8} {'PS':>7} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} {'cand*ifg/s':>11}")
    for r in results:
        print(f"{r['scale']:>4}x {r['width']:>5}x{r['length']:<6}x{r['dates']:<2} {r['candidates']:>8} {r['ps']:>7} "
              f"{r['seconds']:>8.1f} {r['cpu_s']:>8.1f} {r['peak_rss_mb']:>8.0f} {r['throughput']:>11.3g}")
        print(f"{'':>6} per step s {r['step_seconds']}  peak MB {r['step_peak_mb']}")
    if len(results) > 1:
        px = [r["pixels"] for r in results]
        print(f"growth exponents (log-log slope against pixels): wall {_slope(px, [r['seconds'] for r in results]):.2f}, "
              f"CPU {_slope(px, [r['cpu_s'] for r in results]):.2f}, peak memory {_slope(px, [r['peak_rss_mb'] for r in results]):.2f}, "
              f"candidates {_slope(px, [r['candidates'] for r in results]):.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=int, nargs="*", default=[1, 4, 16], help="area factors (squares); none: skip psi")
    ap.add_argument("--dates", type=int, default=30)
    ap.add_argument("--fixed-candidates", action="store_true",
                    help="also run with candidates only in a central 600 x 1200 window (a mask file): the scene grows, "
                         "the candidates stay those of the 1x scene")
    ap.add_argument("--fixed-only", action="store_true", help="with --fixed-candidates: skip the runs with all candidates")
    ap.add_argument("--bursts", type=int, default=0, help="ifg-stack over this many bursts of IW1 (0: skip)")
    ap.add_argument("--samples", type=int, default=21000, help="range samples per burst for ifg-stack (full width: 21000)")
    ap.add_argument("--out", default="bench-scale")
    ap.add_argument("--keep", action="store_true", help="keep the simulated stacks")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

    report: dict = {"load_start": os.getloadavg()}
    if args.scales:
        if not (args.fixed_only and args.fixed_candidates):
            report["psi"] = [psi_at(s, args.dates, out, False, args.keep) for s in args.scales]
            print_psi(report["psi"], "psi (PS density fixed: candidates grow with the scene)")
        if args.fixed_candidates:
            report["psi_fixed"] = [psi_at(s, args.dates, out, True, args.keep) for s in args.scales]
            print_psi(report["psi_fixed"], "psi (candidates fixed: a 600 x 1200 window of the scene, the rest masked)")
        print("StaMPS/Octave at 1x: 573 s, 225 MB")
    if args.bursts:
        # bench/ifg.py simulates the bursts (targets only, flat DEM) and runs the engine in a fresh process
        cmd = [sys.executable, str(Path(__file__).with_name("ifg.py")), "--bursts", str(args.bursts), "--secondaries", "1",
               "--samples", str(args.samples)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-3000:])
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])["runs"][0]
        report["ifg"] = dict(r, bursts=args.bursts)
        cpu = r["core_seconds"]
        print(f"\nifg-stack, one pair, {args.bursts} burst(s) of IW1 at {r['n_samples']} samples: {r['wall_seconds']:.1f} s wall, "
              f"{cpu:.1f} core s ({cpu / args.bursts:.1f} per burst), peak RSS {r['peak_rss_mb']:.0f} MB")
        if args.bursts < 9:
            print(f"extrapolated to a full sub-swath (9 bursts), linear in bursts: ~{cpu / args.bursts * 9:.0f} core s per pair "
                  f"(not measured: only {args.bursts} burst(s) were run on this machine)")
    report["load_end"] = os.getloadavg()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    (out / "scale.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
