"""A synthetic psi result directory (documented product files only), for tests and benchmarks.

It has the layout :func:`snapstamps.results.products.write_products` writes — ``ps_points.csv``,
``ps_points.parquet``, ``psi_metadata.json``, ``stack.json`` — with a known velocity field
(a subsidence bowl plus a gradient), linear-plus-seasonal time series relative to the master
and uniform temporal coherence in [0.5, 1].  Deterministic for a given ``seed``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["make_synthetic_result"]


def make_synthetic_result(
    out_dir: str | Path,
    n_points: int = 2000,
    n_dates: int = 24,
    seed: int = 0,
    centre_lonlat: tuple[float, float] = (12.50, 41.90),
    extent_deg: float = 0.05,
    write_csv: bool = True,
    reference_radius_m: float | None = 400.0,
) -> Path:
    """Write a synthetic result directory and return its path.

    ``reference_radius_m`` sets a circular reference area around the scene centre
    (``None``: StaMPS' default, the mean of all PS).
    """
    from ..results.model import ATTRIBUTE_COLUMNS, date_column
    from ..results.products import write_geoparquet

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lon0, lat0 = centre_lonlat
    lon = lon0 + (rng.random(n_points) - 0.5) * extent_deg
    lat = lat0 + (rng.random(n_points) - 0.5) * extent_deg * 0.8
    dx = (lon - lon0) / extent_deg
    dy = (lat - lat0) / extent_deg
    v = -15.0 * np.exp(-((dx - 0.15) ** 2 + (dy + 0.1) ** 2) / 0.02) + 4.0 * dx + rng.normal(0, 0.8, n_points)
    coh = 0.5 + 0.5 * rng.random(n_points)
    dates = [dt.date(2023, 1, 3) + dt.timedelta(days=12 * k) for k in range(n_dates)]
    master_ix = n_dates // 2
    t = np.array([(d - dates[master_ix]).days / 365.25 for d in dates])
    seas = rng.normal(0, 1.0, n_points)[:, None] * (np.sin(2 * np.pi * t) - np.sin(0.0))[None, :]
    disp = v[:, None] * t[None, :] + seas + rng.normal(0, 0.7, (n_points, n_dates))
    disp[:, master_ix] = 0.0
    dem = 50.0 + 80.0 * np.exp(-((dx + 0.2) ** 2 + (dy - 0.2) ** 2) / 0.05) + 10 * dy
    dem_err = rng.normal(0, 3.0, n_points)
    table = pd.DataFrame(
        {
            "pid": np.arange(1, n_points + 1, dtype=np.int64),
            "latitude": lat,
            "longitude": lon,
            "height": dem + dem_err,
            "line": rng.integers(0, 3000, n_points),
            "pixel": rng.integers(0, 1500, n_points),
            "mean_velocity": v,
            "mean_velocity_std": 0.3 + 0.5 * rng.random(n_points),
            "temporal_coherence": coh,
            "amplitude_dispersion": 0.1 + 0.3 * rng.random(n_points),
            "incidence_angle": 33.0 + 10.0 * rng.random(n_points),
            "dem_error": dem_err,
        }
    )
    date_cols = {date_column(d): disp[:, k] for k, d in enumerate(dates)}
    table = pd.concat([table[[c for c in ATTRIBUTE_COLUMNS if c in table]], pd.DataFrame(date_cols)], axis=1)  # documented order
    # round as the CSV writer does, so that CSV and parquet agree
    num = table.columns.drop(["pid", "line", "pixel"])
    table[num] = table[num].round(6)
    if write_csv:
        table.to_csv(out / "ps_points.csv", index=False, float_format="%.6f")
    write_geoparquet(table, out / "ps_points.parquet")

    iso = [d.isoformat() for d in dates]
    if reference_radius_m is None:
        ref = {"ref_lon": [-np.inf, np.inf], "ref_lat": [-np.inf, np.inf], "ref_centre_lonlat": [0.0, 0.0],
               "ref_radius": np.inf}
        in_ref = np.ones(n_points, bool)
    else:
        ref = {"ref_lon": [-np.inf, np.inf], "ref_lat": [-np.inf, np.inf], "ref_centre_lonlat": [lon0, lat0],
               "ref_radius": reference_radius_m}
        ex = (lon - lon0) * 111320 * np.cos(np.radians(lat0))
        ny = (lat - lat0) * 110540
        in_ref = np.hypot(ex, ny) <= reference_radius_m
    ref_ll = np.column_stack([lon, lat])[in_ref]
    ref.update(n_reference_ps=int(in_ref.sum()),
               reference_ps_centroid_lonlat=ref_ll.mean(axis=0).tolist() if len(ref_ll) else None)
    meta = {
        "software": {"name": "snapstamps", "version": "synthetic", "backend": "synthetic"},
        "conventions": {"velocity": "mean LOS velocity, mm/yr, positive toward the satellite"},
        "master": iso[master_ix],
        "dates": iso,
        "wavelength_m": 0.05546576,
        "sensor": "SENTINEL-1A",
        "reference_area": ref,
        "counts": {"candidates": int(n_points * 5), "ps": int(n_points)},
        "velocity_statistics_mm_yr": {"mean": float(v.mean()), "std": float(v.std()),
                                      "min": float(v.min()), "max": float(v.max())},
        "adapted_parameters": [],
        "parameters": {"da_thresh": 0.4, "ref_radius": ref["ref_radius"], "scla_deramp": "n"},
    }
    (out / "psi_metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    base = np.column_stack([rng.normal(0, 60, n_dates - 1), rng.normal(0, 60, n_dates - 1),
                            rng.normal(0, 0.01, n_dates - 1), rng.normal(0, 0.01, n_dates - 1)])
    stack = {
        "master": iso[master_ix],
        "dates": iso,
        "master_ix": master_ix,
        "shape": [3000, 1500],
        "sensor": "SENTINEL-1A",
        "geometry": {"width": 1500, "length": 3000, "near_range": 850000.0, "range_pixel_spacing": 2.329562,
                     "sar_to_earth_center": 7071000.0, "earth_radius": 6371000.0, "prf": 486.4863813,
                     "heading": -167.0, "wavelength": 0.05546576},
        "baselines": base.tolist(),
        "prep": {"n_candidates": int(n_points * 5)},
    }
    (out / "stack.json").write_text(json.dumps(stack, indent=2) + "\n")
    return out
