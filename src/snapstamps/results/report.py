"""One-page HTML report of a psi job: inputs, parameters, counts, reference area, velocity
statistics, quicklooks and links to the products.

The report links its images and files by relative paths, so the result folder can be moved or
served as it is.  :func:`snapstamps.results.derived.make_job_outputs` writes it with the other
derived outputs.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..io.atomic import atomic_write_text
from .assets import Asset
from .model import PsiResult, load_result, reference_geometry

__all__ = ["velocity_statistics", "write_report"]

KEY_PARAMETERS = [
    "da_thresh", "rg_patches", "az_patches", "filter_grid_size", "clap_win", "max_topo_err", "weed_standard_dev",
    "unwrap_method", "unwrap_grid_size", "scla_deramp", "scn_time_win", "ref_lon", "ref_lat", "ref_centre_lonlat",
    "ref_radius", "ref_velocity", "drop_ifg_index",
]


def velocity_statistics(res: PsiResult) -> dict[str, float]:
    """Mean, std, min, percentiles and max of the mean velocity (mm/yr), and the median std."""
    v = res.column("mean_velocity")
    v = v[np.isfinite(v)]
    if not len(v):
        return {}
    out = {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
           "p02": float(np.percentile(v, 2)), "median": float(np.median(v)),
           "p98": float(np.percentile(v, 98)), "max": float(v.max())}
    s = res.column("mean_velocity_std")
    s = s[np.isfinite(s)]
    if len(s):
        out["median_velocity_std"] = float(np.median(s))
    return out


def _e(x: Any) -> str:
    return html.escape(str(x))


def _val(x: Any) -> str:
    if isinstance(x, float):
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        return f"{x:.6g}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_val(i) for i in x) + "]"
    if x is None:
        return "–"
    return str(x)


def _table(rows: list[tuple[str, Any]], cls: str = "kv") -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_val(v))}</td></tr>" for k, v in rows)
    return f"<table class='{cls}'>{body}</table>"


def _date_quality_html(q: dict[str, Any] | None) -> str:
    """Per-date noise (APS and residual, rad) from the metadata, the dates that stand out first."""
    if not q:
        return "<p>no per-date quality (the APS estimation did not run)</p>"
    out = q.get("standing_out") or []
    head = (f"<p>Dates that stand out: <b>{_e(', '.join(out))}</b></p>" if out else "<p>No date stands out.</p>")
    rows = "".join(
        f"<tr><td>{_e(r['date'])}{' ⚠' if r.get('stands_out') else ''}</td><td>{_e(_val(r.get('aps_std_rad')))}</td>"
        f"<td>{_e(_val(r.get('noise_std_rad')))}</td><td>{_e(_val(r.get('total_std_rad')))}</td></tr>"
        for r in q.get("dates", []))
    return (head + f"<p class='sub'>{_e(q.get('method', ''))}; spatial filter scale {_e(_val(q.get('filter_scale_m')))} m</p>"
            "<details><summary>per date</summary><table><tr><th>date</th><th>APS std (rad)</th><th>noise std (rad)</th>"
            f"<th>total (rad)</th></tr>{rows}</table></details>")


def _area_km2(res: PsiResult) -> float | None:
    lon, lat = res.column("longitude"), res.column("latitude")
    ok = np.isfinite(lon) & np.isfinite(lat)
    if ok.sum() < 3:
        return None
    from scipy.spatial import ConvexHull, QhullError

    k = math.cos(math.radians(float(lat[ok].mean())))
    xy = np.column_stack([lon[ok] * 111.32 * k, lat[ok] * 110.54])
    try:
        return float(ConvexHull(xy).volume)
    except (QhullError, ValueError):
        return None


def write_report(result_dir: str | Path | PsiResult, path: str | Path, assets: list[Asset] | None = None,
                 job_id: str | None = None) -> Asset:
    """Write the report to ``path``; ``assets`` (quicklooks, rasters, viewer) are shown and linked."""
    res = result_dir if isinstance(result_dir, PsiResult) else load_result(result_dir)
    path = Path(path)
    base = path.parent
    assets = assets or []
    meta, stack = res.metadata, res.stack
    counts = meta.get("counts", {})
    n_cand = counts.get("candidates") or (stack.get("prep") or {}).get("n_candidates")
    area = _area_km2(res)
    stats = velocity_statistics(res)
    ref = reference_geometry(res)
    dates = res.dates

    inputs = [
        ("stack (INSAR_<master>)", stack.get("insar_dir", "–")),
        ("sensor", meta.get("sensor") or stack.get("sensor")),
        ("images", len(dates)),
        ("first / last date", f"{dates[0]} / {dates[-1]}" if dates else "–"),
        ("master", res.master),
        ("radar grid (lines × pixels)", " × ".join(str(s) for s in stack.get("shape", [])) or "–"),
        ("wavelength (m)", meta.get("wavelength_m")),
    ]
    count_rows = [
        ("PS candidates (amplitude dispersion)", n_cand),
        ("PS", res.n_points),
        ("PS selected among candidates", f"{100.0 * res.n_points / n_cand:.1f} %" if n_cand else "–"),
        ("area covered (convex hull)", f"{area:.2f} km²" if area else "–"),
        ("PS density", f"{res.n_points / area:.0f} per km²" if area else "–"),
    ]
    if ref.get("kind") == "circle":
        ref_desc = f"circle of radius {ref['radius_m']:g} m around lon {ref['centre_lonlat'][0]:.6f}, " \
                   f"lat {ref['centre_lonlat'][1]:.6f}"
    elif ref.get("kind") == "box":
        ref_desc = f"lon {ref['lon'][0]:.6f} to {ref['lon'][1]:.6f}, lat {ref['lat'][0]:.6f} to {ref['lat'][1]:.6f}"
    else:
        ref_desc = "the mean of all PS (StaMPS' default)"
    ref_rows = [("reference area", ref_desc), ("reference PS", ref.get("n_reference_ps")),
                ("centroid of the reference PS (lon, lat)", ref.get("centroid_lonlat"))]
    quality_html = _date_quality_html(meta.get("date_quality"))
    stat_rows = [("velocity type", (meta.get("conventions") or {}).get("velocity_type", "–"))]
    stat_rows += [(k.replace("p02", "2nd percentile").replace("p98", "98th percentile").replace("_", " ") + " (mm/yr)",
                  round(v, 3)) for k, v in stats.items()]

    params = meta.get("parameters", {}) or {}
    key_rows = [(k, params[k]) for k in KEY_PARAMETERS if k in params]
    all_rows = sorted(params.items())
    adapted = meta.get("adapted_parameters") or []
    adapted_html = "".join(
        f"<li><code>{_e(a.get('parameter'))}</code>: {_e(_val(a.get('from')))} → {_e(_val(a.get('to')))} "
        f"({_e(a.get('reason'))})</li>" for a in adapted) or "<li>none</li>"

    figs = []
    for a in assets:
        if a.media_type == "image/png" and "thumbnail" not in a.roles:
            rel = os.path.relpath(a.path, base)
            figs.append(f"<figure><img src='{_e(rel)}' alt='{_e(a.title)}'><figcaption>{_e(a.title)}"
                        f"{(': ' + _e(a.description)) if a.description else ''}</figcaption></figure>")
    links = []
    for name, p in [("points (GeoParquet)", res.path / "ps_points.parquet"), ("points (CSV)", res.path / "ps_points.csv"),
                    ("metadata", res.path / "psi_metadata.json"), ("StaMPS velocities", res.path / "ps_mean_v.xy")]:
        if p.exists():
            links.append((name, os.path.relpath(p, base)))
    for a in assets:
        if a.media_type != "image/png":
            links.append((a.title, os.path.relpath(a.path, base)))
    links_html = "".join(f"<li><a href='{_e(h)}'>{_e(t)}</a> <code>{_e(h)}</code></li>" for t, h in links)

    title = f"PSI report — {job_id or res.path.name}"
    now = meta.get("software", {})
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>
body {{ font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1100px; margin: 16px auto;
  padding: 0 16px; color: #222; }}
h1 {{ font-size: 22px; margin-bottom: 2px; }} h2 {{ font-size: 17px; border-bottom: 1px solid #ddd; margin-top: 22px; }}
.sub {{ color: #666; }} .cols {{ display: flex; flex-wrap: wrap; gap: 24px; }} .cols > div {{ flex: 1 1 320px; }}
table {{ border-collapse: collapse; }} th, td {{ text-align: left; padding: 2px 10px 2px 0; border-bottom: 1px solid #eee;
  vertical-align: top; }} th {{ font-weight: 600; }}
figure {{ margin: 10px 0; }} figure img {{ max-width: 100%; border: 1px solid #ddd; }}
figcaption {{ font-size: 12px; color: #555; }} code {{ font-size: 12px; }}
</style></head>
<body>
<h1>{_e(title)}</h1>
<div class="sub">Sentinel-1 PSI (SNAP + StaMPS compatible) · snapstamps {_e(__version__)}
 (result written by {_e(now.get('name', 'snapstamps'))} {_e(now.get('version', ''))}, backend {_e(now.get('backend', '–'))})
 · products version {_e(res.product_version or '–')}
 · velocities in mm/yr along the line of sight, positive toward the satellite</div>
<div class="cols">
<div><h2>Inputs</h2>{_table(inputs)}</div>
<div><h2>Counts</h2>{_table(count_rows)}</div>
</div>
<div class="cols">
<div><h2>Reference area</h2>{_table(ref_rows)}</div>
<div><h2>Velocity statistics</h2>{_table(stat_rows)}</div>
</div>
<h2>Per-date quality</h2>
{quality_html}
<h2>Quicklooks</h2>
{''.join(figs) or '<p>none</p>'}
<h2>Parameters</h2>
{_table(key_rows)}
<p>Adapted to the scene:</p><ul>{adapted_html}</ul>
<details><summary>all parameters ({len(all_rows)})</summary>{_table(all_rows)}</details>
<h2>Files</h2>
<ul>{links_html}</ul>
<p class="sub">Dates: {_e(', '.join(dates))}</p>
</body></html>
"""
    atomic_write_text(path, doc)
    return Asset("report", path, ["metadata", "overview"], "text/html", "Job report",
                 "One-page HTML report: inputs, parameters, counts, reference area, velocity statistics, quicklooks")
