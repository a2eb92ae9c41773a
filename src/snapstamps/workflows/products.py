"""PSI products of a processing directory: the point table computed from the saved step state.

:func:`compute_point_table` reads the merged state (``ps2.npz``, ``phuw2.npz``, ``scla2.npz``,
``ifgstd2.npz``, ``scn2.npz`` when the velocity type needs it, ``stack.json``) and computes
velocities, displacements and attributes of every PS plus the run metadata;
:func:`write_run_products` hands them to the writer :func:`snapstamps.results.products.write_products`
(file formats documented there).  The native workflow and the StaMPS backend (after converting
StaMPS' ``.mat`` files to the same state files) both call :func:`write_run_products`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..psi import geometry
from ..psi import velocity as vel
from ..psi.config import PsiParams
from ..psi.merge import PsSet
from ..results.model import POINT_COLUMNS, date_column
from ..results.products import VELOCITY_DESCRIPTIONS, write_products
from .state import load_npz, read_json

__all__ = ["compute_point_table", "write_run_products"]


def compute_point_table(
    out_dir: str | Path, params: PsiParams, adaptations: list[dict[str, Any]] | None = None,
    backend: str = "native", software: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any], np.ndarray]:
    """Velocities, displacements and attributes of every PS in ``out_dir``, as a table plus metadata,
    plus StaMPS' ``'u-dm'`` series (N, M) in mm (relative to the master) for ``ps_u-dm.<n>.xy``.

    ``params`` are the run's parameters (reference area, velocity type, dropped images...);
    ``adaptations`` the parameters adapted to the scene, recorded in the metadata.
    """
    from ..psi.scla import SclaResult
    from ..psi.unwrap import UnwrapResult
    from .psi import drop_images
    from .state import load_dataclass

    out = Path(out_dir)
    ps = PsSet.from_arrays(load_npz(out / "ps2.npz", needed_by="products"))
    st = ps.state
    uw = load_dataclass(out / "phuw2.npz", UnwrapResult, needed_by="products")
    sc = load_dataclass(out / "scla2.npz", SclaResult, needed_by="products")
    std = load_npz(out / "ifgstd2.npz", needed_by="products")["ifg_std"]
    info = read_json(out / "stack.json", needed_by="products")
    wavelength = float(info["geometry"]["wavelength"])
    dates = [dt.date.fromisoformat(d) for d in info["dates"]]
    drop = drop_images(params.drop_ifg_index, info, params.scla_drop_index)

    ref = vel.reference_mask(st.lonlat, st.ll0, **params.kernel_args(vel.reference_mask))
    if not ref.any() and params.ref_radius != -np.inf:
        from ..errors import ParameterError

        raise ParameterError(
            "the reference area (ref_lon, ref_lat, ref_centre_lonlat, ref_radius) contains no PS"
        )
    kind = params.velocity_type
    scn = None
    if "s" in kind.split("-", 1)[1] and kind != "v-daps":
        from ..psi.scn import ScnResult

        scn = load_dataclass(out / "scn2.npz", ScnResult, needed_by=f"velocity_type={kind!r} (run step 8)").ph_scn_slave
    cols = [c for c in range(len(dates)) if c != st.master_ix and c not in set(drop)]
    aps_res = _load_aps(out, needed=kind == "v-daps")
    ph_in = uw.ph_uw - _load_tropo(out) if params.subtr_tropo == "y" else uw.ph_uw  # as steps 7 used it
    egms = _egms_model_columns(ph_in, st, aps_res, ref, cols, wavelength)  # NaN columns without aps2.npz
    if kind == "v-daps":
        v = egms.pop("mean_velocity") + params.ref_velocity * 1000.0
        v_std = egms.pop("mean_velocity_std")
        disp = egms.pop("displacement")
        K = np.asarray(aps_res.K_ps, np.float64)
    else:
        v = vel.velocity_map(
            kind, uw.ph_uw, sc.ph_scla, sc.C_ps_uw, scn, st.xy, st.day, st.master_ix, wavelength,
            ref, ifg_std_deg=std, drop=drop, ph_tropo=_load_tropo(out) if "a" in kind.split("-", 1)[1] else None,
        ) + params.ref_velocity * 1000.0
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
    heading = float(params.heading if params.heading is not None else info["geometry"]["heading"])
    extra, height_note = _egms_geometry_columns(table, st.inc, heading)
    table = _with_egms_columns(table, {**egms, **extra})
    for k, d in enumerate(dates):
        table[date_column(d)] = disp[:, k]

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
            "units": {**{c.name: c.unit for c in POINT_COLUMNS}, "YYYYMMDD": "mm"},
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
            **{k: params.to_jsonable()[k] for k in ("ref_lon", "ref_lat", "ref_centre_lonlat", "ref_radius")},
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
        "adapted_parameters": list(adaptations or []),
        "parameters": params.to_jsonable(),
    }
    return table, meta, u_dm


def _load_aps(out: Path, needed: bool):
    """Step 7's APS estimate (``aps2.npz``), or None when absent and not ``needed``."""
    from ..psi.aps import ApsResult
    from .state import load_dataclass

    if not needed and not (out / "aps2.npz").exists():
        return None
    return load_dataclass(out / "aps2.npz", ApsResult, needed_by="velocity_type 'v-daps' (re-run step 7)")


def _load_tropo(out: Path) -> np.ndarray:
    return load_npz(out / "tropo2.npz", needed_by="velocity types with 'a' (set subtr_tropo=y, re-run step 7)")[
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
    """The table with the EGMS columns added, in the order of :data:`POINT_COLUMNS`."""
    for k, v in extra.items():
        table[k] = v
    order = [c.name for c in POINT_COLUMNS]
    return table[order + [c for c in table.columns if c not in order]]


def write_run_products(
    out_dir: str | Path, params: PsiParams, adaptations: list[dict[str, Any]] | None = None,
    backend: str = "native", software: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Compute the point table of the run in ``out_dir`` and write every product; return their paths.

    ``backend`` (and any ``software`` details) are recorded in ``psi_metadata.json``.
    """
    table, meta, u_dm = compute_point_table(out_dir, params, adaptations, backend, software)
    return write_products(out_dir, table, meta, u_dm=u_dm)
