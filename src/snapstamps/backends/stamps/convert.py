"""StaMPS results (``*2.mat`` files of the merged directory) to the native products.

The ``.mat`` files are read with :func:`scipy.io.loadmat` (MAT v5/v7, which the Octave
compatibility layer writes) and turned into the native state files (``ps2.npz``,
``phuw2.npz``, ``scla2.npz``, ``ifgstd2.npz``, ``stack.json``); :func:`snapstamps.workflows.products.write_run_products`
then computes the point table and the writer :func:`snapstamps.results.products.write_products` writes ``ps_mean_v.xy``,
``ps_data.xy``, ``ps_u-dm.<n>.xy``, ``ps_points.csv``/``.parquet`` and ``psi_metadata.json``
exactly as for the native backend (same conventions: ``'v-d'`` velocity, S1 DEM-error
geometry, zero master displacement).

Variables read (StaMPS 4.x names): ``ps2.mat`` ij, lonlat, xy, ll0, day, master_ix, bperp;
``bp2.mat`` bperp_mat; ``pm2.mat`` coh_ps, K_ps, C_ps, ph_patch; ``ph2.mat`` ph; ``rc2.mat``
ph_rc; ``hgt2.mat`` hgt; ``la2.mat`` la (incidence for SNAP input); ``da2.mat`` D_A;
``phuw2.mat`` ph_uw, msd; ``scla2.mat`` ph_scla, K_ps_uw, C_ps_uw, ph_ramp; ``ifgstd2.mat``
ifg_std.  Missing optional files fall back to neutral values (e.g. NaN amplitude dispersion).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError, StepOrderError
from ...io.stamps_export import MasterPar, read_par
from ...psi.config import PsiParams
from ...workflows.state import save_npz, write_json

#: MATLAB datenum of 0001-01-01 minus Python's ordinal of that day.
DATENUM_OFFSET = 366


def load_mat(path: Path, needed: bool = True) -> dict[str, np.ndarray] | None:
    """Variables of a ``.mat`` file (None when optional and missing)."""
    from scipy.io import loadmat

    path = Path(path)
    if not path.exists():
        if needed:
            raise StepOrderError(f"{path}: missing; run StaMPS up to step 7 first")
        return None
    try:
        data = loadmat(path, squeeze_me=False)
    except NotImplementedError as exc:  # MAT v7.3 (HDF5)
        raise InputError(f"{path}: MAT v7.3 (HDF5) is not supported; save with -v7") from exc
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: unreadable .mat file ({exc})") from exc
    return {k: v for k, v in data.items() if not k.startswith("__")}


def _get(d: dict[str, np.ndarray] | None, key: str, path: str) -> np.ndarray:
    if d is None or key not in d:
        raise InputError(f"{path}: variable {key} missing")
    return np.asarray(d[key])


def _vec(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).reshape(-1)


def master_par(out_dir: Path, insar_dir: Path | None) -> MasterPar:
    """The master ``.rslc.par``: from ``rsc.txt`` (written by mt_prep_snap) or the INSAR folder."""
    rsc = Path(out_dir) / "rsc.txt"
    if rsc.exists():
        p = Path(rsc.read_text().strip().split()[0])
        if p.exists():
            return read_par(p)
    if insar_dir is not None:
        from ...io.stamps_export import open_stack

        return open_stack(Path(insar_dir)).par
    raise InputError(f"{rsc}: missing, and no INSAR directory given to read the master .rslc.par from")


def stamps_to_native_state(out_dir: Path, insar_dir: Path | None = None) -> dict[str, Any]:
    """Write the native state files from StaMPS' merged ``*2.mat`` files; return the stack info."""
    out = Path(out_dir)
    ps = load_mat(out / "ps2.mat")
    ij = _get(ps, "ij", "ps2.mat")
    n = ij.shape[0]
    ij0 = ij[:, -2:].astype(np.int64)  # StaMPS ij = (id, line, pixel), 0-based line/pixel
    lonlat = _get(ps, "lonlat", "ps2.mat").astype(np.float64).reshape(n, 2)
    xy_raw = _get(ps, "xy", "ps2.mat").astype(np.float64)
    xy = xy_raw[:, -2:]
    ll0 = _vec(_get(ps, "ll0", "ps2.mat")).astype(np.float64)
    day_num = _vec(_get(ps, "day", "ps2.mat")).astype(np.float64)
    m = day_num.size
    day = day_num - DATENUM_OFFSET
    master_ix = int(_vec(_get(ps, "master_ix", "ps2.mat"))[0]) - 1
    dates = [dt.date.fromordinal(int(round(d))) for d in day]

    bp = load_mat(out / "bp2.mat", needed=False)
    bperp_mat = np.asarray(bp["bperp_mat"], np.float32) if bp and "bperp_mat" in bp else np.zeros((n, m - 1), np.float32)
    bperp = _vec(ps["bperp"]).astype(np.float64) if "bperp" in ps else np.zeros(m)
    if bperp.size == m - 1:
        bperp = np.insert(bperp, master_ix, 0.0)

    pm = load_mat(out / "pm2.mat", needed=False) or {}
    coh = _vec(pm["coh_ps"]).astype(np.float32) if "coh_ps" in pm else np.full(n, np.nan, np.float32)
    K_ps = _vec(pm["K_ps"]).astype(np.float32) if "K_ps" in pm else np.zeros(n, np.float32)
    C_ps = _vec(pm["C_ps"]).astype(np.float32) if "C_ps" in pm else np.zeros(n, np.float32)
    ones = np.ones((n, m), np.complex64)
    ph_patch = np.asarray(pm["ph_patch"], np.complex64) if "ph_patch" in pm else ones
    if ph_patch.shape[1] == m - 1:
        ph_patch = np.insert(ph_patch, master_ix, 1.0 + 0j, axis=1)
    phd = load_mat(out / "ph2.mat", needed=False) or {}
    ph = np.asarray(phd["ph"], np.complex64) if "ph" in phd else ones
    rc = load_mat(out / "rc2.mat", needed=False) or {}
    ph_rc = np.asarray(rc["ph_rc"], np.complex64) if "ph_rc" in rc else None

    hgt_d = load_mat(out / "hgt2.mat", needed=False) or {}
    hgt = _vec(hgt_d["hgt"]).astype(np.float32) if "hgt" in hgt_d else np.zeros(n, np.float32)
    la_d = load_mat(out / "la2.mat", needed=False) or load_mat(out / "inc2.mat", needed=False) or {}
    par = master_par(out, insar_dir)
    rng = par.near_range_slc + ij0[:, 1] * par.range_pixel_spacing
    if "la" in la_d:
        inc = _vec(la_d["la"]).astype(np.float64)
    elif "inc" in la_d:
        inc = _vec(la_d["inc"]).astype(np.float64)
    else:
        from ...psi import geometry

        inc = geometry.incidence_angle(rng, par.sar_to_earth_center, par.earth_radius_below_sensor)
    da_d = load_mat(out / "da2.mat", needed=False) or {}
    da = _vec(da_d["D_A"]).astype(np.float32) if "D_A" in da_d else np.full(n, np.nan, np.float32)

    uw = load_mat(out / "phuw2.mat")
    ph_uw = np.asarray(_get(uw, "ph_uw", "phuw2.mat"), np.float32)
    msd = _vec(uw["msd"]).astype(np.float64) if "msd" in uw else np.zeros(m)
    sc = load_mat(out / "scla2.mat")
    ph_scla = np.asarray(_get(sc, "ph_scla", "scla2.mat"), np.float32)
    K_uw = _vec(_get(sc, "K_ps_uw", "scla2.mat")).astype(np.float64)
    C_uw = _vec(_get(sc, "C_ps_uw", "scla2.mat")).astype(np.float64)
    std_d = load_mat(out / "ifgstd2.mat", needed=False) or {}
    ifg_std = _vec(std_d["ifg_std"]).astype(np.float64) if "ifg_std" in std_d else np.ones(m)

    for name, arr in {"ph_uw": ph_uw, "ph_scla": ph_scla}.items():
        if arr.shape != (n, m):
            raise InputError(f"{name} has shape {arr.shape}, expected ({n}, {m}) from ps2.mat")

    save_npz(out / "ps2.npz", {
        "ij": ij0, "lonlat": lonlat, "xy": xy, "ll0": ll0, "ph": ph, "bperp_mat": bperp_mat, "bperp": bperp,
        "day": day, "master_ix": np.int64(master_ix), "inc": inc, "rng": rng, "da": da, "hgt": hgt,
        "K_ps": K_ps, "C_ps": C_ps, "coh_ps": coh, "ph_patch": ph_patch, "ph_rc": ph_rc,
    })
    save_npz(out / "phuw2.npz", {"ph_uw": ph_uw, "msd": msd, "grid_size": np.float64(np.nan), "n_nodes": np.int64(0)})
    save_npz(out / "scla2.npz", {"K_ps_uw": K_uw, "C_ps_uw": C_uw, "ph_scla": ph_scla})
    save_npz(out / "ifgstd2.npz", {"ifg_std": ifg_std})

    info = {
        "insar_dir": str(Path(insar_dir).resolve()) if insar_dir else None,
        "master": dates[master_ix].isoformat(),
        "dates": [d.isoformat() for d in dates],
        "master_ix": master_ix,
        "sensor": par.sensor,
        "geometry": {
            "width": par.width, "length": par.length, "near_range": par.near_range_slc,
            "range_pixel_spacing": par.range_pixel_spacing, "sar_to_earth_center": par.sar_to_earth_center,
            "earth_radius": par.earth_radius_below_sensor, "prf": par.prf, "heading": par.heading,
            "wavelength": par.wavelength,
        },
        "prep": {"n_candidates": _n_candidates(out)},
        "backend": "stamps",
    }
    write_json(out / "stack.json", info)
    return info


def _n_candidates(out: Path) -> int | None:
    """Candidates counted from the patches' ``pscands.1.ij`` (None when absent)."""
    plist = out / "patch.list"
    if not plist.exists():
        return None
    total = 0
    for name in plist.read_text().split():
        f = out / name / "pscands.1.ij"
        if f.exists():
            with open(f) as fh:
                total += sum(1 for line in fh if line.strip())
    return total


def write_native_products(out_dir: Path, params: PsiParams, insar_dir: Path | None = None,
                          adaptations: list[dict[str, Any]] | None = None,
                          extra_meta: dict[str, Any] | None = None) -> dict[str, str]:
    """Convert StaMPS' results in ``out_dir`` and write the native products there."""
    from ...workflows.products import write_run_products

    info = stamps_to_native_state(out_dir, insar_dir)
    params = params.with_updates({
        "heading": info["geometry"]["heading"], "lambda": info["geometry"]["wavelength"],
        "platform": info["sensor"].split()[0] if info.get("sensor") else None,
    })
    if params.velocity_type == "v-daps":  # the APS estimate runs on StaMPS' unwrapped phase
        from ...workflows.psi import ensure_aps

        ensure_aps(Path(out_dir), params)
    return write_run_products(Path(out_dir), params, adaptations=list(adaptations or []), backend="stamps",
                              software=extra_meta)
