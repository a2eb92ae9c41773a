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
from ..results.model import date_column
from ..results.products import VELOCITY_DESCRIPTIONS, write_products
from .state import load_npz, read_json

__all__ = ["compute_point_table", "write_run_products"]


def compute_point_table(
    out_dir: str | Path, params: PsiParams, adaptations: list[dict[str, Any]] | None = None,
    backend: str = "native", software: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Velocities, displacements and attributes of every PS in ``out_dir``, as a table plus metadata.

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

    ref = vel.reference_mask(st.lonlat, st.ll0, params)
    if not ref.any() and params.ref_radius != -np.inf:
        from ..errors import ParameterError

        raise ParameterError(
            "the reference area (ref_lon, ref_lat, ref_centre_lonlat, ref_radius) contains no PS"
        )
    kind = params.velocity_type
    scn = None
    if "s" in kind.split("-", 1)[1]:
        from ..psi.scn import ScnResult

        scn = load_dataclass(out / "scn2.npz", ScnResult, needed_by=f"velocity_type={kind!r} (run step 8)").ph_scn_slave
    v = vel.velocity_map(
        kind, uw.ph_uw, sc.ph_scla, sc.C_ps_uw, scn, st.xy, st.day, st.master_ix, wavelength,
        ref, ifg_std_deg=std, drop=drop,
    ) + params.ref_velocity * 1000.0
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
        table[date_column(d)] = disp[:, k]

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
        "adapted_parameters": list(adaptations or []),
        "parameters": params.to_jsonable(),
    }
    return table, meta


def write_run_products(
    out_dir: str | Path, params: PsiParams, adaptations: list[dict[str, Any]] | None = None,
    backend: str = "native", software: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Compute the point table of the run in ``out_dir`` and write every product; return their paths.

    ``backend`` (and any ``software`` details) are recorded in ``psi_metadata.json``.
    """
    table, meta = compute_point_table(out_dir, params, adaptations, backend, software)
    return write_products(out_dir, table, meta)
