"""Benchmark of the web viewer: export, first draw, redraws, click-to-series and JS heap against the point count.

For each size in ``--points`` (default 10k, 100k and 1M points, ``--dates`` 24) this writes a
synthetic psi result (:func:`snapstamps.viewer.synthetic.make_synthetic_result`), exports its
viewer (wall seconds, folder size), then opens ``index.html`` from ``file://`` in headless
Debian chromium through playwright-core (``web/bench-viewer.mjs``: the browser tests' flags, a
fresh ``--user-data-dir`` per size) and measures, through the viewer's ``window.snapstampsViewer``:

- first draw: from navigation start to the end of the first full draw (all points submitted,
  the frame rasterised: a 1-pixel ``readPixels`` waits for the GL pipeline);
- redraw: ``--redraws`` synchronous redraws through the API, alternating new colour limits
  and a new coherence threshold (which also recounts the points shown), each until its pixels
  are rasterised: mean and max;
- frame: the same changes made through the controls, one per animation frame; intervals between
  ``requestAnimationFrame`` timestamps (16.7 ms = 60 fps is the floor): mean and max;
- click: zoomed in on a known point, from the ``pointerup`` of a real mouse click to the frame
  after its time series (title, table, chart) is in the page, chunk file loaded on demand; the
  values shown are checked against the result;
- heap: the page's JS heap after a garbage collection (CDP ``Performance.getMetrics``), and the
  ArrayBuffer contents outside it where Chromium reports them (``Runtime.getHeapUsage``).

Chromium runs WebGL on SwiftShader (software rendering on the CPU) here, so the drawing figures
are a lower bound of what a machine with a GPU gives.  Nothing is asserted.  Usage::

    python bench/viewer.py [--points 10000 100000 1000000] [--dates 24] [--redraws 20] [--json FILE] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _known_point(lon: np.ndarray, lat: np.ndarray, start: int) -> tuple[int, float]:
    """A point from ``start`` on whose nearest neighbour is at least 0.5 m away; its index and that distance (m)."""
    from snapstamps.results.model import lonlat_to_mercator

    x, y = lonlat_to_mercator(lon, lat)
    for i in range(start, start + 1000):
        d = np.hypot(x - x[i], y - y[i])
        d[i] = np.inf
        nn = float(d.min())
        if nn >= 0.5:
            return i, nn
    raise RuntimeError("no isolated point found")


def _size_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def bench_one(n: int, n_dates: int, redraws: int, work: Path, chromium: str) -> dict:
    from snapstamps.results import export_viewer, load_result
    from snapstamps.viewer.synthetic import make_synthetic_result

    row: dict = {"points": n}
    t0 = time.perf_counter()
    rd = make_synthetic_result(work / f"result-{n}", n_points=n, n_dates=n_dates, seed=3, write_csv=False)
    row["synthetic_s"] = time.perf_counter() - t0
    res = load_result(rd)
    t0 = time.perf_counter()
    site = work / f"viewer-{n}"
    export_viewer(res, site)
    row["export_s"] = time.perf_counter() - t0
    row["folder_bytes"] = _folder_size(site)
    row["points_js_bytes"] = (site / "data" / "points.js").stat().st_size

    lon, lat = res.column("longitude"), res.column("latitude")
    i, nn = _known_point(lon, lat, start=(2 * n) // 3)  # in a chunk other than the first
    pid = int(res.table["pid"].iloc[i])
    spec = {"url": (site / "index.html").resolve().as_uri(), "chromium": chromium, "pid": pid,
            "lon": float(lon[i]), "lat": float(lat[i]), "zoomRes": nn / 25.0,
            "redraws": redraws, "timeoutMs": 180_000}
    # zoomRes: Web-Mercator metres per pixel (as nn), so that the nearest neighbour is 25 px away: an unambiguous click
    t0 = time.perf_counter()
    p = subprocess.run(["node", str(WEB / "bench-viewer.mjs"), json.dumps(spec)], check=False, cwd=WEB,
                       capture_output=True, text=True, timeout=300)
    row["browser_s"] = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"bench-viewer.mjs failed ({p.returncode}):\n{p.stderr[-4000:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])

    sel = (r.get("click") or {}).get("selected") or {}
    row["click_ok"] = bool(
        sel.get("pid") == pid and sel.get("dates") == res.dates
        and np.allclose(sel.get("values", []), res.displacements()[i], atol=1e-4)
    )
    row["all_drawn"] = r["webgl"] and r["nPoints"] == n and r["drawnCount"] == n
    row["errors"] = r["errors"] + r["consoleErrors"]
    row["renderer"] = r.get("glRenderer")
    row["first_draw_ms"] = r["firstDrawMs"]
    row["viewer_start_ms"] = r["viewerStartMs"]
    rd_ms = np.array(r["redraw"]["limitsMs"] + r["redraw"]["cohMs"])
    row["redraw_mean_ms"], row["redraw_max_ms"] = float(rd_ms.mean()), float(rd_ms.max())
    row["redraw_limits_mean_ms"] = float(np.mean(r["redraw"]["limitsMs"]))
    row["redraw_coh_mean_ms"] = float(np.mean(r["redraw"]["cohMs"]))
    row["readpixels_alone_ms"] = float(np.mean(r["redraw"]["syncAloneMs"]))
    fr = np.array(r["frames"]["intervalsMs"])
    row["frame_mean_ms"], row["frame_max_ms"] = float(fr.mean()), float(fr.max())
    row["idle_frame_mean_ms"] = float(np.mean(r["frames"]["idleIntervalsMs"]))
    row["click_to_dom_ms"] = r["click"]["toDomMs"]
    row["click_to_series_ms"] = r["click"]["toShownMs"]
    row["js_heap_bytes"] = r["heap"]["jsHeapUsed"]
    row["array_buffers_bytes"] = r["heap"].get("backingStorage")
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--dates", type=int, default=24)
    ap.add_argument("--redraws", type=int, default=20)
    ap.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    ap.add_argument("--keep", type=Path, help="write results and viewers here and keep them (default: a temp folder)")
    args = ap.parse_args()

    from snapstamps.viewer.testing import CHROMIUM, browser_unavailable

    why = browser_unavailable()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 2
    version = subprocess.run([CHROMIUM, "--version"], check=False, capture_output=True, text=True).stdout.strip()
    work = args.keep or Path(tempfile.mkdtemp(prefix="snapstamps-bench-viewer-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    t_all = time.perf_counter()
    try:
        for n in args.points:
            rows.append(bench_one(n, args.dates, args.redraws, work, CHROMIUM))
            if not args.keep:  # free the disk as we go (the 1M viewer is ~0.2 GB)
                shutil.rmtree(work / f"result-{n}", ignore_errors=True)
                shutil.rmtree(work / f"viewer-{n}", ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"{version}, WebGL renderer: {rows[0]['renderer'] if rows else '?'}")
    print("WebGL runs on SwiftShader (software, on the CPU) here: drawing figures are a lower bound of what a GPU gives.")
    print(f"{args.dates} dates, {os.cpu_count()} CPU cores, viewport 1280 x 800, {args.redraws} redraws per size.")
    print()
    hdr = (f"{'points':>7} {'export s':>8} {'folder MB':>9} {'1st draw ms':>11} {'redraw ms':>15} "
           f"{'frame ms':>15} {'click->series ms':>16} {'JS heap MB':>10} {'buffers MB':>10} {'ok':>3}")
    print(hdr)
    print(f"{'':>7} {'':>8} {'':>9} {'':>11} {'mean / max':>15} {'mean / max':>15} {'':>16} {'':>10} {'':>10}")
    for r in rows:
        ok = r["all_drawn"] and r["click_ok"] and not r["errors"]
        buf = f"{r['array_buffers_bytes'] / 1e6:10.1f}" if r["array_buffers_bytes"] is not None else f"{'-':>10}"
        print(f"{_size_label(r['points']):>7} {r['export_s']:8.1f} {r['folder_bytes'] / 1e6:9.1f} "
              f"{r['first_draw_ms']:11.0f} {r['redraw_mean_ms']:7.1f} / {r['redraw_max_ms']:5.1f} "
              f"{r['frame_mean_ms']:7.1f} / {r['frame_max_ms']:5.1f} {r['click_to_series_ms']:16.0f} "
              f"{r['js_heap_bytes'] / 1e6:10.1f} {buf} {'yes' if ok else 'NO':>3}")
    print()
    print("first draw: navigation start to the first full draw rasterised; redraw: one API redraw to pixels "
          "(colour limits / coherence filter alternately; the filter also recounts the points shown); "
          "frame: requestAnimationFrame interval while a control changes every frame; click->series: pointerup "
          "to the frame after the time series is shown; ok: all points drawn, the clicked point's values right, "
          "no page errors.")
    for r in rows:
        print(f"  {_size_label(r['points']):>4}: redraw limits {r['redraw_limits_mean_ms']:.1f} ms, coherence "
              f"{r['redraw_coh_mean_ms']:.1f} ms (mean), readPixels alone {r['readpixels_alone_ms']:.1f} ms; data scripts loaded {r['viewer_start_ms']:.0f} ms; "
              f"idle frame {r['idle_frame_mean_ms']:.1f} ms; "
              f"click->DOM {r['click_to_dom_ms']:.0f} ms; points.js {r['points_js_bytes'] / 1e6:.1f} MB; "
              f"synthetic result {r['synthetic_s']:.1f} s; browser run {r['browser_s']:.1f} s"
              + (f"; errors: {r['errors'][:3]}" if r["errors"] else ""))
    print(f"total {time.perf_counter() - t_all:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["all_drawn"] and r["click_ok"] and not r["errors"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
