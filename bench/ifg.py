"""Benchmark of the native interferogram-stack engine on one burst pair: time and peak memory per stage.

Simulates a reference and a secondary of one Sentinel-1 IW1 burst (1 x 1501 lines) at
``--samples`` range samples (full width: 21000) on the real Rome annotation, with a flat DEM
covering the whole burst, then runs ``ifg-stack`` over the whole burst and prints, per stage,
wall seconds, core (CPU) seconds and the peak of numpy/Python memory traced in that stage
(``tracemalloc``), and the process's peak RSS.  With one burst there is no burst overlap, so the
ESD stage is empty (ESD is timed in the tests).  Usage::

    python bench/ifg.py [--samples 21000] [--block-lines 256] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
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


def main() -> None:
    """Simulate, run, print the figures (and a JSON line)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=21000)
    ap.add_argument("--first-sample", type=int, default=1000)
    ap.add_argument("--block-lines", type=int, default=256)
    ap.add_argument("--keep", type=Path, default=None, help="work folder kept afterwards")
    a = ap.parse_args()

    from snapstamps.ifg import geocoding as G
    from snapstamps.ifg.orbits import OrbitInterpolator
    from snapstamps.ifg.safe import open_swath
    from snapstamps.simulate.safe_stack import SafeSimConfig, simulate_safe_stack
    from snapstamps.workflows.ifg_stack import IfgStackOptions, run_ifg_stack

    work = a.keep or Path(tempfile.mkdtemp(prefix="bench-ifg-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cfg = SafeSimConfig(n_dates=2, baselines=[0.0, 80.0], reference_index=0, seed=1, bursts=(3, 3), first_sample=a.first_sample,
                        n_samples=a.samples, targets_only=True, ps_density=0.0005)
    s = simulate_safe_stack(work / "sim", cfg)
    t_sim = time.perf_counter() - t0
    d = work / "sim"
    ref = open_swath(d / s["reference"], "IW1", "VV")
    b = ref.bursts[0]
    orb = OrbitInterpolator(ref.orbit)
    # AOI: the valid part of the burst (corners at height 0), shrunk by a few pixels
    tl = b.t0 + np.array([b.first_valid_line + 4, b.last_valid_line - 4]) * ref.dt
    rs = ref.slant_range(np.array([b.first_valid_sample + 4, b.last_valid_sample - 4]))
    T, R = np.meshgrid(tl, rs, indexing="ij")
    lon, lat, _ = G.ecef_to_geodetic(G.rdr2geo(T, R, np.zeros_like(T), orb))
    # the bbox is lon/lat-aligned and the burst is not: take the inner box of the four corners
    lo, la = np.sort(lon.ravel()), np.sort(lat.ravel())
    bbox = (float(lo[1]), float(la[1]), float(lo[2]), float(la[2]))
    _flat_dem(work / "dem.tif", (float(lon.min()) - 0.05, float(lat.min()) - 0.05, float(lon.max()) + 0.05, float(lat.max()) + 0.05))

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

    tracemalloc.start()
    opts = IfgStackOptions(reference=d / s["reference"], secondaries=[d / p for p in s["products"] if p != s["reference"]], subswath="IW1",
                           polarisation="VV", bbox=bbox, dem=work / "dem.tif", orbits=d / "orbits", out=work / "out", block_lines=a.block_lines)
    res = run_ifg_stack(opts, on_stage=on_stage)
    tracemalloc.stop()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"burst pair: {res['n_lines']} lines x {res['n_samples']} samples ({res['n_lines'] * res['n_samples'] / 1e6:.1f} Mpx), "
          f"block {res['block_lines']} lines; simulation {t_sim:.1f} s")
    print(f"{'stage':<14}{'wall s':>9}{'core s':>9}{'peak MB':>10}")
    for k, v in stages.items():
        print(f"{k:<14}{v['wall_s']:>9.1f}{v['core_s']:>9.1f}{v['peak_traced_mb']:>10.0f}")
    tot_w = sum(v["wall_s"] for v in stages.values())
    tot_c = sum(v["core_s"] for v in stages.values())
    print(f"{'total':<14}{tot_w:>9.1f}{tot_c:>9.1f}   peak RSS {peak_rss:.0f} MB (simulation included)")
    print(json.dumps({"n_lines": res["n_lines"], "n_samples": res["n_samples"], "stages": stages, "core_seconds": tot_c, "wall_seconds": tot_w, "peak_rss_mb": peak_rss}))
    if a.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
