"""PSI products: StaMPS text exports, the EGMS-style point table, and the run metadata.

Files written in the processing directory (each via a temporary name and a rename):

``ps_mean_v.xy``
    ``lon lat v`` — mean LOS velocity (mm/yr, positive toward the satellite), StaMPS
    value type ``velocity_type`` (default ``'v-d'``: DEM error and master APS removed; no
    deramp, no SCN), plus ``ref_velocity``.
``ps_data.xy``
    ``lon lat v hgt dem_error`` (5 columns as StaMPS' ``ps_output``): v in mm/yr as above
    (StaMPS writes v_std there when a bootstrap exists — a variable-reuse bug we do not
    reproduce), DEM height (m), DEM error (m, positive = terrain above the DEM).
``ps_u-dm.<n>.xy``, n = 1..M in date order
    ``lon lat d`` — LOS displacement (mm, positive toward the satellite) of image n relative to
    the master, DEM error and master APS removed, referenced to the reference area.  The
    master file is zero (StaMPS' ``ps_output`` leaves the master APS residual in it; we fix it).
``ps_points.csv`` / ``ps_points.parquet`` (GeoParquet 1.0, WKB points, OGC:CRS84)
    pid, latitude, longitude, height, line, pixel, mean_velocity, mean_velocity_std,
    temporal_coherence, amplitude_dispersion, incidence_angle, dem_error, then one column per
    date ``YYYYMMDD`` (mm).
``psi_metadata.json``
    conventions, units, dates, reference area, counts, adapted parameters, all parameters.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import __version__
from ..io.atomic import atomic_path
from ..psi import geometry
from ..psi import velocity as vel
from ..psi.merge import PsSet
from .state import load_npz, write_json

if TYPE_CHECKING:
    from .psi import PsiRun

VELOCITY_DESCRIPTIONS = {
    "v-daps": "DEM error re-estimated and an APS estimate that keeps deformation removed (psi.aps); "
    "velocity of each PS' deformation model (linear, plus acceleration/seasonal where the data support them) "
    "at mid-span, weighted by the per-date noise",
    "v-da": "DEM error, master APS and the tropospheric correction (tropo_method) removed",
    "v-dao": "DEM error and the tropospheric correction removed, then a plane per interferogram",
    "v-d": "DEM error (SCLA) and master APS removed; no deramp, no SCN",
    "v-do": "DEM error removed, then a plane per interferogram (orbit ramp) removed; no SCN",
    "v-ds": "DEM error, master APS and spatially correlated noise (step 8) removed",
    "v-dso": "DEM error and spatially correlated noise removed, then a plane per interferogram",
}


#: units of the point-table columns (YYYYMMDD date columns: mm)
COLUMN_UNITS = {
    "pid": "1", "latitude": "deg", "longitude": "deg", "easting": "m (EPSG:3035)", "northing": "m (EPSG:3035)",
    "height": "m (DEM + dem_error)", "height_wgs84": "m (WGS84 ellipsoid)", "line": "1", "pixel": "1",
    "mean_velocity": "mm/yr", "mean_velocity_std": "mm/yr", "acceleration": "mm/yr^2", "acceleration_std": "mm/yr^2",
    "seasonality": "mm (amplitude)", "seasonality_std": "mm", "rmse": "mm", "temporal_coherence": "1",
    "amplitude_dispersion": "1", "incidence_angle": "deg", "los_east": "1", "los_north": "1", "los_up": "1",
    "dem_error": "m", "YYYYMMDD": "mm",
}


def _load_aps(out: Path, needed: bool):
    """Step 7's APS estimate (``aps2.npz``), or None when absent and not ``needed``."""
    from ..psi.aps import ApsResult
    from .state import load_dataclass

    if not needed and not (out / "aps2.npz").exists():
        return None
    return load_dataclass(out / "aps2.npz", ApsResult, needed_by="velocity_type 'v-daps' (re-run step 7)")


def _load_tropo(run: "PsiRun") -> np.ndarray:
    return load_npz(run.out_dir / "tropo2.npz", needed_by="velocity types with 'a' (set subtr_tropo=y, re-run step 7)")[
        "ph_tropo"
    ]


def _date_quality(aps_res, dates: list[str]) -> dict[str, Any] | None:
    """Per-date noise of the APS estimate and of what is left, and the dates that stand out."""
    from ..psi.aps import date_quality

    if aps_res is None:
        return None
    q = date_quality(sigma_aps=aps_res.sigma_aps, sigma_noise=aps_res.sigma_noise)
    rows = [
        {"date": d, "aps_std_rad": _f(a), "noise_std_rad": _f(e), "total_std_rad": _f(t), "stands_out": bool(o)}
        for d, a, e, t, o in zip(dates, aps_res.sigma_aps, aps_res.sigma_noise, q["sigma_total"], q["outlier"])
    ]
    return {
        "method": "spatial std of the APS estimate and std of the residual noise per date (psi.aps); dates whose total "
        "exceeds the median by more than 3 robust standard deviations (1.4826 MAD) stand out",
        "filter_scale_m": float(aps_res.filter_scale),
        "iterations": int(aps_res.n_iter),
        "converged": bool(aps_res.converged),
        "dates": rows,
        "standing_out": [r["date"] for r in rows if r["stands_out"]],
    }


def _f(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _egms_model_columns(ph_uw, st, aps_res, ref, cols, wavelength) -> dict[str, np.ndarray]:
    """EGMS model columns from the APS estimate (``psi.aps.point_products``); NaN without one."""
    from ..psi import aps

    n = st.n_ps
    names = ("mean_velocity", "mean_velocity_std", "acceleration", "acceleration_std", "seasonality", "seasonality_std", "rmse")
    if aps_res is None:
        return {**{k: np.full(n, np.nan) for k in names}, "displacement": np.full((n, len(st.day)), np.nan)}
    ph_dem = np.asarray(ph_uw, np.float64) - aps_res.K_ps[:, None] * st.bperp_full() - aps_res.C_ps[:, None]
    ph_dem[:, st.master_ix] = 0.0
    ph_cor = ph_dem - aps_res.ph_aps
    ph_dem, ph_cor = (vel.reference(p, ref) if ref.any() else p for p in (ph_dem, ph_cor))
    cols_a = np.array([c for c in cols if aps_res.weights[c] > 0], dtype=np.int64)
    res = aps.point_products(
        ph_corrected=ph_cor, ph_dem_corrected=ph_dem, day=st.day, columns=cols_a, t_ref=float(aps_res.t_ref),
        wavelength=wavelength, weights=aps_res.weights, model_ix=aps_res.model_ix, models=aps_res.models,
    )
    res["displacement"] = geometry.phase_to_mm(ph_cor, wavelength)
    return res


def _egms_geometry_columns(table: pd.DataFrame, inc: np.ndarray, heading: float) -> tuple[dict[str, np.ndarray], str]:
    from ..psi import pointcols

    lon, lat = table["longitude"].to_numpy(), table["latitude"].to_numpy()
    e, n = pointcols.laea_europe(lon=lon, lat=lat)
    le, ln, lu = pointcols.los_unit_vector(inc=inc, heading_deg=heading)
    h84, note = pointcols.ellipsoidal_height(lon=lon, lat=lat, height=table["height"].to_numpy())
    return {"easting": e, "northing": n, "height_wgs84": h84, "los_east": le, "los_north": ln, "los_up": lu}, note


def _with_egms_columns(table: pd.DataFrame, extra: dict[str, np.ndarray]) -> pd.DataFrame:
    """The table with the EGMS columns inserted in EGMS order (before the date columns)."""
    for k, v in extra.items():
        table[k] = v
    order = ["pid", "latitude", "longitude", "easting", "northing", "height", "height_wgs84", "line", "pixel",
             "mean_velocity", "mean_velocity_std", "acceleration", "acceleration_std", "seasonality", "seasonality_std",
             "rmse", "temporal_coherence", "amplitude_dispersion", "incidence_angle", "los_east", "los_north", "los_up",
             "dem_error"]
    return table[order + [c for c in table.columns if c not in order]]


def _atomic_write(path: Path, writer) -> None:
    """Let ``writer(tmp)`` write a temporary sibling of ``path``, then rename it into place."""
    with atomic_path(path) as tmp:
        writer(str(tmp))


def _write_xy(path: Path, columns: list[np.ndarray], fmt: str) -> None:
    data = np.column_stack(columns)
    _atomic_write(path, lambda tmp: np.savetxt(tmp, data, fmt=fmt))


def compute_point_table(
    run: "PsiRun", backend: str = "native", software: dict[str, Any] | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Velocities, displacements and attributes of every PS, as a table plus metadata."""
    from ..psi.scla import SclaResult
    from ..psi.unwrap import UnwrapResult
    from .state import load_dataclass

    out = run.out_dir
    ps = PsSet.from_arrays(load_npz(out / "ps2.npz", needed_by="products"))
    st = ps.state
    uw = load_dataclass(out / "phuw2.npz", UnwrapResult, needed_by="products")
    sc = load_dataclass(out / "scla2.npz", SclaResult, needed_by="products")
    std = load_npz(out / "ifgstd2.npz", needed_by="products")["ifg_std"]
    info = run.stack_info()
    wavelength = float(info["geometry"]["wavelength"])
    dates = [dt.date.fromisoformat(d) for d in info["dates"]]
    drop = run.drop_images(run.params.scla_drop_index)

    ref = vel.reference_mask(st.lonlat, st.ll0, run.params)
    if not ref.any() and run.params.ref_radius != -np.inf:
        from ..errors import ParameterError

        raise ParameterError(
            "the reference area (ref_lon, ref_lat, ref_centre_lonlat, ref_radius) contains no PS"
        )
    kind = run.params.velocity_type
    scn = None
    if "s" in kind.split("-", 1)[1] and kind != "v-daps":
        from ..psi.scn import ScnResult

        scn = load_dataclass(out / "scn2.npz", ScnResult, needed_by=f"velocity_type={kind!r} (run step 8)").ph_scn_slave
    cols = [c for c in range(len(dates)) if c != st.master_ix and c not in set(drop)]
    aps_res = _load_aps(out, needed=kind == "v-daps")
    ph_in = uw.ph_uw - _load_tropo(run) if run.params.subtr_tropo == "y" else uw.ph_uw  # as steps 7 used it
    egms = _egms_model_columns(ph_in, st, aps_res, ref, cols, wavelength)  # NaN columns without aps2.npz
    if kind == "v-daps":
        v = egms.pop("mean_velocity") + run.params.ref_velocity * 1000.0
        v_std = egms.pop("mean_velocity_std")
        disp = egms.pop("displacement")
        K = np.asarray(aps_res.K_ps, np.float64)
    else:
        v = vel.velocity_map(
            kind, uw.ph_uw, sc.ph_scla, sc.C_ps_uw, scn, st.xy, st.day, st.master_ix, wavelength,
            ref, ifg_std_deg=std, drop=drop, ph_tropo=_load_tropo(run) if "a" in kind.split("-", 1)[1] else None,
        ) + run.params.ref_velocity * 1000.0
        ph_d = np.asarray(uw.ph_uw, np.float64) - sc.ph_scla - sc.C_ps_uw[:, None]
        ph_d = vel.reference(ph_d, ref) if ref.any() else ph_d
        v_std = vel.mean_velocity_std(ph_d, st.day, st.master_ix, wavelength, n_boot=100, seed=0, columns=cols)
        disp = vel.displacement_series(uw.ph_uw, sc.ph_scla, sc.C_ps_uw, st.master_ix, ref, wavelength, zero_master=True)
        for name in ("mean_velocity", "mean_velocity_std", "displacement"):
            egms.pop(name)
        K = np.asarray(sc.K_ps_uw, np.float64)
    u_dm = vel.displacement_series(uw.ph_uw, sc.ph_scla, sc.C_ps_uw, st.master_ix, ref, wavelength, zero_master=True)
    first = min(cols + [st.master_ix])  # EGMS: time series relative to the first (used) date
    disp = disp - disp[:, first : first + 1]
    disp[:, [c for c in range(len(dates)) if c not in set(cols) | {st.master_ix}]] = np.nan  # dropped images
    per_m = geometry.dem_error_phase_per_m(st.rng, st.inc, wavelength)
    dem_error = K / per_m

    table = pd.DataFrame(
        {
            "pid": np.arange(1, st.n_ps + 1, dtype=np.int64),
            "latitude": st.lonlat[:, 1],
            "longitude": st.lonlat[:, 0],
            "height": st.hgt.astype(np.float64) + dem_error,
            "line": st.ij[:, 0].astype(np.int64),
            "pixel": st.ij[:, 1].astype(np.int64),
            "mean_velocity": v,
            "mean_velocity_std": v_std,
            "temporal_coherence": ps.coh_ps.astype(np.float64),
            "amplitude_dispersion": st.da.astype(np.float64),
            "incidence_angle": np.degrees(st.inc),
            "dem_error": dem_error,
        }
    )
    heading = float(run.params.heading if run.params.heading is not None else info["geometry"]["heading"])
    extra, height_note = _egms_geometry_columns(table, st.inc, heading)
    table = _with_egms_columns(table, {**egms, **extra})
    for k, d in enumerate(dates):
        table[d.strftime("%Y%m%d")] = disp[:, k]

    ref_ll = st.lonlat[ref] if ref.any() else np.zeros((0, 2))
    meta = {
        "software": {"name": "snapstamps", "version": __version__, "backend": backend, **(software or {})},
        "conventions": {
            "velocity": "mean LOS velocity, mm/yr, positive toward the satellite",
            "displacement": "LOS displacement, mm, positive toward the satellite (ps_u-dm.<n>.xy: relative to the master date)",
            "velocity_type": (f"StaMPS '{kind}'" if kind != "v-daps" else "snapstamps 'v-daps'")
            + f": {VELOCITY_DESCRIPTIONS[kind]}",
            "time_series": f"columns YYYYMMDD: LOS displacement in mm relative to the first date ({info['dates'][first]}), "
            + ("DEM error and APS estimate removed" if kind == "v-daps" else "StaMPS 'u-dm' (DEM error and master APS removed)")
            + "; empty for dropped images (drop_ifg_index, scla_drop_index)",
            "height_wgs84": height_note,
            "units": COLUMN_UNITS,
            "dem_error": "m, positive = terrain above the DEM; height = DEM height + dem_error",
            "incidence_angle": "degrees",
            "line_pixel": "0-based indices in the INSAR_<master> grid",
            "crs": "EPSG:4326 (longitude, latitude in degrees)",
            "dates": "ISO 8601",
        },
        "master": info["master"],
        "dates": info["dates"],
        "wavelength_m": wavelength,
        "sensor": info.get("sensor"),
        "reference_area": {
            # infinities as the strings "inf"/"-inf" (JSON has no Infinity), as in parms.json
            **{k: run.params.to_jsonable()[k] for k in ("ref_lon", "ref_lat", "ref_centre_lonlat", "ref_radius")},
            "n_reference_ps": int(ref.sum()),
            "reference_ps_centroid_lonlat": ref_ll.mean(axis=0).tolist() if len(ref_ll) else None,
        },
        "counts": {"candidates": info.get("prep", {}).get("n_candidates"), "ps": int(st.n_ps)},
        "velocity_statistics_mm_yr": {
            "mean": float(np.nanmean(v)),
            "std": float(np.nanstd(v)),
            "min": float(np.nanmin(v)),
            "max": float(np.nanmax(v)),
        },
        "date_quality": _date_quality(aps_res, info["dates"]),
        "adapted_parameters": run.adaptations,
        "_u_dm": u_dm,
        "parameters": run.params.to_jsonable(),
    }
    return table, meta


def write_geoparquet(table: pd.DataFrame, path: Path) -> None:
    """GeoParquet 1.0 with a WKB point geometry column (lon/lat, OGC:CRS84)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    pts = shapely.points(table["longitude"].to_numpy(), table["latitude"].to_numpy())
    wkb = shapely.to_wkb(pts)
    tbl = pa.Table.from_pandas(table, preserve_index=False)
    tbl = tbl.append_column("geometry", pa.array(wkb, type=pa.binary()))
    bbox = [
        float(table["longitude"].min()), float(table["latitude"].min()),
        float(table["longitude"].max()), float(table["latitude"].max()),
    ] if len(table) else []
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"], "bbox": bbox}},
    }
    meta = dict(tbl.schema.metadata or {})
    meta[b"geo"] = json.dumps(geo).encode()
    tbl = tbl.replace_schema_metadata(meta)
    _atomic_write(path, lambda tmp: pq.write_table(tbl, tmp))


def write_products(
    run: "PsiRun", backend: str = "native", software: dict[str, Any] | None = None
) -> dict[str, str]:
    """Write every product of a finished run; return their paths by name.

    ``backend`` (and any ``software`` details) are recorded in ``psi_metadata.json``.
    """
    out = run.out_dir
    table, meta = compute_point_table(run, backend, software)
    lon, lat = table["longitude"].to_numpy(), table["latitude"].to_numpy()
    v = table["mean_velocity"].to_numpy()
    files: dict[str, str] = {}

    _write_xy(out / "ps_mean_v.xy", [lon, lat, v], "%.7f %.7f %.4f")
    files["ps_mean_v.xy"] = str(out / "ps_mean_v.xy")
    _write_xy(
        out / "ps_data.xy",
        [lon, lat, v, table["height"].to_numpy() - table["dem_error"].to_numpy(), table["dem_error"].to_numpy()],
        "%.7f %.7f %.4f %.4f %.4f",
    )
    files["ps_data.xy"] = str(out / "ps_data.xy")
    u_dm = meta.pop("_u_dm")  # StaMPS 'u-dm': relative to the master, DEM error and master APS removed
    for n in range(1, u_dm.shape[1] + 1):
        _write_xy(out / f"ps_u-dm.{n}.xy", [lon, lat, u_dm[:, n - 1]], "%.7f %.7f %.4f")
    files["ps_u-dm"] = str(out / "ps_u-dm.<n>.xy")

    _atomic_write(out / "ps_points.csv", lambda tmp: table.to_csv(tmp, index=False, float_format="%.6f"))
    files["ps_points.csv"] = str(out / "ps_points.csv")
    write_geoparquet(table, out / "ps_points.parquet")
    files["ps_points.parquet"] = str(out / "ps_points.parquet")
    meta["files"] = {k: Path(p).name for k, p in files.items()}
    write_json(out / "psi_metadata.json", meta)
    files["psi_metadata.json"] = str(out / "psi_metadata.json")
    return files
