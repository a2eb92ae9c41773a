"""Benchmark of the native interferogram-stack engine on one burst: time and peak memory per stage.

Simulates a reference and ``max(--secondaries)`` secondaries of one Sentinel-1 IW1 burst
(1 x 1501 lines) at ``--samples`` range samples (full width: 21000) on the real Rome annotation,
with a flat DEM covering the whole burst, then runs ``ifg-stack`` over the whole burst once per
count in ``--secondaries`` (default 1 and 3, the first secondaries of the same simulation), each
in a fresh process, and prints per run and stage wall seconds, core (CPU) seconds and the peak of
numpy/Python memory traced in that stage (``tracemalloc``: numba's work rows are not traced), and the
run's peak RSS (the run's own process: no simulation in it), and the core seconds per burst pair.
``sec_geometry`` is the secondaries' geometry (per block and per ESD overlap), ``geometry`` the
reference's.  The engine streams blocks of lines, so the peaks should not
grow with the number of secondaries.  With one burst there is no burst overlap, so the ESD stage
is empty: ``--bursts 2`` or more for ESD.  Usage::

    python bench/ifg.py [--samples 21000] [--block-lines 256] [--secondaries 1 3] [--bursts 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def _flat_dem(path: Path, bbox: tuple[float, float, float, float], height: float = 50.0) -> None:
    """A constant-height ellipsoidal DEM (EPSG:4326, 0.001 deg) covering ``bbox``."""
    import rasterio
    from rasterio.transform import from_origin

    w, s, e, n = bbox
    res = 0.001
    nx, ny = int((e - w) / res) + 1, int((n - s) / res) + 1
    with rasterio.open(path, "w", driver="GTiff", width=nx, height=ny, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(w, n, res, res)) as ds:
        ds.write(np.full((ny, nx), height, np.float32), 1)


def _peak_rss_mb() -> float:
    """This process's peak resident memory (MB): ``VmHWM`` (reset by exec, unlike ``ru_maxrss``), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(work: Path, n_secondaries: int, block_lines: int) -> dict:
    """One engine run on the simulation in ``work`` with its first ``n_secondaries`` secondaries (in this process)."""
    from snapstamps.workflows.ifg_stack import IfgStackOptions, run_ifg_stack

    setup = json.loads((work / "bench.json").read_text())
    d = work / "sim"
    rss0 = _peak_rss_mb()
    stages: dict[str, dict] = {}
    cur = {"name": None, "wall": 0.0, "cpu": 0.0}

    def on_stage(name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        if cur["name"] is not None:
            st = stages.setdefault(cur["name"], {"wall_s": 0.0, "core_s": 0.0, "peak_traced_mb": 0.0})
            st["wall_s"] += now - cur["wall"]
            st["core_s"] += cpu - cur["cpu"]
            st["peak_traced_mb"] = max(st["peak_traced_mb"], tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.reset_peak()
        cur.update(name=name, wall=now, cpu=cpu)

    out = work / f"out{n_secondaries}"
    tracemalloc.start()
    opts = IfgStackOptions(reference=d / setup["reference"], secondaries=[d / p for p in setup["secondaries"][:n_secondaries]], subswath="IW1",
                           polarisation="VV", bbox=tuple(setup["bbox"]), dem=work / "dem.tif", orbits=d / "orbits", out=out, block_lines=block_lines)
    res = run_ifg_stack(opts, on_stage=on_stage)
    tracemalloc.stop()
    shutil.rmtree(out, ignore_errors=True)
    return {"n_secondaries": n_secondaries, "n_lines": res["n_lines"], "n_samples": res["n_samples"], "block_lines": res["block_lines"], "stages": stages,
            "peak_traced_mb": max(v["peak_traced_mb"] for v in stages.values()), "core_seconds": sum(v["core_s"] for v in stages.values()),
            "wall_seconds": sum(v["wall_s"] for v in stages.values()), "peak_rss_mb": _peak_rss_mb(),
            "rss_before_run_mb": rss0}


def main() -> None:
    """Simulate once, run the engine per secondary count in a child process, print the figures (and a JSON line)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=21000)
    ap.add_argument("--first-sample", type=int, default=1000)
    ap.add_argument("--block-lines", type=int, default=256)
    ap.add_argument("--secondaries", type=int, nargs="+", default=[1, 3], help="secondary counts to run (default: 1 3)")
    ap.add_argument("--bursts", type=int, default=1, help="consecutive bursts of IW1 simulated and processed (default 1)")
    ap.add_argument("--keep", type=Path, default=None, help="work folder kept afterwards")
    ap.add_argument("--run-in", type=Path, default=None, help=argparse.SUPPRESS)  # internal: one run in a child process
    a = ap.parse_args()
    if a.run_in is not None:
        print(json.dumps(_run(a.run_in, a.secondaries[0], a.block_lines)))
        return

    from snapstamps.ifg import geocoding as G
    from snapstamps.ifg.orbits import OrbitInterpolator
    from snapstamps.ifg.safe import open_swath
    from snapstamps.simulate.safe_stack import SafeSimConfig, simulate_safe_stack

    work = a.keep or Path(tempfile.mkdtemp(prefix="bench-ifg-"))
    work.mkdir(parents=True, exist_ok=True)
    n_sec = max(a.secondaries)
    t0 = time.perf_counter()
    baselines = [0.0, 80.0, -50.0, 130.0, -110.0, 40.0][: n_sec + 1] + [20.0 * k for k in range(max(0, n_sec - 5))]
    cfg = SafeSimConfig(n_dates=n_sec + 1, baselines=baselines, reference_index=0, seed=1, bursts=(3, 3 + a.bursts - 1), first_sample=a.first_sample,
                        n_samples=a.samples, targets_only=True, ps_density=0.0005)
    s = simulate_safe_stack(work / "sim", cfg)
    t_sim = time.perf_counter() - t0
    d = work / "sim"
    ref = open_swath(d / s["reference"], "IW1", "VV")
    b, b_last = ref.bursts[0], ref.bursts[-1]
    orb = OrbitInterpolator(ref.orbit)
    # AOI: the valid part of the bursts (corners at height 0), shrunk by a few pixels
    tl = np.array([b.t0 + (b.first_valid_line + 4) * ref.dt, b_last.t0 + (b_last.last_valid_line - 4) * ref.dt])
    rs = ref.slant_range(np.array([b.first_valid_sample + 4, b.last_valid_sample - 4]))
    T, R = np.meshgrid(tl, rs, indexing="ij")
    lon, lat, _ = G.ecef_to_geodetic(G.rdr2geo(T, R, np.zeros_like(T), orb))
    # the bbox is lon/lat-aligned and the burst is not: take the inner box of the four corners
    lo, la = np.sort(lon.ravel()), np.sort(lat.ravel())
    bbox = (float(lo[1]), float(la[1]), float(lo[2]), float(la[2]))
    _flat_dem(work / "dem.tif", (float(lon.min()) - 0.05, float(lat.min()) - 0.05, float(lon.max()) + 0.05, float(lat.max()) + 0.05))
    secs = [p for p in s["products"] if p != s["reference"]]
    (work / "bench.json").write_text(json.dumps({"reference": s["reference"], "secondaries": secs, "bbox": bbox}))

    runs = []
    for n in a.secondaries:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--run-in", str(work), "--secondaries", str(n), "--block-lines", str(a.block_lines)]
        p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False)
        if p.returncode != 0:
            sys.exit(f"run with {n} secondaries failed:\n{p.stderr[-3000:]}")
        runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    r0 = runs[0]
    print(f"{a.bursts} burst(s): {r0['n_lines']} lines x {r0['n_samples']} samples ({r0['n_lines'] * r0['n_samples'] / 1e6:.1f} Mpx), "
          f"block {r0['block_lines']} lines; simulation of {n_sec + 1} dates {t_sim:.1f} s")
    for r in runs:
        print(f"\n{r['n_secondaries']} secondar{'y' if r['n_secondaries'] == 1 else 'ies'}:")
        print(f"{'stage':<14}{'wall s':>9}{'core s':>9}{'peak MB':>10}")
        for k, v in r["stages"].items():
            print(f"{k:<14}{v['wall_s']:>9.1f}{v['core_s']:>9.1f}{v['peak_traced_mb']:>10.0f}")
        print(f"{'total':<14}{r['wall_seconds']:>9.1f}{r['core_seconds']:>9.1f}{r['peak_traced_mb']:>10.0f}   peak RSS {r['peak_rss_mb']:.0f} MB "
              f"({r['rss_before_run_mb']:.0f} MB before the run: interpreter and imports)")
        pair = sum(v["core_s"] for k, v in r["stages"].items() if k in ("esd", "sec_geometry", "resample_ifg"))
        n_bp = a.bursts * r["n_secondaries"]
        print(f"per burst pair ({n_bp}): {r['core_seconds'] / n_bp:.1f} core s in all, {pair / n_bp:.1f} in the pair stages "
              f"(esd, sec_geometry, resample_ifg; {sum(r['stages'].get(k, {}).get('core_s', 0.0) for k in ('esd', 'resample_ifg')) / n_bp:.1f} without the geometry)")
    print("\npeak memory by number of secondaries: " + ", ".join(
        f"{r['n_secondaries']}: traced {r['peak_traced_mb']:.0f} MB, RSS {r['peak_rss_mb']:.0f} MB" for r in runs))
    print(json.dumps({"runs": runs, "simulation_seconds": t_sim, "bursts": a.bursts}))
    if a.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
