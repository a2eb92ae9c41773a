"""The psi pipeline: prep and StaMPS steps 1-8 over a processing directory, resumable.

Step numbers follow ``stamps(start, end)``; step 0 is the prep (``mt_prep_snap``):

=====  ==============================  =============================  ==========================
step   what                            kernel module                  state written
=====  ==============================  =============================  ==========================
0      candidates, patches             ``psi.prep``                   PATCH_n/cands.npz
1      load, geometry                  ``psi.load``                   PATCH_n/ps1.npz
2      gamma estimation                ``psi.gamma``                  PATCH_n/pm1.npz
3      PS selection                    ``psi.select``                 PATCH_n/select1.npz
4      weeding                         ``psi.weed``                   PATCH_n/ps2.npz
5      phase correction, merge         ``psi.merge``                  ps2.npz, ifgstd2.npz
6      3-D unwrapping                  ``psi.unwrap``                 phuw2.npz
7      SCLA and master APS             ``psi.scla``                   scla2.npz
8      spatially correlated noise      ``psi.scn``                    scn2.npz
=====  ==============================  =============================  ==========================

Steps 1-4 run per patch (pure functions over a patch, so they can be scattered over CWL
or Dask workers); 5 merges; 6-8 run on the merged set.  Products (``ps_mean_v.xy`` and
the rest) are written whenever a run reaches step 7 or later.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NoCandidatesError, ParameterError, StepOrderError
from ..io.stamps_export import open_stack
from ..progress import step_progress
from ..psi.config import PsiParams
from ..psi.load import Geometry, PatchState, load_initial
from ..psi.merge import PsSet, correct_phase, ifg_std, merge_patches
from ..psi.prep import Patch
from .prep import run_prep
from .state import load_dataclass, load_npz, read_json, save_dataclass, save_npz, write_json

log = logging.getLogger("snapstamps")


def use_system_allocators() -> None:
    """Let Arrow use the system allocator in this process: its default pool (jemalloc/mimalloc)
    keeps what the GeoParquet writer frees (~25 MB at the reference size).  Read when pyarrow is
    first imported, so called before the products."""
    import os

    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


def release_freed_memory() -> None:
    """Hand the memory the kernels freed back to the system, and keep handing it back.

    glibc raises its mmap threshold (up to 32 MB) each time a large block is freed, after which
    arrays are carved from the heap, whose freed space the process keeps: a step tool process
    that runs a kernel and then the products would hold both peaks.  Called between the two:
    ``malloc_trim`` returns the free heap, and a fixed threshold (``M_MMAP_THRESHOLD`` = 1 MiB)
    turns the adjustment off, so every later array above it is its own mapping, returned when
    freed.  Not set for the kernels: there it costs page faults on every large temporary (step 2:
    ~1.5 s of system time).  No-op on other C libraries.
    """
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        pass


def _kernel(name: str):
    """Import a step's kernel module when the step runs (keeps start-up light)."""
    import importlib

    return importlib.import_module(f"snapstamps.psi.{name}")

STEPS = {
    0: "prep",
    1: "load",
    2: "gamma estimation",
    3: "PS selection",
    4: "weeding",
    5: "phase correction and merge",
    6: "3-D unwrapping",
    7: "SCLA and master APS",
    8: "spatially correlated noise",
}


@dataclass
class PsiRun:
    """Context of one run over a processing directory."""

    out_dir: Path
    params: PsiParams
    insar_dir: Path | None = None
    show_progress: bool = True
    adaptations: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------------ files
    @property
    def params_file(self) -> Path:
        return self.out_dir / "parms.json"

    def patch_dirs(self) -> list[Path]:
        info = read_json(self.out_dir / "patches.json", needed_by="steps 1-5")
        return [self.out_dir / name for name in info["patches"]]

    def stack_info(self) -> dict:
        return read_json(self.out_dir / "stack.json", needed_by="steps 1-8")

    def adapt(self, name: str, old: Any, new: Any, reason: str) -> None:
        log.warning("adapted %s: %s -> %s (%s)", name, old, new, reason)
        self.adaptations.append({"parameter": name, "from": old, "to": new, "reason": reason})

    def drop_images(self, extra: list[int] | None = None) -> list[int]:
        """0-based image columns dropped (``drop_ifg_index`` is 1-based, master excluded)."""
        return drop_images(self.params.drop_ifg_index, self.stack_info(), extra)


def drop_images(drop_ifg_index: list[int], info: dict, extra: list[int] | None = None) -> list[int]:
    """0-based image columns dropped: ``drop_ifg_index`` and ``extra`` (1-based), master excluded."""
    n = len(info["dates"])
    idx = set(drop_ifg_index) | set(extra or [])
    bad = [i for i in idx if i > n]
    if bad:
        raise ParameterError(f"drop_ifg_index {bad} beyond the {n} images of the stack")
    return sorted(i - 1 for i in idx if i - 1 != info["master_ix"])


def _geometry(info: dict) -> Geometry:
    return Geometry(**info["geometry"])


def _days(info: dict) -> np.ndarray:
    return np.array([dt.date.fromisoformat(d).toordinal() for d in info["dates"]], dtype=np.float64)


# ---------------------------------------------------------------------- step 0
def step_prep(run: PsiRun, mask_file: Path | None) -> None:
    if run.insar_dir is None:
        raise StepOrderError("prep (step 0) needs the INSAR_<master> directory")
    stack = open_stack(run.insar_dir)
    par = stack.par
    info = {
        "insar_dir": str(Path(run.insar_dir).resolve()),
        "master": stack.master.isoformat(),
        "dates": [d.isoformat() for d in stack.dates],
        "master_ix": stack.master_ix,
        "shape": list(stack.shape),
        "sensor": par.sensor,
        "geometry": {
            "width": par.width,
            "length": par.length,
            "near_range": par.near_range_slc,
            "range_pixel_spacing": par.range_pixel_spacing,
            "sar_to_earth_center": par.sar_to_earth_center,
            "earth_radius": par.earth_radius_below_sensor,
            "prf": par.prf,
            "heading": par.heading,
            "wavelength": par.wavelength,
        },
        "baselines": stack.baseline_array().tolist(),
    }
    from ..stac.stack import stack_properties

    info["stack_source"] = stack_properties(run.insar_dir)  # carried to the STAC items of the result
    with step_progress("step 0: prep (candidates)", run.show_progress) as prog:
        summary = run_prep(stack, run.out_dir, run.params, mask_file, prog)
    info["prep"] = summary
    write_json(run.out_dir / "stack.json", info)
    write_json(run.out_dir / "patches.json", {"patches": [p["name"] for p in summary["patches"]]})
    run.params = run.params.with_updates(
        {"heading": par.heading, "lambda": par.wavelength, "platform": par.sensor.split()[0] if par.sensor else None}
    )


# ---------------------------------------------------------------------- steps 1-4 per patch
def step_load(run: PsiRun, patch_dir: Path) -> PatchState:
    info = run.stack_info()
    c = load_npz(patch_dir / "cands.npz", needed_by="step 1")
    state = load_initial(
        c["ij"], c["lonlat"], c["hgt"], c["da"], c["ph"],
        np.asarray(info["baselines"]), _days(info), info["master_ix"], _geometry(info),
    )
    save_npz(patch_dir / "ps1.npz", state.to_arrays())
    return state


def _load_state(patch_dir: Path, name: str, needed_by: str) -> PatchState:
    return PatchState.from_arrays(load_npz(patch_dir / name, needed_by=needed_by))


def _grid_cells(extent: float, size: float) -> int:
    """Cells of a StaMPS grid over ``extent`` m (the last partial cell folded in)."""
    return max(math.ceil((extent + 1e-6) / size) - 1, 1)


def adapted_grid_size(extent: float, size: float, min_cells: int) -> float:
    """Largest grid size <= ``size`` giving at least ``min_cells`` cells over ``extent``."""
    if _grid_cells(extent, size) >= min_cells:
        return size
    g = extent / (min_cells + 1)
    while g > 1 and _grid_cells(extent, g) < min_cells:
        g *= 0.98
    return float(np.floor(g * 100) / 100)


def _patch_params(run: PsiRun, state: PatchState, patch_name: str) -> PsiParams:
    """Parameters for one patch, with the CLAP grid adapted to small patches (StaMPS fails there)."""
    p = run.params
    if state.n_ps == 0:
        return p
    ext = float(np.min(np.ptp(state.xy, axis=0)))
    need = p.clap_win  # step 3 needs a full clap_win window of cells (step 2 needs 0.75 of it)
    g = adapted_grid_size(ext, p.filter_grid_size, need)
    if g != p.filter_grid_size:
        run.adapt(
            f"filter_grid_size[{patch_name}]", p.filter_grid_size, g,
            f"patch is {ext:.0f} m across; the CLAP filter needs {need} cells per dimension",
        )
        return p.with_updates({"filter_grid_size": g})
    return p


def step_gamma(run: PsiRun, patch_dir: Path) -> None:
    state = _load_state(patch_dir, "ps1.npz", "step 2")
    if state.n_ps == 0:
        raise NoCandidatesError(f"{patch_dir.name}: no candidates to estimate gamma on")
    params = _patch_params(run, state, patch_dir.name)
    ph_slaves = np.delete(state.ph, state.master_ix, axis=1)
    bperp = np.delete(state.bperp, state.master_ix)
    wavelength = run.params.lambda_ or run.stack_info()["geometry"]["wavelength"]
    with step_progress(f"step 2: gamma estimation {patch_dir.name}", run.show_progress) as prog:
        kernel = _kernel("gamma").estimate_gamma
        res = kernel(
            ph_slaves, state.bperp_mat, bperp, state.xy, state.da, state.inc, wavelength, progress=prog,
            **params.kernel_args(kernel),
        )
    save_dataclass(patch_dir / "pm1.npz", res)


def _slave_cols(run: PsiRun, master_ix: int) -> list[int]:
    return [c if c < master_ix else c - 1 for c in run.drop_images()]


def step_select(run: PsiRun, patch_dir: Path) -> None:
    state = _load_state(patch_dir, "ps1.npz", "step 3")
    gres = load_dataclass(patch_dir / "pm1.npz", _kernel("gamma").GammaResult, needed_by="step 3")
    params = run.params.with_updates({"filter_grid_size": float(gres.grid_size)})
    ph_slaves = np.delete(state.ph, state.master_ix, axis=1)
    bperp = np.delete(state.bperp, state.master_ix)
    with step_progress(f"step 3: PS selection {patch_dir.name}", run.show_progress) as prog:
        kernel = _kernel("select").select_ps
        res = kernel(
            ph_slaves, state.bperp_mat, bperp, state.xy, state.da, gres,
            drop_ifg=_slave_cols(run, state.master_ix), progress=prog, **params.kernel_args(kernel),
        )
    save_dataclass(patch_dir / "select1.npz", res)
    log.info("%s: %d initially selected, %d kept after re-estimation", patch_dir.name, len(res.ix), int(np.sum(res.keep_ix)))


def step_weed(run: PsiRun, patch_dir: Path) -> None:
    state = _load_state(patch_dir, "ps1.npz", "step 4")
    # only the arrays step 4 uses (and no import of the step 2-3 kernels for their result classes)
    ph_patch_all = load_npz(patch_dir / "pm1.npz", needed_by="step 4", keys=["ph_patch"])["ph_patch"]
    sres = load_npz(patch_dir / "select1.npz", needed_by="step 4", keys=["ix", "keep_ix", "K_ps2", "C_ps2", "coh_ps2"])
    keep = np.asarray(sres["keep_ix"], dtype=bool)
    sel = np.asarray(sres["ix"], dtype=np.int64)[keep]
    sub = state.subset(sel)
    K, C, coh = sres["K_ps2"][keep], sres["C_ps2"][keep], sres["coh_ps2"][keep]
    with step_progress(f"step 4: weeding {patch_dir.name}", run.show_progress):
        if sub.n_ps >= 3:
            kernel = _kernel("weed").weed_ps
            w = kernel(
                sub.ph, sub.xy, sub.ij, sub.hgt, K, C, coh, sub.bperp, sub.day, sub.master_ix,
                drop_ifg=run.drop_images(), **run.params.kernel_args(kernel),
            )
            wkeep = np.asarray(w.keep, dtype=bool)
            save_npz(patch_dir / "weed1.npz", {"keep": wkeep, "ps_std": w.ps_std, "ps_max": w.ps_max})
        else:
            wkeep = np.ones(sub.n_ps, dtype=bool)
    ph_patch = np.insert(np.asarray(ph_patch_all)[sel], sub.master_ix, 1.0 + 0j, axis=1).astype(np.complex64)
    ps = PsSet(sub, K.astype(np.float32), C.astype(np.float32), coh.astype(np.float32), ph_patch).subset(wkeep)
    save_npz(patch_dir / "ps2.npz", ps.to_arrays())
    log.info("%s: %d PS after weeding", patch_dir.name, ps.n_ps)


# ---------------------------------------------------------------------- steps 5-8 merged
def step_merge(run: PsiRun) -> PsSet:
    parts = []
    for pdir in run.patch_dirs():
        ps = PsSet.from_arrays(load_npz(pdir / "ps2.npz", needed_by="step 5"))
        patch = Patch(**read_json(pdir / "patch.json"))
        ps = correct_phase(ps)
        parts.append((ps, patch.in_core(ps.state.ij[:, 0], ps.state.ij[:, 1])))
    if sum(p.n_ps for p, _ in parts) == 0:
        raise NoCandidatesError("no PS left in any patch after weeding; relax weed_standard_dev or da_thresh")
    heading = run.params.heading if run.params.heading is not None else run.stack_info()["geometry"]["heading"]
    merged = merge_patches(parts, heading)
    save_npz(run.out_dir / "ps2.npz", merged.to_arrays())
    save_npz(run.out_dir / "ifgstd2.npz", {"ifg_std": ifg_std(merged)})
    log.info("merged: %d PS", merged.n_ps)
    return merged


def _load_merged(run: PsiRun, needed_by: str) -> PsSet:
    return PsSet.from_arrays(load_npz(run.out_dir / "ps2.npz", needed_by=needed_by))


def step_unwrap(run: PsiRun) -> None:
    ps = _load_merged(run, "step 6")
    st = ps.state
    bp = st.bperp_full()
    ph_w = ps.ph_rc * np.exp(1j * ps.K_ps[:, None] * bp)
    params = run.params
    ext = float(np.min(np.ptp(st.xy, axis=0)))
    g = adapted_grid_size(ext, params.unwrap_grid_size, params.unwrap_gold_n_win)
    if g != params.unwrap_grid_size:
        run.adapt(
            "unwrap_grid_size", params.unwrap_grid_size, g,
            f"PS area is {ext:.0f} m across; snaphu's prefilter needs {params.unwrap_gold_n_win} cells per dimension",
        )
        params = params.with_updates({"unwrap_grid_size": g})
    from ..io.snaphu import run_snaphu  # the external solver, behind its I/O adapter

    drop = set(run.drop_images())
    uw_cols = [c for c in range(st.ph.shape[1]) if c != st.master_ix and c not in drop]
    tropo = run.out_dir / "tropo2.npz"
    ph_tropo = None
    if params.subtr_tropo == "y" and tropo.exists():  # StaMPS: a correction from an earlier step 7 is
        ph_tropo = load_npz(tropo)["ph_tropo"].astype(np.float64)  # removed before unwrapping, added back after
        if ph_tropo.shape == ph_w.shape:
            ph_w = ph_w * np.exp(-1j * ph_tropo)
        else:
            ph_tropo = None
    with step_progress("step 6: 3-D unwrapping", run.show_progress) as prog:
        kernel = _kernel("unwrap").unwrap_3d
        res = kernel(
            ph_w, st.xy, st.day, st.master_ix, st.bperp, float(np.mean(st.inc)),
            _wavelength(run), unwrap_ifg=uw_cols, progress=prog, unwrap_grid=run_snaphu,
            **params.kernel_args(kernel),
        )
    if ph_tropo is not None:
        res.ph_uw = (res.ph_uw + ph_tropo).astype(res.ph_uw.dtype)
    save_dataclass(run.out_dir / "phuw2.npz", res)


def _wavelength(run: PsiRun) -> float:
    return float(run.params.lambda_ or run.stack_info()["geometry"]["wavelength"])


def reference_mask(run: PsiRun, ps: PsSet) -> np.ndarray:
    from ..psi.velocity import reference_mask as _ref

    return _ref(ps.state.lonlat, ps.state.ll0, **run.params.kernel_args(_ref))


def step_scla(run: PsiRun) -> None:
    ps = _load_merged(run, "step 7")
    uw = load_dataclass(run.out_dir / "phuw2.npz", _kernel("unwrap").UnwrapResult, needed_by="step 7")
    std = load_npz(run.out_dir / "ifgstd2.npz", needed_by="step 7")["ifg_std"]
    ref = reference_mask(run, ps)
    params = run.params
    ph_uw = uw.ph_uw
    ph_tropo = tropo_correction(run, ps, uw.ph_uw)
    if ph_tropo is not None and params.subtr_tropo == "y":  # StaMPS: the TRAIN correction is subtracted in step 7
        ph_uw = uw.ph_uw - ph_tropo
    with step_progress("step 7: SCLA and master APS", run.show_progress):
        calc_scla = _kernel("scla").calc_scla
        res = calc_scla(ph_uw, ps.state.bperp_full(), ps.state.day, ps.state.master_ix, std, ref, ps.state.xy,
                        **params.kernel_args(calc_scla))
        smooth = _kernel("scla").smooth_scla(res, ps.state.xy, ps.state.bperp_full())
    save_dataclass(run.out_dir / "scla2.npz", res)
    save_dataclass(run.out_dir / "scla_smooth2.npz", smooth)
    step_aps(run, ps, ph_uw, ref)


def tropo_correction(run: PsiRun, ps: PsSet, ph_uw: np.ndarray) -> np.ndarray | None:
    """TRAIN-style correction of ``tropo_method`` (``psi.tropo``) when ``subtr_tropo='y'`` or an
    'a' velocity type asks for it; saved as ``tropo2.npz`` (None, and no file, otherwise)."""
    p = run.params
    path = run.out_dir / "tropo2.npz"
    if p.subtr_tropo != "y" and p.velocity_type not in ("v-da", "v-dao"):
        path.unlink(missing_ok=True)
        return None
    tr = _kernel("tropo")
    st = ps.state
    scla_columns = _kernel("scla").scla_columns
    cols = scla_columns(st.ph.shape[1], **p.kernel_args(scla_columns))
    method = tr.TROPO_METHODS[p.tropo_method]
    with step_progress(f"step 7: tropospheric correction ({p.tropo_method})", run.show_progress):
        if method == "linear":
            ph, _ = tr.linear_phase_topography(ph=ph_uw, hgt=st.hgt, xy=st.xy, master_ix=st.master_ix, band=p.tropo_band_m, columns=cols)
        elif method == "powerlaw":
            ph = tr.powerlaw(ph=ph_uw, hgt=st.hgt, xy=st.xy, master_ix=st.master_ix, band=p.tropo_band_m,
                             alpha=p.tropo_powerlaw_alpha, h0=p.tropo_powerlaw_h0, columns=cols)
        else:
            from ..io.delay_maps import find_delay_maps, sample_delay_maps

            if not p.tropo_delay_dir:
                raise ParameterError(f"tropo_method {p.tropo_method!r} needs tropo_delay_dir (a folder of per-date delay GeoTIFFs)")
            dates = [dt.date.fromisoformat(d) for d in run.stack_info()["dates"]]
            z = sample_delay_maps(find_delay_maps(Path(p.tropo_delay_dir), dates), st.lonlat)
            ph = tr.delay_maps_phase(zenith_delay=z, inc=st.inc, wavelength=_wavelength(run), master_ix=st.master_ix)
    save_npz(path, {"ph_tropo": ph.astype(np.float32)})
    return ph


def ensure_aps(out_dir: Path, params: PsiParams) -> None:
    """Run the APS estimation on the merged state in ``out_dir`` when ``aps2.npz`` is missing
    (StaMPS backend results)."""
    run = PsiRun(out_dir=Path(out_dir), params=params, show_progress=False)
    if (run.out_dir / "aps2.npz").exists():
        return
    ps = _load_merged(run, "APS estimation")
    uw = load_dataclass(run.out_dir / "phuw2.npz", _kernel("unwrap").UnwrapResult, needed_by="APS estimation")
    step_aps(run, ps, uw.ph_uw, reference_mask(run, ps))


def step_aps(run: PsiRun, ps: PsSet, ph_uw: np.ndarray, ref: np.ndarray) -> None:
    """APS estimate that keeps deformation (``psi.aps``), run with step 7; writes ``aps2.npz``."""
    st = ps.state
    p = run.params
    scla_columns = _kernel("scla").scla_columns
    cols = scla_columns(st.ph.shape[1], **p.kernel_args(scla_columns))
    with step_progress("step 7: APS estimation (deformation kept)", run.show_progress):
        try:
            res = _kernel("aps").estimate_aps(
                ph=ph_uw, bperp_full=st.bperp_full(), day=st.day, master_ix=st.master_ix, xy=st.xy, columns=cols,
                ref_mask=ref, model=p.aps_deformation_model, filter_scale=p.aps_filter_wavelength,
                max_iter=p.aps_max_iterations, tol=p.aps_convergence,
            )
        except ValueError as exc:
            if p.velocity_type == "v-daps":
                raise ParameterError(f"velocity_type 'v-daps': {exc}; choose a StaMPS velocity_type such as 'v-d'") from exc
            log.warning("APS estimation skipped: %s", exc)
            (run.out_dir / "aps2.npz").unlink(missing_ok=True)
            return
    save_dataclass(run.out_dir / "aps2.npz", res)
    log.info("APS: filter scale %.0f m, %d iterations%s", float(res.filter_scale), int(res.n_iter),
             "" if bool(res.converged) else " (not converged)")


def step_scn(run: PsiRun) -> None:
    ps = _load_merged(run, "step 8")
    uw = load_dataclass(run.out_dir / "phuw2.npz", _kernel("unwrap").UnwrapResult, needed_by="step 8")
    sc = load_dataclass(run.out_dir / "scla2.npz", _kernel("scla").SclaResult, needed_by="step 8")
    with step_progress("step 8: spatially correlated noise", run.show_progress):
        kernel = _kernel("scn").scn_filter
        res = kernel(
            uw.ph_uw, sc.ph_scla, sc.C_ps_uw, ps.state.xy, ps.state.day, ps.state.master_ix, ph_ramp=sc.ph_ramp,
            local_linear=run.params.scn_local_linear == "y", **run.params.kernel_args(kernel),
        )
    save_dataclass(run.out_dir / "scn2.npz", res)


PATCH_STEPS = {1: step_load, 2: step_gamma, 3: step_select, 4: step_weed}


#: Environment variable naming a Dask scheduler for the per-patch steps (``tcp://host:8786``)
#: when ``run_psi`` is not given one: how a CWL runner hands the address to the tools.
DASK_SCHEDULER_ENV = "SNAPSTAMPS_DASK_SCHEDULER"
#: Seconds to wait for the Dask scheduler before giving up with an error.
DASK_CONNECT_TIMEOUT_S = 20.0


def check_scheduler_address(address: str) -> str:
    """``address`` when it is a Dask scheduler address (``tcp://HOST:PORT`` or ``tls://HOST:PORT``)."""
    import re

    if not re.fullmatch(r"(tcp|tls)://[A-Za-z0-9._\-\[\]:]+:\d{1,5}", address or ""):
        raise ParameterError(f"dask scheduler {address!r} is not an address tcp://HOST:PORT (or tls://HOST:PORT)")
    return address


def _patch_step_remote(step: int, out_dir: str, params: PsiParams, pdir: str) -> list[dict[str, Any]]:
    """One per-patch step of one patch on a Dask worker; returns the adaptations it made.

    The worker sees the processing directory at the same path (a shared file system): it reads
    the patch's state and writes its own ``PATCH_n`` files, as a local run does.
    """
    run = PsiRun(out_dir=Path(out_dir), params=params, show_progress=False)
    PATCH_STEPS[step](run, Path(pdir))
    return run.adaptations


def _run_on_scheduler(run: PsiRun, step: int, pdirs: list[Path], address: str) -> None:
    """Steps ``step`` of ``pdirs`` as tasks on the Dask cluster at ``address``; adaptations kept."""
    try:
        from distributed import Client
    except ImportError:
        raise ParameterError("a Dask scheduler address needs the 'distributed' package (pip install distributed)") from None
    try:
        client = Client(address, timeout=f"{DASK_CONNECT_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ParameterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        import uuid

        token = uuid.uuid4().hex  # fresh keys: a result the scheduler still holds is never reused
        futures = [client.submit(_patch_step_remote, step, str(run.out_dir.resolve()), run.params, str(pdir.resolve()),
                                 key=f"psi-step{step}-{pdir.name}-{token}", pure=False) for pdir in pdirs]
        for adaptations in client.gather(futures):
            run.adaptations.extend(adaptations)
    finally:
        client.close()


def run_patch_step(run: PsiRun, fn, pdirs: list[Path], dask_scheduler: str | None = None) -> None:
    """Run a per-patch step over patches: in turn, with Dask threads when ``n_cores > 1``, or
    as tasks on an existing Dask cluster when ``dask_scheduler`` is its address.

    Patches are independent (each reads and writes its own ``PATCH_n`` directory), so with
    several cores they are computed as ``dask.delayed`` tasks on the threaded scheduler (the
    numpy kernels release the GIL); progress bars are then replaced by log lines.  On a cluster
    the workers must see ``out_dir`` at the same path (shared file system).
    """
    if dask_scheduler:
        step = next(k for k, f in PATCH_STEPS.items() if f is fn)
        _run_on_scheduler(run, step, pdirs, dask_scheduler)
        return
    n_workers = min(run.params.n_cores or 1, len(pdirs))  # unset n_cores: one patch at a time (StaMPS)
    if n_workers <= 1:
        for pdir in pdirs:
            fn(run, pdir)
        return
    import dask

    show = run.show_progress
    run.show_progress = False
    try:
        tasks = [dask.delayed(fn)(run, pdir, dask_key_name=f"{fn.__name__}-{pdir.name}") for pdir in pdirs]
        dask.compute(*tasks, scheduler="threads", num_workers=n_workers)
    finally:
        run.show_progress = show


# ---------------------------------------------------------------------- driver
def run_psi(
    insar_dir: Path | None,
    out_dir: Path,
    start: int = 0,
    end: int = 8,
    param_updates: dict[str, Any] | None = None,
    mask_file: Path | None = None,
    show_progress: bool = True,
    patches: list[str] | None = None,
    dask_scheduler: str | None = None,
) -> dict:
    """Run steps ``start..end`` (0 = prep) in ``out_dir``; return the run summary.

    ``patches`` restricts the per-patch steps 1-4 to the named patch directories
    (``PATCH_n``), so that patches can be processed by separate workers.  ``dask_scheduler``
    (default: the ``SNAPSTAMPS_DASK_SCHEDULER`` environment variable) is the address of an
    existing Dask cluster whose workers then run steps 1-4, one task per patch.

    Parameters are read from ``out_dir/parms.json`` when it exists (a resumed run keeps
    what earlier runs set), updated with ``param_updates`` and saved back.
    """
    if not 0 <= start <= end <= 8:
        raise ParameterError(f"steps must satisfy 0 <= start <= end <= 8 (got start={start}, end={end})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    use_system_allocators()
    params = PsiParams.load(out_dir / "parms.json")
    if param_updates:
        params = params.with_updates(param_updates)
    from ..psi.config import check_native_support

    check_native_support(params)
    import os

    dask_scheduler = dask_scheduler or os.environ.get(DASK_SCHEDULER_ENV) or None
    if dask_scheduler:
        check_scheduler_address(dask_scheduler)
    run = PsiRun(out_dir=out_dir, params=params, insar_dir=insar_dir, show_progress=show_progress)
    prev = out_dir / "adaptations.json"
    if prev.exists() and start > 0:
        run.adaptations = [a for a in read_json(prev) if not _is_redone(a, start)]
    params.save(run.params_file)

    if start <= 0:
        step_prep(run, mask_file)
        run.params.save(run.params_file)
    for s in range(max(start, 1), end + 1):
        log.info("step %d: %s", s, STEPS[s])
        if s <= 4:
            pdirs = run.patch_dirs()
            if patches:
                unknown = set(patches) - {p.name for p in pdirs}
                if unknown:
                    raise ParameterError(f"unknown patch(es) {sorted(unknown)}; this run has {[p.name for p in pdirs]}")
                pdirs = [p for p in pdirs if p.name in set(patches)]
            run_patch_step(run, PATCH_STEPS[s], pdirs, dask_scheduler)
        elif s == 5:
            step_merge(run)
        elif s == 6:
            step_unwrap(run)
        elif s == 7:
            step_scla(run)
        else:
            step_scn(run)
        write_json(out_dir / "adaptations.json", run.adaptations)
        run.params.save(run.params_file)

    summary: dict[str, Any] = {"out_dir": str(out_dir), "steps": [start, end], "adaptations": run.adaptations}
    if end >= 7:
        current = products_current(run.out_dir, run.params, run.adaptations) if start == 8 else None
        if current is not None:  # step 8 alone, with a velocity type that does not read its output
            log.info("products: up to date (written by step 7; velocity_type %s does not use step 8)", run.params.velocity_type)
            summary["products"] = current
        else:
            from . import products  # pandas/pyarrow are needed only here

            release_freed_memory()
            with step_progress("products", show_progress):
                summary["products"] = products.write_run_products(run.out_dir, run.params, adaptations=run.adaptations)
    return summary


#: State files the products are computed from (``workflows.products.compute_point_table``).
PRODUCT_INPUTS = ("stack.json", "ps2.npz", "phuw2.npz", "scla2.npz", "ifgstd2.npz", "aps2.npz", "tropo2.npz")


def uses_scn(velocity_type: str) -> bool:
    """Whether the products of ``velocity_type`` read step 8's ``scn2.npz`` ('s' types but v-daps)."""
    return velocity_type != "v-daps" and "s" in velocity_type.split("-", 1)[1]


def products_current(out_dir: Path, params: PsiParams, adaptations: list[dict[str, Any]]) -> dict[str, str] | None:
    """The product paths when the products in ``out_dir`` are up to date, else None.

    Up to date: ``psi_metadata.json`` was written by this version with the same parameters and
    adaptations, every product file it lists exists, and no state file the products are computed
    from (:data:`PRODUCT_INPUTS`, plus ``scn2.npz`` for velocity types that use it) is newer.  A
    run of step 8 alone then need not rewrite them (the default velocity type does not use step 8).
    """
    import json

    from .. import __version__

    meta_path = out_dir / "psi_metadata.json"
    try:
        meta = json.loads(meta_path.read_text())
        written = meta_path.stat().st_mtime_ns
    except (OSError, ValueError):
        return None
    from ..io.jsonable import json_default

    def same(a: Any, b: Any) -> bool:
        return json.dumps(a, sort_keys=True, default=json_default) == json.dumps(b, sort_keys=True, default=json_default)

    if (meta.get("software", {}).get("version") != __version__ or meta.get("software", {}).get("backend") != "native"
            or not same(meta.get("parameters"), params.to_jsonable())
            or not same(meta.get("adapted_parameters"), list(adaptations))):
        return None
    inputs = PRODUCT_INPUTS + (("scn2.npz",) if uses_scn(params.velocity_type) else ())
    for name in inputs:
        try:
            if (out_dir / name).stat().st_mtime_ns > written:
                return None
        except FileNotFoundError:
            continue  # optional inputs (aps2, tropo2): their absence was what the products saw
    files = {k: str(out_dir / v) for k, v in meta.get("files", {}).items()}
    n_dates = len(meta.get("dates", []))
    needed = [p for k, p in files.items() if k != "ps_u-dm"] + [str(out_dir / f"ps_u-dm.{n}.xy") for n in range(1, n_dates + 1)]
    if not files or not all(Path(p).exists() for p in needed):
        return None
    return {**files, "psi_metadata.json": str(meta_path)}


def _is_redone(adaptation: dict, start: int) -> bool:
    name = adaptation["parameter"]
    if name.startswith("filter_grid_size"):
        return start <= 2
    if name == "unwrap_grid_size":
        return start <= 6
    return False
