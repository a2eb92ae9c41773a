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
    "v-d": "DEM error (SCLA) and master APS removed; no deramp, no SCN",
    "v-do": "DEM error removed, then a plane per interferogram (orbit ramp) removed; no SCN",
    "v-ds": "DEM error, master APS and spatially correlated noise (step 8) removed",
    "v-dso": "DEM error and spatially correlated noise removed, then a plane per interferogram",
}


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

    ref = vel.reference_mask(st.lonlat, st.ll0, **run.params.kernel_args(vel.reference_mask))
    if not ref.any() and run.params.ref_radius != -np.inf:
        from ..errors import ParameterError

        raise ParameterError(
            "the reference area (ref_lon, ref_lat, ref_centre_lonlat, ref_radius) contains no PS"
        )
    kind = run.params.velocity_type
    scn = None
    if "s" in kind.split("-", 1)[1]:
        from ..psi.scn import ScnResult

        scn = load_dataclass(out / "scn2.npz", ScnResult, needed_by=f"velocity_type={kind!r} (run step 8)").ph_scn_slave
    v = vel.velocity_map(
        kind, uw.ph_uw, sc.ph_scla, sc.C_ps_uw, scn, st.xy, st.day, st.master_ix, wavelength,
        ref, ifg_std_deg=std, drop=drop,
    ) + run.params.ref_velocity * 1000.0
    cols = [c for c in range(len(dates)) if c != st.master_ix and c not in set(drop)]
    ph_d = np.asarray(uw.ph_uw, np.float64) - sc.ph_scla - sc.C_ps_uw[:, None]
    ph_d = vel.reference(ph_d, ref) if ref.any() else ph_d
    v_std = vel.mean_velocity_std(ph_d, st.day, st.master_ix, wavelength, n_boot=100, seed=0, columns=cols)
    disp = vel.displacement_series(uw.ph_uw, sc.ph_scla, sc.C_ps_uw, st.master_ix, ref, wavelength, zero_master=True)
    per_m = geometry.dem_error_phase_per_m(st.rng, st.inc, wavelength)
    dem_error = np.asarray(sc.K_ps_uw, np.float64) / per_m

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
    for k, d in enumerate(dates):
        table[d.strftime("%Y%m%d")] = disp[:, k]

    ref_ll = st.lonlat[ref] if ref.any() else np.zeros((0, 2))
    meta = {
        "software": {"name": "snapstamps", "version": __version__, "backend": backend, **(software or {})},
        "conventions": {
            "velocity": "mean LOS velocity, mm/yr, positive toward the satellite",
            "displacement": "LOS displacement relative to the master date, mm, positive toward the satellite",
            "velocity_type": f"StaMPS '{kind}': {VELOCITY_DESCRIPTIONS[kind]}",
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
        "adapted_parameters": run.adaptations,
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
    date_cols = [c for c in table.columns if c.isdigit() and len(c) == 8]
    for n, c in enumerate(date_cols, start=1):
        p = out / f"ps_u-dm.{n}.xy"
        _write_xy(p, [lon, lat, table[c].to_numpy()], "%.7f %.7f %.4f")
    files["ps_u-dm"] = str(out / "ps_u-dm.<n>.xy")

    _atomic_write(out / "ps_points.csv", lambda tmp: table.to_csv(tmp, index=False, float_format="%.6f"))
    files["ps_points.csv"] = str(out / "ps_points.csv")
    write_geoparquet(table, out / "ps_points.parquet")
    files["ps_points.parquet"] = str(out / "ps_points.parquet")
    meta["files"] = {k: Path(p).name for k, p in files.items()}
    write_json(out / "psi_metadata.json", meta)
    files["psi_metadata.json"] = str(out / "psi_metadata.json")
    return files
