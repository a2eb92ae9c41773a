"""PSI processing parameters, with StaMPS names, defaults and units.

This is the typed equivalent of StaMPS' ``parms.mat`` with ``getparm``/``setparm``:
every field keeps the StaMPS name so that users can carry their habits (and their
published parameter tables) over.  Defaults follow the StaMPS code (not the manual,
which is stale for e.g. ``max_topo_err``).

Prep parameters (those of ``mt_prep_snap``) live here too, so that one file records
everything a run used.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import ParameterError

YesNo = Literal["y", "n"]


class PsiParams(BaseModel):
    """All parameters of the PSI engine (StaMPS names; lengths in m, times in days)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- prep (mt_prep_snap) ---
    da_thresh: float = Field(0.4, gt=0, le=2, description="amplitude dispersion threshold for candidates")
    rg_patches: int = Field(1, ge=1, le=64, description="number of patches in range")
    az_patches: int = Field(1, ge=1, le=64, description="number of patches in azimuth")
    rg_overlap: int = Field(50, ge=0, description="patch overlap in range (pixels)")
    az_overlap: int = Field(50, ge=0, description="patch overlap in azimuth (pixels)")
    prep_block_lines: int = Field(256, ge=1, description="lines read per block while streaming SLCs")

    # --- step 2: gamma estimation ---
    max_topo_err: float = Field(20.0, gt=0, description="m, max uncorrelated DEM error searched")
    quick_est_gamma_flag: YesNo = "y"
    filter_grid_size: float = Field(50.0, gt=0, description="m, grid of the CLAP filter")
    filter_weighting: Literal["P-square", "SNR"] = "P-square"
    gamma_change_convergence: float = Field(0.005, gt=0)
    gamma_max_iterations: int = Field(3, ge=1)
    slc_osf: float = Field(1.0, gt=0)
    clap_win: int = Field(32, ge=8, description="grid cells, CLAP window")
    clap_low_pass_wavelength: float = Field(800.0, gt=0, description="m")
    clap_alpha: float = 1.0
    clap_beta: float = 0.3
    n_rand: int = Field(300_000, ge=1000, description="random-phase pixels of the reference gamma distribution")
    rand_seed: int = Field(2005, description="seed of the random-phase simulation")

    # --- step 3: selection ---
    select_reest_gamma_flag: YesNo = "y"
    select_method: Literal["DENSITY", "PERCENT"] = "DENSITY"
    density_rand: float = Field(20.0, gt=0, description="random-phase pixels per km2 accepted")
    percent_rand: float = Field(20.0, gt=0, description="% random-phase pixels accepted")
    gamma_stdev_reject: float = Field(0.0, ge=0)
    drop_ifg_index: list[int] = Field(default_factory=list, description="1-based image indices to drop")

    # --- step 4: weeding ---
    weed_time_win: float = Field(730.0, gt=0, description="days")
    weed_max_noise: float = Field(math.inf, gt=0, description="rad")
    weed_standard_dev: float = Field(1.0, gt=0, description="rad")
    weed_zero_elevation: YesNo = "n"
    weed_neighbours: YesNo = "n"

    # --- step 5: merge ---
    merge_resample_size: float = Field(0.0, ge=0, description="m (0 = no resampling)")
    merge_standard_dev: float = Field(math.inf, gt=0, description="rad")

    # --- step 6: unwrapping ---
    unwrap_method: Literal["3D", "3D_FULL", "3D_QUICK"] = "3D"
    unwrap_patch_phase: YesNo = "n"
    unwrap_la_error_flag: YesNo = "y"
    unwrap_spatial_cost_func_flag: YesNo = "n"
    unwrap_prefilter_flag: YesNo = "y"
    unwrap_grid_size: float = Field(200.0, gt=0, description="m")
    unwrap_gold_n_win: int = Field(32, ge=4, description="grid cells, Goldstein window")
    unwrap_alpha: float = 8.0
    unwrap_time_win: float = Field(730.0, gt=0, description="days")
    unwrap_gold_alpha: float = 0.8
    unwrap_hold_good_values: YesNo = "n"

    # --- step 7: SCLA and master APS ---
    scla_drop_index: list[int] = Field(default_factory=list, description="1-based image indices")
    scla_method: Literal["L2", "L1"] = "L2"
    scla_deramp: YesNo = "n"

    # --- step 8: spatially correlated noise ---
    scn_wavelength: float = Field(100.0, gt=0, description="m")
    scn_time_win: float = Field(365.0, gt=0, description="days")
    scn_deramp_ifg: list[int] = Field(default_factory=list)
    scn_kriging_flag: YesNo = "n"
    scn_local_linear: YesNo = Field(
        "n", description="snapstamps: remove a local linear trend before the SCN time filter (keeps deformation out of SCN)"
    )

    # --- snapstamps: APS estimation that keeps deformation (psi.aps, run with step 7) ---
    aps_deformation_model: Literal["auto", "linear", "acceleration", "seasonal", "full"] = Field(
        "auto", description="snapstamps: per-PS deformation model removed before the APS filter (auto = BIC per PS)"
    )
    aps_filter_wavelength: float = Field(
        0.0, ge=0, description="m, snapstamps: Gaussian scale of the APS spatial filter (0 = leave-one-out cross-validation)"
    )
    aps_max_iterations: int = Field(10, ge=1, description="snapstamps: iterations of the APS estimation at most")
    aps_convergence: float = Field(0.01, gt=0, description="rad, snapstamps: APS change (RMS) that ends the iterations")

    # --- referencing and outputs ---
    ref_lon: tuple[float, float] = (-math.inf, math.inf)
    ref_lat: tuple[float, float] = (-math.inf, math.inf)
    ref_centre_lonlat: tuple[float, float] = (0.0, 0.0)
    ref_radius: float = Field(math.inf, description="m; inf = all PS in ref_lon/ref_lat; -inf = none")
    ref_velocity: float = Field(0.0, description="m/yr added to velocities")
    velocity_type: Literal["v-daps", "v-d", "v-do", "v-ds", "v-dso", "v-da", "v-dao"] = Field(
        "v-daps",
        description="snapstamps: value type of the product velocities: 'v-daps' (default) = DEM error and the "
        "deformation-keeping APS estimate removed, deformation model fitted; or a StaMPS ps_plot type "
        "('s' types need step 8, 'a' types need subtr_tropo/tropo_method)",
    )
    subtr_tropo: YesNo = Field("n", description="subtract the tropospheric correction of tropo_method in steps 6-7 (StaMPS)")
    tropo_method: str = Field(
        "a_l", description="tropospheric correction: a_l/a_linear (phase-topography), a_p/a_powerlaw, a_gacos/a_ext "
        "(per-date delay maps in tropo_delay_dir); TRAIN's weather-model methods are refused by the native engine"
    )
    tropo_delay_dir: str = Field("", description="snapstamps: folder of per-date zenith delay GeoTIFFs (YYYYMMDD*.tif, m) for a_gacos/a_ext")
    tropo_band_m: tuple[float, float] = Field(
        (200.0, 2000.0), description="snapstamps: m, spatial band (shortest, longest wavelength) of the phase-topography fits"
    )
    tropo_powerlaw_alpha: float = Field(1.6, gt=0, description="snapstamps: power-law exponent (TRAIN powerlaw_alpha)")
    tropo_powerlaw_h0: float = Field(10_000.0, gt=0, description="m, snapstamps: height where the tropospheric delay vanishes (TRAIN powerlaw_h0)")
    n_cores: int | None = Field(
        None, ge=1,
        description="CPU cores (StaMPS n_cores). Set: at most this many patches at a time in steps 1-4 and this many "
        "concurrent snaphu runs in step 6. Unset (default): patches one at a time (StaMPS' 1) and one snaphu run per "
        "available CPU (results do not depend on it)",
    )

    # --- set from the data in step 1 (None until then) ---
    heading: float | None = Field(None, description="deg")
    lambda_: float | None = Field(None, alias="lambda", description="m, radar wavelength")
    platform: str | None = None

    @field_validator("drop_ifg_index", "scla_drop_index", "scn_deramp_ifg")
    @classmethod
    def _positive_indices(cls, v: list[int]) -> list[int]:
        if any(i < 1 for i in v):
            raise ValueError("indices are 1-based image numbers")
        return sorted(set(v))

    # ----------------------------------------------------------------- persistence
    def save(self, path: Path) -> None:
        """Write the parameters as JSON, atomically."""
        from ..io.atomic import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_jsonable(), indent=2) + "\n")

    def to_jsonable(self) -> dict[str, Any]:
        data = self.model_dump(by_alias=True)
        return {k: _json_float(v) for k, v in data.items()}

    @classmethod
    def load(cls, path: Path) -> "PsiParams":
        path = Path(path)
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ParameterError(f"{path}: not valid JSON ({exc})") from exc
        try:
            return cls.model_validate({k: _from_json_float(v) for k, v in raw.items()})
        except ValidationError as exc:
            raise ParameterError(f"{path}: {_first_error(exc)}") from exc

    def kernel_args(self, kernel: Callable[..., Any]) -> dict[str, Any]:
        """The parameters ``kernel`` takes as keyword-only arguments, by name, from this object.

        Kernels (:mod:`snapstamps.psi`) declare the StaMPS parameters they use as keyword-only
        arguments; the workflow unpacks them with ``kernel(..., **params.kernel_args(kernel))``.
        """
        fields = type(self).model_fields
        return {
            name: getattr(self, name)
            for name, p in inspect.signature(kernel).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and name in fields
        }

    # ----------------------------------------------------------------- getparm/setparm
    def with_updates(self, updates: dict[str, Any]) -> "PsiParams":
        """Return a copy with ``updates`` applied; names may be unique prefixes (as getparm)."""
        data = self.model_dump(by_alias=True)
        for key, value in updates.items():
            name = resolve_name(key)
            data[name] = value
        try:
            return type(self).model_validate(data)
        except ValidationError as exc:
            raise ParameterError(_first_error(exc)) from exc


#: StaMPS parameters whose non-default values the native engine does not implement: name -> (is the
#: value supported?, why not).  :func:`check_native_support` refuses the others (the StaMPS backend
#: passes them to StaMPS, which implements them).
NATIVE_LIMITS: dict[str, tuple[Any, str]] = {
    "quick_est_gamma_flag": (lambda v: v == "y", "only the quick gamma estimation (ps_est_gamma_quick) is implemented"),
    "slc_osf": (lambda v: v == 1, "oversampled SLCs (slc_osf != 1) are not supported"),
    "merge_resample_size": (lambda v: v == 0, "resampling PS onto a grid in step 5 is not implemented"),
    "merge_standard_dev": (lambda v: math.isinf(v), "step 5's noise threshold on resampled PS is not implemented"),
    "unwrap_patch_phase": (lambda v: v == "n", "unwrapping the patch (filtered) phase is not implemented"),
    "unwrap_spatial_cost_func_flag": (lambda v: v == "n", "the spatial cost function of the 3-D unwrapping is not implemented"),
    "unwrap_alpha": (lambda v: v == 8.0, "unwrap_alpha belongs to StaMPS' 2-D unwrapping (the 3-D path, the only one here, ignores it)"),
    "unwrap_hold_good_values": (lambda v: v == "n", "StaMPS forces 'n' for PS processing"),
    "scn_kriging_flag": (lambda v: v == "n", "the kriging variant of step 8 (ps_scn_filt_krig) is not implemented"),
    "tropo_method": (
        lambda v: v in ("a_l", "a_linear", "a_p", "a_powerlaw", "a_gacos", "a_ext"),
        "only a_l/a_linear, a_p/a_powerlaw and a_gacos/a_ext (delay maps in tropo_delay_dir) are implemented; "
        "for weather-model delays (ERA5, MERRA, ...) put per-date zenith delay GeoTIFFs in tropo_delay_dir and use a_ext",
    ),
}


def check_native_support(params: PsiParams) -> None:
    """Raise :class:`ParameterError` for a parameter value the native engine does not implement."""
    for name, (ok, why) in NATIVE_LIMITS.items():
        value = getattr(params, name)
        if not ok(value):
            raise ParameterError(f"parameter {name}={value!r} is not implemented by the native engine: {why}")


#: Where a value of a process input goes: the whole value (None), one element (index), or a
#: slice ``(start, stop)`` of an array input.
Selector = int | tuple[int, int] | None


@dataclass(frozen=True)
class ProcessInput:
    """A named input of the psi process (OGC description, CWL) that sets parameters."""

    #: (parameter, part of the input value it takes), in order
    targets: tuple[tuple[str, Selector], ...]
    #: title of the input; default: the parameter's name and description
    title: str = ""

    @property
    def n_values(self) -> int | None:
        """Number of values of an array input (None for a scalar)."""
        ends = [t[1] + 1 if isinstance(t[1], int) else t[1][1] for t in self.targets if t[1] is not None]
        return max(ends) if ends else None


#: Named inputs of the psi process that set parameters, besides the ``parameters`` object.  The
#: process description, the CWL inputs and :func:`updates_from_inputs` are derived from this table
#: and the fields of :class:`PsiParams` (``scripts/generate_interfaces.py``).
PROCESS_INPUTS: dict[str, ProcessInput] = {
    "amplitude_dispersion": ProcessInput((("da_thresh", None),), "Amplitude dispersion threshold (da_thresh)"),
    "patches": ProcessInput((("rg_patches", 0), ("az_patches", 1)), "Patches in range and azimuth (rg_patches, az_patches)"),
    "reference_area": ProcessInput(
        (("ref_centre_lonlat", (0, 2)), ("ref_radius", 2)),
        "Reference area: longitude, latitude (degrees), radius (m) (ref_centre_lonlat, ref_radius)",
    ),
    "unwrap_grid_size": ProcessInput((("unwrap_grid_size", None),)),
    "weed_standard_dev": ProcessInput((("weed_standard_dev", None),)),
}


def _select(value: Any, sel: Selector) -> Any:
    if sel is None:
        return value
    if isinstance(sel, int):
        return value[sel]
    return list(value[sel[0] : sel[1]])


def merge_updates(*sources: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """One dict of parameter updates from several ``(label, {name: value})`` sources.

    Names may be unique prefixes (as getparm).  A parameter set by two sources to different
    values is a :class:`ParameterError` naming both (never a silent precedence); the result is
    validated against :class:`PsiParams`.
    """
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for label, updates in sources:
        for key, value in updates.items():
            name = resolve_name(key)
            if isinstance(value, tuple):
                value = list(value)
            if name in out and out[name] != value:
                raise ParameterError(
                    f"parameter {name} is given twice: {out[name]!r} by {origin[name]} and {value!r} by {label}"
                )
            out[name] = value
            origin.setdefault(name, label)
    PsiParams().with_updates(out)
    return out


def updates_from_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """The parameter updates of a psi process request: its :data:`PROCESS_INPUTS` and ``parameters``.

    ``amplitude_dispersion`` sets ``da_thresh``, ``patches`` ``[RG, AZ]`` sets ``rg_patches`` and
    ``az_patches``, ``reference_area`` ``[lon, lat, radius]`` sets ``ref_centre_lonlat`` and
    ``ref_radius``; ``parameters`` is an object of names (or unique prefixes) to values.  Inputs
    that are absent or None set nothing, so every default comes from :class:`PsiParams`.  Raises
    :class:`ParameterError` for an unknown or invalid parameter, or one given twice with two values.
    """
    sources: list[tuple[str, dict[str, Any]]] = []
    for key, spec in PROCESS_INPUTS.items():
        value = inputs.get(key)
        if value is None:
            continue
        n = spec.n_values
        if n is not None and (not isinstance(value, (list, tuple)) or len(value) != n):
            raise ParameterError(f"{key}: expected {n} values ({', '.join(t[0] for t in spec.targets)}), got {value!r}")
        sources.append((f"input '{key}'", {name: _select(value, sel) for name, sel in spec.targets}))
    params = inputs.get("parameters") or {}
    if not isinstance(params, dict):
        raise ParameterError(f"parameters: expected an object of names to values, got {type(params).__name__}")
    return merge_updates(*sources, ("input 'parameters'", params))


def load_updates(path: Path) -> dict[str, Any]:
    """Parameter updates from a JSON file of names to values (``--params FILE``).

    The file may hold every parameter (a ``parms.json`` or ``psi-params show --json``) or a
    few; ``inf``/``-inf`` may be written as strings.  Raises :class:`ParameterError` naming the file.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise ParameterError(f"{path}: cannot read the parameter file ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise ParameterError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ParameterError(f"{path}: expected a JSON object of parameter names to values")
    try:
        return merge_updates((str(path), {k: _from_json_float(v) for k, v in raw.items()}))
    except ParameterError as exc:
        raise ParameterError(f"{path}: {exc}") from None


def parameter_names() -> list[str]:
    """Public parameter names (StaMPS spelling, ``lambda`` not ``lambda_``)."""
    return [f.alias or name for name, f in PsiParams.model_fields.items()]


def resolve_name(key: str) -> str:
    """Resolve a full name or unique prefix to a parameter name, as StaMPS' getparm does."""
    names = parameter_names()
    if key in names:
        return key
    matches = [n for n in names if n.startswith(key)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ParameterError(f"unknown parameter {key!r}")
    raise ParameterError(f"parameter prefix {key!r} is ambiguous: {', '.join(matches)}")


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse ``name=value`` from the command line; value as JSON when possible."""
    if "=" not in text:
        raise ParameterError(f"expected name=value, got {text!r}")
    key, raw = text.split("=", 1)
    key = resolve_name(key.strip())
    raw = raw.strip()
    low = raw.lower()
    if low in {"inf", "+inf"}:
        return key, math.inf
    if low == "-inf":
        return key, -math.inf
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        if "," in raw:
            value = [_scalar(p) for p in raw.split(",") if p.strip()]
        else:
            value = raw
    return key, value


def _scalar(s: str) -> Any:
    s = s.strip()
    try:
        return json.loads(s)
    except json.JSONDecodeError:
        return float(s) if s.lower() in {"inf", "-inf"} else s


def _json_float(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
    if isinstance(v, (list, tuple)):
        return [_json_float(x) for x in v]
    return v


def _from_json_float(v: Any) -> Any:
    if isinstance(v, str) and v in {"inf", "-inf", "nan"}:
        return float(v)
    if isinstance(v, list):
        return [_from_json_float(x) for x in v]
    return v


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"parameter {loc}: {err['msg']}"
