"""The Python API: run the two pipelines and read what each step saved, from Python.

Everything here is exported from the package itself (``snapstamps.run_psi`` and so on) and
imported only when first used, so ``import snapstamps`` stays cheap::

    import snapstamps

    insar = snapstamps.run_ifg_stack([ref_safe], sec_safes, "stack", bbox=(12.4, 41.8, 12.6, 41.9),
                                     dem="dem.tif", subswath="IW1")
    run = snapstamps.run_psi(insar, "psi", params={"da_thresh": 0.35}, end=2)  # prep .. step 2
    ds = snapstamps.open_step("psi", 2)        # xarray.Dataset: candidates, temporal coherence
    snapstamps.run_psi(None, "psi", start=3)   # resume: steps 3-8 from the saved state
    points = snapstamps.open_points("psi")     # pandas.DataFrame of the PS (ps_points.parquet)

:func:`run_psi` and :func:`run_ifg_stack` are thin wrappers over the workflows
(:func:`snapstamps.workflows.psi.run_psi`, :func:`snapstamps.workflows.ifg_stack.run_ifg_stack`)
that the command line also runs; :func:`open_step` reads the state files that each psi step
writes (:mod:`snapstamps.workflows.state`) into an :class:`xarray.Dataset` with the candidates'
or PS' coordinates; :func:`open_points` and :func:`open_displacements` read the final products.

Conventions are the products' (``docs/conventions.md``): phases in radians, lengths in metres,
velocities in mm/yr and displacements in mm along the line of sight, positive toward the
satellite; ``line``/``pixel`` 0-based in the ``INSAR_<master>`` grid; lon/lat EPSG:4326.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError, ParameterError, StepOrderError

if TYPE_CHECKING:  # heavy imports only for type checkers
    import pandas as pd
    import xarray as xr

    from .psi.config import PsiParams

__all__ = [
    "PsiRunSummary",
    "run_psi",
    "run_ifg_stack",
    "open_step",
    "open_points",
    "open_displacements",
    "STEP_NAMES",
]

_log = logging.getLogger("snapstamps")

#: psi step number -> what it does (step 0 is the prep, ``mt_prep_snap``).
STEP_NAMES: dict[int, str] = {
    0: "prep (candidates, patches)",
    1: "load (geometry, baselines)",
    2: "gamma estimation (temporal coherence)",
    3: "PS selection",
    4: "weeding",
    5: "phase correction and patch merge",
    6: "3-D unwrapping",
    7: "SCLA and master APS",
    8: "spatially correlated noise",
}

# data-derived parameters that prep sets; a PsiParams given whole never blanks them
_FROM_DATA = ("heading", "lambda", "platform")


# ============================================================================== running
@dataclass(frozen=True)
class PsiRunSummary:
    """What :func:`run_psi` did: the steps run, parameters adapted to the scene, products written.

    ``products`` maps product file names (``ps_points.parquet``, ``ps_mean_v.xy``...) to their
    paths; it is empty when the run stopped before step 7.  ``adaptations`` lists the parameters
    reduced for a small scene (``{"parameter", "from", "to", "reason"}``).
    """

    out: Path
    start: int
    end: int
    backend: str
    adaptations: list[dict[str, Any]] = field(default_factory=list)
    products: dict[str, Path] = field(default_factory=dict)

    def open_step(self, step: int | None = None, *, patch: str | None = None) -> xr.Dataset:
        """:func:`open_step` on this run's directory (default: the last step run)."""
        return open_step(self.out, self.end if step is None else step, patch=patch)

    def open_points(self) -> pd.DataFrame:
        """:func:`open_points` on this run's directory."""
        return open_points(self.out)


def _param_updates(params: PsiParams | Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` as updates of the saved parameters: a mapping as given, a PsiParams whole."""
    if params is None:
        return {}
    from .psi.config import PsiParams

    if isinstance(params, PsiParams):
        data = params.model_dump(by_alias=True)
        return {k: v for k, v in data.items() if not (k in _FROM_DATA and v is None)}
    if isinstance(params, Mapping):
        return dict(params)
    raise ParameterError(
        f"params must be a PsiParams, a mapping of parameter names or None, not {type(params).__name__}"
    )


def run_psi(
    stack: str | Path | None,
    out: str | Path,
    *,
    params: PsiParams | Mapping[str, Any] | None = None,
    start: int = 0,
    end: int = 8,
    backend: str = "native",
    mask: str | Path | None = None,
    swath: str | None = None,
    progress: bool = True,
) -> PsiRunSummary:
    """Run psi steps ``start`` to ``end`` (0 = prep, 1-8 = StaMPS' steps) in ``out``.

    ``stack`` is an ``INSAR_<master>`` directory (SNAP's StaMPS export, or what
    :func:`run_ifg_stack` returns) or a stack catalog (``catalog.json`` of an interferogram-stack
    result; ``swath`` picks the sub-swath when it holds several).  It is read by step 0 only, so
    a resumed run (``start`` > 0) may pass ``None``: each step reads the state the earlier steps
    saved in ``out``, as StaMPS' ``stamps(start, end)`` does.

    ``params`` are StaMPS' parameter names (:class:`~snapstamps.psi.config.PsiParams`; unique
    prefixes accepted, as ``getparm``).  A mapping updates the parameters saved in
    ``out/parms.json`` by earlier runs (defaults for a new directory); a ``PsiParams`` replaces
    them all.  What is used is saved back to ``out/parms.json``.  Unknown names and invalid
    values raise :class:`~snapstamps.errors.ParameterError`.

    ``backend``: ``native`` (this package's engine), ``stamps`` (StaMPS under Octave/MATLAB,
    found through ``$STAMPS``) or ``auto``.  ``mask``: a uint8 file of the SLC size, non-zero
    pixels excluded from the candidates.  ``progress``: progress bars on a terminal, else log
    lines on the ``snapstamps`` logger.

    Products (``ps_points.parquet`` and the rest) are written when the run reaches step 7; read
    them with :func:`open_points`, and any step's saved state with :func:`open_step`.
    """
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start <= end <= 8:
        raise ParameterError(f"steps must satisfy 0 <= start <= end <= 8 (got start={start!r}, end={end!r})")
    updates = _param_updates(params)
    insar: Path | None = None
    if stack is not None:
        from .stac.stack import resolve_stack

        insar = resolve_stack(stack, swath=swath)
    elif start == 0:
        raise ParameterError("stack is needed from step 0 (the prep reads the INSAR_<master> directory)")
    from .backends.dispatch import run_psi_backend

    summary = run_psi_backend(
        backend,
        insar,
        Path(out),
        start,
        end,
        updates,
        mask_file=Path(mask) if mask is not None else None,
        show_progress=progress,
    )
    return PsiRunSummary(
        out=Path(out),
        start=start,
        end=end,
        backend=str(summary.get("backend", backend)),
        adaptations=list(summary.get("adaptations", [])),
        products={k: Path(v) for k, v in summary.get("products", {}).items()},
    )


def run_ifg_stack(
    reference: str | Path | Sequence[str | Path],
    secondaries: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    bbox: Sequence[float],
    dem: str | Path,
    subswath: str = "IW2",
    polarisation: str = "VV",
    orbits: str | Path | None = None,
    download_orbits: bool = False,
    require_precise_orbits: bool = False,
    esd: bool | None = None,
    block_lines: int = 256,
    backend: str = "native",
    log: Callable[[str], None] | None = None,
) -> Path:
    """Sentinel-1 IW SLC SAFEs to a StaMPS export ``out/INSAR_<reference>/``; return its path.

    ``reference`` is one SAFE (folder, ``manifest.safe`` or ``.zip``) or the consecutive slices
    of the reference date; ``secondaries`` the other acquisitions (products of one date are
    assembled).  ``bbox`` is ``(W, S, E, N)`` in degrees; ``dem`` a DEM GeoTIFF or ``"auto"``
    (Copernicus GLO-30 downloaded into ``out/dem/``).  ``orbits`` a folder of EOF files;
    ``download_orbits`` fetches missing ones; ``require_precise_orbits`` refuses the annotation
    orbit.  ``esd``: Enhanced Spectral Diversity (default: on unless a single burst).
    ``backend``: ``native`` (this package's engine), ``snap`` (SNAP ``gpt``) or ``auto`` (snap
    when gpt is found).  The options are those of
    :class:`~snapstamps.ifg.config.IfgStackOptions`, which checks them
    (:class:`~snapstamps.errors.ParameterError` naming the option).

    Progress lines (orbits, DEM, one per pair and burst) go to the ``snapstamps`` logger; ``log``
    receives them too, as text.  Details of the run (ESD shifts, baselines, timings) are in
    ``out/ifg_stack.json``.  The result is what :func:`run_psi` takes as ``stack``.
    """
    from .ifg.config import IfgStackOptions

    refs = [reference] if isinstance(reference, (str, Path)) else list(reference)
    secs = [secondaries] if isinstance(secondaries, (str, Path)) else list(secondaries)
    opts = IfgStackOptions.build(
        reference=[Path(r) for r in refs], secondaries=[Path(s) for s in secs], subswaths=[subswath],
        polarisation=polarisation, bbox=tuple(bbox), dem=str(dem), orbits_dir=orbits, esd=esd, out=Path(out),
        block_lines=block_lines, download_orbits=download_orbits, require_precise_orbits=require_precise_orbits,
        backend=backend,
    )
    with _forward_log(log):
        if opts.backend != "native":
            from .backends.snap import run_snap_stack, snap_available

            if opts.backend == "snap" or snap_available(opts):
                return Path(run_snap_stack(opts))
        from .workflows.ifg_stack import run_ifg_stack as _run

        return Path(_run(opts)["insar_dir"])


@contextmanager
def _forward_log(callback: Callable[[str], None] | None) -> Iterator[None]:
    """Pass the ``snapstamps`` logger's INFO (and higher) messages to ``callback`` while in the block."""
    if callback is None:
        yield
        return
    send = callback

    class _Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            send(record.getMessage())

    handler = _Forward(logging.INFO)
    old_level = _log.level
    _log.addHandler(handler)
    if _log.getEffectiveLevel() > logging.INFO:
        _log.setLevel(logging.INFO)
    try:
        yield
    finally:
        _log.removeHandler(handler)
        _log.setLevel(old_level)


# ============================================================================== reading steps
def _read_json(path: Path, what: str) -> Any:
    import json

    if not path.is_file():
        raise StepOrderError(f"{path}: missing; {what}")
    return json.loads(path.read_text())


def _npz(path: Path, step: int) -> dict[str, np.ndarray]:
    from .workflows.state import load_npz

    if not path.is_file():
        out = path.parent if step > 4 else path.parent.parent
        raise StepOrderError(f"{path}: missing; run psi up to step {step} ({STEP_NAMES[step]}) in {out} first")
    return load_npz(path)


#: an xarray variable as (dims, data, attrs)
_Var = tuple[tuple[str, ...], np.ndarray, dict[str, str]]


def _var(dims: tuple[str, ...], data: Any, units: str | None, description: str, stamps: str | None = None) -> _Var:
    attrs = {"description": description}
    if units:
        attrs["units"] = units
    if stamps:
        attrs["stamps_name"] = stamps
    return (dims, np.asarray(data), attrs)


class _Stack:
    """Dates and geometry of a processing directory (``stack.json`` written by step 0)."""

    def __init__(self, out: Path) -> None:
        self.info = _read_json(out / "stack.json", f"run psi step 0 in {out} first")
        self.dates = [dt.date.fromisoformat(d) for d in self.info["dates"]]
        self.master_ix = int(self.info["master_ix"])
        self.wavelength = float(self.info["geometry"]["wavelength"])

    def date_coords(self) -> dict[str, Any]:
        d = np.array(self.dates, dtype="datetime64[ns]")
        return {"date": ("date", d), "ifg": ("ifg", np.delete(d, self.master_ix))}


def _point_coords(
    ij: np.ndarray, lonlat: np.ndarray, patch: Sequence[str] | None = None, xy: np.ndarray | None = None
) -> dict[str, Any]:
    c: dict[str, Any] = {
        "line": (
            "point",
            np.asarray(ij)[:, 0].astype(np.int64),
            {"description": "0-based line in the INSAR_<master> grid"},
        ),
        "pixel": (
            "point",
            np.asarray(ij)[:, 1].astype(np.int64),
            {"description": "0-based pixel in the INSAR_<master> grid"},
        ),
        "lon": ("point", np.asarray(lonlat)[:, 0], {"units": "degree_east", "description": "longitude, EPSG:4326"}),
        "lat": ("point", np.asarray(lonlat)[:, 1], {"units": "degree_north", "description": "latitude, EPSG:4326"}),
    }
    if xy is not None:
        c["x"] = ("point", np.asarray(xy)[:, 0], {"units": "m", "description": "local x, radar frame (range)"})
        c["y"] = ("point", np.asarray(xy)[:, 1], {"units": "m", "description": "local y, radar frame (azimuth)"})
    if patch is not None:
        c["patch"] = (
            "point",
            np.asarray(patch, dtype=object),
            {"description": "patch directory the point was processed in"},
        )
    return c


def _dem_error(K: np.ndarray, rng: np.ndarray, inc: np.ndarray, wavelength: float) -> np.ndarray:
    from .psi.geometry import dem_error_phase_per_m

    return np.asarray(K, np.float64) / dem_error_phase_per_m(rng, inc, wavelength)


def _state_vars(d: dict[str, np.ndarray]) -> dict[str, _Var]:
    """Variables of a step-1 ``PatchState`` (``ps1.npz``; also inside every ``ps2.npz``)."""
    bperp = np.insert(d["bperp_mat"], int(d["master_ix"]), 0.0, axis=1)
    return {
        "phase": _var(
            ("point", "date"), d["ph"], None, "complex interferogram value per image (master column 1)", "ph"
        ),
        "bperp": _var(
            ("point", "date"), bperp, "m", "perpendicular baseline of each PS (0 at the master)", "bperp_mat"
        ),
        "amplitude_dispersion": _var(("point",), d["da"], None, "amplitude dispersion D_A", "D_A"),
        "dem_height": _var(("point",), d["hgt"], "m", "DEM height", "hgt"),
        "incidence_angle": _var(("point",), np.degrees(d["inc"]), "degree", "incidence angle", "inc"),
        "slant_range": _var(("point",), d["rng"], "m", "slant range", "rng"),
        "bperp_mean": _var(("date",), d["bperp"], "m", "mean perpendicular baseline of each image", "bperp"),
    }


def _step_patch(out: Path, pdir: Path, step: int, stack: _Stack) -> tuple[dict[str, _Var], dict[str, _Var], dict[str, _Var]]:
    """(coords, point variables, per-patch variables) of step 0-4 in one patch."""
    name = pdir.name
    if step == 0:
        c = _npz(pdir / "cands.npz", 0)
        n = len(c["ij"])
        coords = _point_coords(c["ij"], c["lonlat"], [name] * n)
        pv = {
            "amplitude_dispersion": _var(
                ("point",), c["da"], None, "amplitude dispersion D_A (candidates have D_A < da_thresh)", "D_A"
            ),
            "dem_height": _var(("point",), c["hgt"], "m", "DEM height", "hgt"),
            "phase": _var(("point", "ifg"), c["ph"], None, "complex interferogram value per secondary", "ph"),
        }
        return coords, pv, {}
    s1 = _npz(pdir / "ps1.npz", 1)
    n1 = len(s1["ij"])
    if step == 1:
        return _point_coords(s1["ij"], s1["lonlat"], [name] * n1, s1["xy"]), _state_vars(s1), {}
    if step == 2:
        g = _npz(pdir / "pm1.npz", 2)
        coords = _point_coords(s1["ij"], s1["lonlat"], [name] * n1, s1["xy"])
        pv = {
            "temporal_coherence": _var(("point",), g["coh_ps"], None, "temporal coherence gamma", "coh_ps"),
            "K": _var(
                ("point",), g["K_ps"], "rad/m", "phase per metre of bperp (uncorrelated look-angle error)", "K_ps"
            ),
            "dem_error": _var(
                ("point",),
                _dem_error(g["K_ps"], s1["rng"], s1["inc"], stack.wavelength),
                "m",
                "uncorrelated DEM error from K (positive = terrain above the DEM)",
            ),
            "C": _var(("point",), g["C_ps"], "rad", "constant phase (master contribution)", "C_ps"),
            "phase_patch": _var(
                ("point", "ifg"),
                g["ph_patch"],
                None,
                "CLAP-filtered phase of the neighbourhood (unit phasor)",
                "ph_patch",
            ),
            "phase_residual": _var(
                ("point", "ifg"), g["ph_res"], "rad", "residual phase after the DEM-error fit", "ph_res"
            ),
            "grid_row": _var(("point",), g["grid_ij"][:, 0], None, "0-based CLAP grid row", "grid_ij"),
            "grid_col": _var(("point",), g["grid_ij"][:, 1], None, "0-based CLAP grid column", "grid_ij"),
        }
        per = {
            "random_phase_histogram": _var(
                ("coherence_bin",), g["Nr"], None, "temporal coherence histogram of random-phase pixels", "Nr"
            ),
            "grid_size": _var((), g["grid_size"], "m", "CLAP grid size used", "filter_grid_size"),
            "n_iterations": _var((), g["n_iterations"], None, "gamma iterations run"),
            "n_trial_wraps": _var(
                (), g["n_trial_wraps"], None, "trial phase wraps of the DEM-error search", "n_trial_wraps"
            ),
            "_phase_grid": _var(
                ("grid_row_cell", "grid_col_cell", "ifg"),
                g["ph_grid"],
                None,
                "weighted phasor sums per grid cell",
                "ph_grid",
            ),
            "_low_pass": _var(("clap_row", "clap_col"), g["low_pass"], None, "CLAP low-pass response", "low_pass"),
        }
        return coords, pv, per
    if step == 3:
        s = _npz(pdir / "select1.npz", 3)
        ix = np.asarray(s["ix"], np.int64)
        coords = _point_coords(s1["ij"][ix], s1["lonlat"][ix], [name] * len(ix), s1["xy"][ix])
        pv = {
            "candidate_index": _var(("point",), ix, None, "0-based index into the step-1/2 points of the patch", "ix"),
            "kept": _var(
                ("point",),
                np.asarray(s["keep_ix"], bool),
                None,
                "kept after re-estimation (the PS that step 4 weeds)",
                "keep_ix",
            ),
            "temporal_coherence": _var(("point",), s["coh_ps2"], None, "re-estimated temporal coherence", "coh_ps2"),
            "coherence_threshold": _var(
                ("point",), s["coh_thresh"], None, "coherence threshold of the pixel's D_A", "coh_thresh"
            ),
            "K": _var(("point",), s["K_ps2"], "rad/m", "re-estimated phase per metre of bperp", "K_ps2"),
            "dem_error": _var(
                ("point",),
                _dem_error(s["K_ps2"], s1["rng"][ix], s1["inc"][ix], stack.wavelength),
                "m",
                "uncorrelated DEM error from K (positive = terrain above the DEM)",
            ),
            "C": _var(("point",), s["C_ps2"], "rad", "re-estimated constant phase", "C_ps2"),
            "phase_residual": _var(
                ("point", "ifg"), s["ph_res2"], "rad", "residual phase (0 in dropped ifgs)", "ph_res2"
            ),
            "phase_patch": _var(
                ("point", "ifg"), s["ph_patch2"], None, "filtered neighbourhood phase (0 in dropped ifgs)", "ph_patch2"
            ),
        }
        used = np.zeros(len(stack.dates) - 1, bool)
        used[np.asarray(s["ifg_index"], np.int64)] = True
        per = {"ifg_used": _var(("ifg",), used, None, "secondary used by the selection", "ifg_index")}
        if "coh_thresh_coeffs" in s:
            per["coherence_threshold_coeffs"] = _var(
                ("coeff",), s["coh_thresh_coeffs"], None, "[p1, p0] of threshold = p1 D_A + p0", "coh_thresh_coeffs"
            )
        return coords, pv, per
    w = _npz(pdir / "ps2.npz", 4)
    coords = _point_coords(w["ij"], w["lonlat"], [name] * len(w["ij"]), w["xy"])
    return coords, {**_state_vars(w), **_psset_vars(w, stack)}, {}


def _psset_vars(d: dict[str, np.ndarray], stack: _Stack) -> dict[str, _Var]:
    """Estimates of a ``PsSet`` (``ps2.npz``, after weeding or merging)."""
    v = {
        "temporal_coherence": _var(("point",), d["coh_ps"], None, "temporal coherence gamma", "coh_ps"),
        "K": _var(("point",), d["K_ps"], "rad/m", "phase per metre of bperp", "K_ps"),
        "dem_error": _var(
            ("point",),
            _dem_error(d["K_ps"], d["rng"], d["inc"], stack.wavelength),
            "m",
            "uncorrelated DEM error from K (positive = terrain above the DEM)",
        ),
        "C": _var(("point",), d["C_ps"], "rad", "constant phase", "C_ps"),
        "phase_patch": _var(
            ("point", "date"), d["ph_patch"], None, "filtered neighbourhood phase (master column 1)", "ph_patch"
        ),
    }
    if "ph_rc" in d:
        v["phase_corrected"] = _var(
            ("point", "date"),
            d["ph_rc"],
            None,
            "phase with the uncorrelated look-angle error and the constant removed",
            "ph_rc",
        )
    return v


def _merged_step(out: Path, step: int, stack: _Stack) -> tuple[dict[str, _Var], dict[str, _Var]]:
    m = _npz(out / "ps2.npz", 5)
    coords = _point_coords(m["ij"], m["lonlat"], None, m["xy"])
    if step == 5:
        std = _npz(out / "ifgstd2.npz", 5)["ifg_std"]
        return coords, {
            **_state_vars(m),
            **_psset_vars(m, stack),
            "ifg_std": _var(("date",), std, "degree", "RMS residual phase of each interferogram", "ifg_std"),
        }
    if step == 6:
        u = _npz(out / "phuw2.npz", 6)
        return coords, {
            "phase_unwrapped": _var(
                ("point", "date"), u["ph_uw"], "rad", "unwrapped phase (0 in master and skipped images)", "ph_uw"
            ),
            "msd": _var(("date",), u["msd"], "rad2", "mean squared spatial difference of the unwrapped grid", "msd"),
            "temporal_coherence": _var(("point",), m["coh_ps"], None, "temporal coherence gamma", "coh_ps"),
            "grid_size": _var((), u["grid_size"], "m", "unwrapping grid size used", "unwrap_grid_size"),
        }
    if step == 7:
        s = _npz(out / "scla2.npz", 7)
        v = {
            "K": _var(
                ("point",),
                s["K_ps_uw"],
                "rad/m",
                "spatially correlated look-angle error, phase per metre of bperp",
                "K_ps_uw",
            ),
            "dem_error": _var(
                ("point",),
                _dem_error(s["K_ps_uw"], m["rng"], m["inc"], stack.wavelength),
                "m",
                "DEM error (positive = terrain above the DEM)",
            ),
            "master_aps": _var(("point",), s["C_ps_uw"], "rad", "master atmosphere and orbit phase", "C_ps_uw"),
            "phase_scla": _var(("point", "date"), s["ph_scla"], "rad", "look-angle error phase K * bperp", "ph_scla"),
            "temporal_coherence": _var(("point",), m["coh_ps"], None, "temporal coherence gamma", "coh_ps"),
        }
        if "ph_ramp" in s:
            v["phase_ramp"] = _var(
                ("point", "date"), s["ph_ramp"], "rad", "planes removed per image (scla_deramp)", "ph_ramp"
            )
        return coords, v
    s8 = _npz(out / "scn2.npz", 8)
    return coords, {
        "slave_aps": _var(
            ("point", "date"),
            s8["ph_scn_slave"],
            "rad",
            "spatially correlated noise (secondary APS) estimate",
            "ph_scn_slave",
        ),
        "phase_hpt": _var(("point", "date"), s8["ph_hpt"], "rad", "temporally high-passed phase", "ph_hpt"),
        "temporal_coherence": _var(("point",), m["coh_ps"], None, "temporal coherence gamma", "coh_ps"),
    }


def open_step(out: str | Path, step: int, *, patch: str | None = None) -> xr.Dataset:
    """The state psi saved at ``step`` (0-8) in ``out``, as an :class:`xarray.Dataset`.

    Dimensions: ``point`` (candidates or PS), ``date`` (all images, master included) and
    ``ifg`` (the secondaries), with coordinates ``line``, ``pixel``, ``lon``, ``lat`` (and the
    local ``x``, ``y`` in m from step 1) on ``point``.  Variables carry ``units``,
    ``description`` and the StaMPS name (``stamps_name``):

    ====  ========================================================================================
    step  variables
    ====  ========================================================================================
    0     ``amplitude_dispersion``, ``dem_height``, ``phase`` (candidates, ``PATCH_n/cands.npz``)
    1     ``phase``, ``bperp``, ``incidence_angle`` (deg), ``slant_range``, ``amplitude_dispersion``
    2     ``temporal_coherence``, ``K``, ``dem_error``, ``C``, ``phase_patch``, ``phase_residual``,
          ``random_phase_histogram``, ``grid_size`` (``pm1.npz``)
    3     selected pixels: ``kept``, ``temporal_coherence``, ``coherence_threshold``, ``K``,
          ``dem_error``, ``candidate_index`` (``select1.npz``)
    4     PS after weeding (``PATCH_n/ps2.npz``): step-1 variables plus the estimates
    5     merged PS (``ps2.npz``): as 4 plus ``phase_corrected`` and ``ifg_std`` per image
    6     ``phase_unwrapped`` (``phuw2.npz``)
    7     ``K``, ``dem_error``, ``master_aps``, ``phase_scla`` (``scla2.npz``)
    8     ``slave_aps``, ``phase_hpt`` (``scn2.npz``)
    ====  ========================================================================================

    Steps 0-4 run per patch: the patches are concatenated along ``point`` with a ``patch``
    coordinate (patches overlap, so a pixel may appear twice), and per-patch values (the
    random-phase histogram, grid sizes) a ``patch_name`` dimension; ``patch="PATCH_1"`` opens one
    patch only (with the step-2 cell grid ``phase_grid`` and ``low_pass`` as well).  Phases are
    in radians, or complex values where the name says phase without unit.  The state files are
    read by the native backend's layout; a missing one raises
    :class:`~snapstamps.errors.StepOrderError` naming it.
    """
    import xarray as xr

    if not isinstance(step, (int, np.integer)) or not 0 <= int(step) <= 8:
        raise ParameterError(f"step must be an integer 0-8, got {step!r}")
    step = int(step)
    out = Path(out)
    if not out.is_dir():
        raise InputError(f"{out}: no such psi processing directory")
    stack = _Stack(out)
    attrs = {
        "step": step,
        "step_name": STEP_NAMES[step],
        "out": str(out),
        "master": stack.dates[stack.master_ix].isoformat(),
        "wavelength_m": stack.wavelength,
    }
    if step >= 5:
        if patch is not None:
            raise ParameterError(f"patch={patch!r}: step {step} works on the merged PS, not per patch")
        merged_coords, pv = _merged_step(out, step, stack)
        return xr.Dataset(pv, coords={**merged_coords, **stack.date_coords()}, attrs=attrs)

    names = _read_json(out / "patches.json", f"run psi step 0 in {out} first")["patches"]
    if patch is not None:
        if patch not in names:
            raise ParameterError(f"unknown patch {patch!r}; {out} has {', '.join(names)}")
        names = [patch]
    parts = []
    for n in names:
        c, v, per = _step_patch(out, out / n, step, stack)
        # variables not along ``point`` (per image, per grid cell) are per-patch values
        parts.append(
            (
                c,
                {k: x for k, x in v.items() if x[0][:1] == ("point",)},
                {**{k: x for k, x in v.items() if x[0][:1] != ("point",)}, **per},
            )
        )
    single = len(parts) == 1
    coords: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for i, target in ((0, coords), (1, data)):
        for key, (dims, _, a) in parts[0][i].items():
            target[key] = (dims, np.concatenate([p[i][key][1] for p in parts]), a)
    for key, (dims, arr, a) in parts[0][2].items():
        if single:
            data[key.lstrip("_")] = (dims, arr, a)
        elif not key.startswith("_"):  # "_": cell grids, whose shapes differ between patches
            arrays = [p[2][key][1] for p in parts if key in p[2]]
            if len(arrays) == len(parts) and len({x.shape for x in arrays}) == 1:
                data[key] = (("patch_name", *dims), np.stack(arrays), a)
    if not single:
        coords["patch_name"] = ("patch_name", np.asarray(names, dtype=object))
    ds = xr.Dataset(data, coords={**coords, **stack.date_coords()}, attrs=attrs)
    if "coherence_bin" in ds.dims:
        ds = ds.assign_coords(coherence_bin=("coherence_bin", np.round(np.arange(100) * 0.01 + 0.005, 3)))
    return ds


# ============================================================================== products
def _products_file(out: Path) -> Path:
    for name in ("ps_points.parquet", "ps_points.csv"):
        if (out / name).is_file():
            return out / name
    raise StepOrderError(f"{out}: no ps_points.parquet or ps_points.csv; run psi up to step 7 or 8 first")


def open_points(out: str | Path, *, geo: bool = False) -> pd.DataFrame:
    """The PS of a psi result directory as a :class:`pandas.DataFrame` (``ps_points.parquet``).

    The columns of :data:`snapstamps.results.model.POINT_COLUMNS`: ``pid, latitude, longitude,
    height, line, pixel, mean_velocity`` (mm/yr, LOS, positive toward the satellite) ``,
    mean_velocity_std, temporal_coherence, amplitude_dispersion, incidence_angle, dem_error``,
    then one column of displacement (mm) per date named ``YYYYMMDD``.  Read through the results
    layer (:func:`snapstamps.results.model.load_result`; ``ps_points.csv`` when there is no
    Parquet file).

    ``geo=True`` returns a ``geopandas.GeoDataFrame`` (points in EPSG:4326) instead; it needs
    geopandas, which snapstamps does not install.
    """
    out = Path(out)
    _products_file(out)
    table = _load_result(out).table
    if geo:
        try:
            import geopandas as gpd
        except ImportError as exc:
            raise ImportError("open_points(geo=True) needs geopandas (pip install geopandas)") from exc
        geometry = gpd.points_from_xy(table["longitude"], table["latitude"])
        return gpd.GeoDataFrame(table, geometry=geometry, crs="EPSG:4326")
    return table


def _load_result(out: Path) -> Any:
    from .results.model import load_result

    return load_result(out)


def open_displacements(out: str | Path) -> xr.DataArray:
    """The LOS displacement time series of every PS as an :class:`xarray.DataArray` (mm).

    Dimensions ``(point, date)`` (``date`` as datetime64; relative to the first date, positive
    toward the satellite, as the ``YYYYMMDD`` columns of the products); the point columns of :func:`open_points` (``pid``, ``longitude``,
    ``latitude``, ``mean_velocity``, ``temporal_coherence``...) are coordinates on ``point``,
    with their units and descriptions as attributes.
    """
    import xarray as xr

    from .results.model import DISPLACEMENT_DESCRIPTION, POINT_COLUMNS

    out = Path(out)
    _products_file(out)
    res = _load_result(out)
    if not res.date_columns:
        raise InputError(f"{res.files['points']}: no YYYYMMDD displacement columns")
    about = {c.name: {"units": c.unit, "description": c.description} for c in POINT_COLUMNS}
    coords: dict[str, Any] = {"date": np.array(res.dates, dtype="datetime64[ns]")}
    for c in res.table.columns:
        if c not in res.date_columns:
            coords[c] = ("point", res.table[c].to_numpy(), about.get(c, {}))
    return xr.DataArray(
        res.table[res.date_columns].to_numpy(np.float64),
        dims=("point", "date"),
        coords=coords,
        name="displacement",
        attrs={"units": "mm", "description": DISPLACEMENT_DESCRIPTION},
    )
