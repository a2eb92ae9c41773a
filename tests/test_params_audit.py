"""No silent parameters: every PsiParams field is implemented by the native engine or refused with an
error that says so; `drop_ifg_index` works end to end."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import snapstamps
from snapstamps.errors import ParameterError
from snapstamps.psi.config import NATIVE_LIMITS, PsiParams, check_native_support
from snapstamps.workflows.psi import run_psi

SRC = Path(snapstamps.__file__).parent
#: values the native engine does not implement, one per limited parameter
UNSUPPORTED = {
    "quick_est_gamma_flag": "n", "slc_osf": 2.0, "merge_resample_size": 100.0, "merge_standard_dev": 1.0,
    "unwrap_patch_phase": "y", "unwrap_spatial_cost_func_flag": "y", "unwrap_alpha": 4.0,
    "unwrap_hold_good_values": "y", "scn_kriging_flag": "y", "tropo_method": "a_era5",
}


def _kernel_keywords() -> set[str]:
    """Keyword-only argument names of the numerical kernels (the workflow fills them from PsiParams)."""
    import importlib
    import inspect
    import pkgutil

    import snapstamps.psi as kernels

    names: set[str] = set()
    for info in pkgutil.iter_modules(kernels.__path__):
        mod = importlib.import_module(f"snapstamps.psi.{info.name}")
        for _, fn in inspect.getmembers(mod, inspect.isfunction):
            if fn.__module__ == mod.__name__:
                names |= {n for n, p in inspect.signature(fn).parameters.items()
                          if p.kind is inspect.Parameter.KEYWORD_ONLY}
    return names


def test_every_parameter_is_used_or_refused():
    """A field no module but the config mentions would be accepted and ignored: forbid that."""
    code = "\n".join(p.read_text() for p in SRC.rglob("*.py") if p.name != "config.py" or p.parent.name != "psi")
    code = code.replace("NOT_SETPARM", "")
    kernel_kw = _kernel_keywords()
    silent = [
        name for name in PsiParams.model_fields
        if name not in NATIVE_LIMITS and name not in kernel_kw and not re.search(rf"\.{name}\b", code)
    ]
    assert silent == [], f"parameters neither used by the engine nor refused: {silent}"
    assert set(UNSUPPORTED) == set(NATIVE_LIMITS)


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unimplemented_value_is_refused_with_a_clear_error(name, tmp_path):
    params = PsiParams().with_updates({name: UNSUPPORTED[name]})
    with pytest.raises(ParameterError, match=rf"{name}=.*not implemented by the native engine"):
        check_native_support(params)
    # the pipeline refuses before doing anything
    with pytest.raises(ParameterError, match="not implemented by the native engine"):
        run_psi(None, tmp_path / "run", start=7, end=7, param_updates={name: UNSUPPORTED[name]}, show_progress=False)
    assert not (tmp_path / "run" / "parms.json").exists() or "scla2.npz" not in [p.name for p in (tmp_path / "run").iterdir()]


def test_defaults_are_supported():
    check_native_support(PsiParams())
    for name, value in (("tropo_method", "a_gacos"), ("merge_standard_dev", math.inf), ("unwrap_alpha", 8.0)):
        check_native_support(PsiParams().with_updates({name: value}))


def test_cli_refuses_in_one_line(tmp_path, capsys):
    from snapstamps.cli import main

    rc = main(["psi", "--out", str(tmp_path / "x"), "--start", "7", "--param", "scn_kriging_flag=y"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1 and "scn_kriging_flag" in err[0] and "not implemented" in err[0]


@pytest.mark.slow
def test_drop_ifg_index_removes_a_corrupted_image(tmp_path):
    """An interferogram replaced by noise is left out everywhere when named in drop_ifg_index."""
    from snapstamps.evaluate import evaluate_dir
    from snapstamps.simulate.stamps_stack import SimConfig, load_truth, simulate_stamps_stack

    sim = tmp_path / "sim"
    insar = simulate_stamps_stack(sim, SimConfig(width=200, length=400, n_dates=20, seed=7, aps_std_mm=0.5))
    truth = load_truth(sim)
    bad = 3  # 0-based image; not the master
    assert bad != int(truth["master_ix"])
    ms = str(truth["dates"][int(truth["master_ix"])])
    f = insar / "diff0" / f"{ms}_{truth['dates'][bad]}.diff"
    z = np.fromfile(f, dtype=">c8")
    rng = np.random.default_rng(0)
    (np.abs(z) * np.exp(1j * rng.uniform(-np.pi, np.pi, z.size))).astype(">c8").tofile(f)

    out = tmp_path / "psi"
    run_psi(insar, out, param_updates={"drop_ifg_index": [bad + 1]}, show_progress=False)
    acc = evaluate_dir(out, sim)
    assert acc["precision"] >= 0.95 and acc["recall"] >= 0.95
    assert acc["velocity_rmse_mm_yr"] <= 1.5
    pts = pd.read_csv(out / "ps_points.csv")
    assert pts[str(truth["dates"][bad])].isna().all()  # the dropped image has no displacement
    assert pts[str(truth["dates"][0])].abs().max() < 1e-9  # relative to the first date
