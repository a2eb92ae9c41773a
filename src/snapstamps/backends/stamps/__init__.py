"""StaMPS backend of the psi pipeline: the real StaMPS, driven step by step, with native products.

:func:`run_stamps_psi` runs, in the processing directory ``OUT``:

0. ``mt_prep_snap <master> <INSAR dir> da_thresh rg_patches az_patches rg_overlap az_overlap [mask]``;
   then ``setparm`` for every StaMPS parameter of the typed :class:`~snapstamps.psi.config.PsiParams`
   (the same ``parms.json`` as the native engine);
1-8. ``stamps(s, s)`` for each step, one engine process per step.  As the native engine does, the
   CLAP grid (before step 2) and the unwrapping grid (before step 6) are reduced on scenes too
   small for them, and the change is recorded;
products. ``ps_plot('v-d', -1)`` and ``ps_output`` (StaMPS' own files kept in ``OUT/stamps_output/``),
   then the native products from StaMPS' ``.mat`` files (:mod:`.convert`).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ParameterError
from ...psi.config import PsiParams
from ...workflows.state import read_json, write_json
from .convert import load_mat, write_native_products
from .runner import StampsError, StampsInstall, describe_missing, find_stamps, setparm_code

__all__ = ["StampsError", "StampsInstall", "find_stamps", "run_stamps_psi", "stamps_available"]

log = logging.getLogger("snapstamps")

#: Files ``ps_output`` writes that the native products replace; kept under ``stamps_output/``.
PS_OUTPUT_FILES = ("ps_mean_v.xy", "ps_data.xy", "ps_mean_v_std.xy", "dem_error.xy", "ps_ij.txt", "ps_ll.txt",
                   "date.txt", "ph_w.flt", "ph_uw.flt")


def stamps_available() -> bool:
    """True when ``$STAMPS`` and an engine (octave-cli or matlab) are found."""
    return find_stamps() is not None


def _master_from_insar(insar_dir: Path) -> str:
    from ...io.stamps_export import open_stack

    return open_stack(insar_dir).master.strftime("%Y%m%d")


def _min_extent(xy: np.ndarray) -> float:
    return float(np.min(np.ptp(xy[:, -2:], axis=0))) if len(xy) > 1 else 0.0


def _adapt_filter_grid(out: Path, params: PsiParams) -> tuple[PsiParams, dict[str, Any] | None]:
    from ...workflows.psi import adapted_grid_size

    sizes = []
    plist = out / "patch.list"
    for name in plist.read_text().split() if plist.exists() else []:
        ps1 = load_mat(out / name / "ps1.mat", needed=False)
        if ps1 and "xy" in ps1 and np.asarray(ps1["xy"]).shape[0] > 1:
            ext = _min_extent(np.asarray(ps1["xy"], float))
            sizes.append((adapted_grid_size(ext, params.filter_grid_size, params.clap_win), ext))
    if not sizes:
        return params, None
    g, ext = min(sizes)
    if g == params.filter_grid_size:
        return params, None
    return params.with_updates({"filter_grid_size": g}), {
        "parameter": "filter_grid_size", "from": params.filter_grid_size, "to": g,
        "reason": f"smallest patch is {ext:.0f} m across; the CLAP filter needs {params.clap_win} cells per dimension",
    }


def _adapt_unwrap_grid(out: Path, params: PsiParams) -> tuple[PsiParams, dict[str, Any] | None]:
    from ...workflows.psi import adapted_grid_size

    ps2 = load_mat(out / "ps2.mat", needed=False)
    if not ps2 or "xy" not in ps2:
        return params, None
    ext = _min_extent(np.asarray(ps2["xy"], float))
    g = adapted_grid_size(ext, params.unwrap_grid_size, params.unwrap_gold_n_win)
    if g == params.unwrap_grid_size:
        return params, None
    return params.with_updates({"unwrap_grid_size": g}), {
        "parameter": "unwrap_grid_size", "from": params.unwrap_grid_size, "to": g,
        "reason": f"PS area is {ext:.0f} m across; snaphu's prefilter needs {params.unwrap_gold_n_win} cells per dimension",
    }


def run_stamps_psi(
    insar_dir: Path | None,
    out_dir: Path,
    start: int = 0,
    end: int = 8,
    param_updates: dict[str, Any] | None = None,
    mask_file: Path | None = None,
    install: StampsInstall | None = None,
    keep_stamps_output: bool = True,
) -> dict[str, Any]:
    """Run StaMPS steps ``start..end`` in ``out_dir`` and, when ``end >= 7``, write the native products."""
    if not 0 <= start <= end <= 8:
        raise ParameterError(f"steps must satisfy 0 <= start <= end <= 8 (got start={start}, end={end})")
    inst = install or find_stamps()
    if inst is None:
        raise StampsError(f"StaMPS backend unavailable: {describe_missing()}")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    params = PsiParams.load(out / "parms.json")
    if param_updates:
        params = params.with_updates(param_updates)
    params.save(out / "parms.json")
    adapt_file = out / "adaptations.json"
    adaptations: list[dict[str, Any]] = read_json(adapt_file) if adapt_file.exists() and start > 0 else []
    timings: dict[str, float] = {}

    if start == 0:
        if insar_dir is None:
            raise ParameterError("step 0 (mt_prep_snap) needs the INSAR_<master> directory")
        insar = Path(insar_dir).resolve()
        master = _master_from_insar(insar)
        log.info("stamps: mt_prep_snap %s %s", master, insar)
        timings["mt_prep_snap"] = inst.run_prep(master, insar, params, out, logs / "stamps_0_mt_prep_snap.log", mask_file)
    if not (out / "parms.mat").exists() and end >= 1:
        raise StampsError(f"{out / 'parms.mat'}: missing; mt_prep_snap (step 0) has not run in this directory")
    if end >= 1:
        inst.run_code(setparm_code(params), out, logs / "stamps_setparm.log", "setparm")

    for s in range(max(start, 1), end + 1):
        change = None
        if s == 2:
            params, change = _adapt_filter_grid(out, params)
            adaptations = [a for a in adaptations if a["parameter"] != "filter_grid_size"]
        elif s == 6:
            params, change = _adapt_unwrap_grid(out, params)
            adaptations = [a for a in adaptations if a["parameter"] != "unwrap_grid_size"]
        if change:
            log.warning("adapted %s: %s -> %s (%s)", change["parameter"], change["from"], change["to"], change["reason"])
            adaptations.append(change)
            inst.run_code(setparm_code(params, only=[change["parameter"]]), out, logs / f"stamps_setparm_{s}.log", "setparm")
        log.info("stamps: step %d", s)
        timings[f"step_{s}"] = inst.run_code(f"stamps({s},{s});", out, logs / f"stamps_{s}.log", f"StaMPS step {s}")
        write_json(adapt_file, adaptations)

    summary: dict[str, Any] = {"out_dir": str(out), "steps": [start, end], "adaptations": adaptations,
                               "backend": "stamps", "engine": inst.engine, "timings_s": timings}
    if end >= 7:
        try:
            timings["ps_output"] = inst.run_code("ps_plot('v-d', -1); ps_output;", out, logs / "stamps_ps_output.log",
                                                 "ps_plot/ps_output")
        except StampsError as exc:  # StaMPS' own text files are a bonus; the products come from the .mat files
            log.warning("StaMPS ps_output failed, its own files are missing: %s", exc)
        if keep_stamps_output:
            keep = out / "stamps_output"
            keep.mkdir(exist_ok=True)
            for pat in (*PS_OUTPUT_FILES, "ps_u-dm.*.xy"):
                for f in out.glob(pat):
                    shutil.move(str(f), keep / f.name)
        summary["products"] = write_native_products(
            out, params, Path(insar_dir) if insar_dir else None, adaptations,
            {"engine": inst.engine, "stamps": str(inst.root), "converted": dt.datetime.now(dt.timezone.utc).isoformat()},
        )
    return summary
