"""The Python API (``snapstamps.run_psi``, ``open_step``...) on a small simulated stack.

What each step saved is read back through :func:`snapstamps.open_step` and compared with the
simulator's truth (geometry, phase, coherence of true PS against clutter, DEM errors); a run
split into steps 0-2 and 3-8 gives the same products as one run 0-8.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import snapstamps
from snapstamps.errors import ParameterError, StepOrderError
from snapstamps.psi.config import PsiParams
from snapstamps.simulate.stamps_stack import SimConfig, load_truth, simulate_stamps_stack

pytestmark = pytest.mark.slow


def _key(line: Any, pixel: Any) -> np.ndarray:
    return np.asarray(line, np.int64) * 100_000 + np.asarray(pixel, np.int64)


def _unique_points(ds: Any) -> Any:
    """One row per pixel (patches overlap)."""
    return ds.isel(point=np.unique(_key(ds.line, ds.pixel), return_index=True)[1])


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    d = tmp_path_factory.mktemp("sim")
    insar = simulate_stamps_stack(d, SimConfig(width=120, length=300, n_dates=12, seed=3))
    return insar, load_truth(d)


@pytest.fixture(scope="module")
def stepwise(sim: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Steps 0-2, then 3-8 resumed with ``stack=None``, two patches."""
    insar, _ = sim
    out = tmp_path_factory.mktemp("stepwise") / "psi"
    first = snapstamps.run_psi(insar, out, params={"rg_patches": 2, "da_t": 0.4}, end=2, progress=False)
    missing = None
    try:
        snapstamps.open_step(out, 6)
    except StepOrderError as exc:
        missing = str(exc)
    second = snapstamps.run_psi(None, out, start=3, progress=False)
    return {"out": out, "first": first, "second": second, "missing_before_step_6": missing}


def test_import_is_light_and_exports_the_api() -> None:
    code = ("import sys, snapstamps; heavy = [m for m in ('numpy', 'pandas', 'xarray', 'pydantic', 'requests') "
            "if m in sys.modules]; assert not heavy, heavy; print(snapstamps.__version__)")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    from snapstamps import api, client

    assert snapstamps.run_psi is api.run_psi and snapstamps.open_step is api.open_step
    assert snapstamps.Client is client.Client and snapstamps.PsiParams is PsiParams
    assert {"run_psi", "run_ifg_stack", "open_step", "open_points", "open_displacements", "Client"} <= set(dir(snapstamps))
    with pytest.raises(AttributeError, match="no_such_name"):
        snapstamps.no_such_name  # noqa: B018


def test_summaries_say_what_ran(stepwise: dict[str, Any]) -> None:
    first, second = stepwise["first"], stepwise["second"]
    assert (first.start, first.end, first.backend, first.products) == (0, 2, "native", {})
    assert (second.start, second.end) == (3, 8)
    assert second.products["ps_points.parquet"] == stepwise["out"] / "ps_points.parquet"
    assert all(p.exists() for k, p in second.products.items() if "<" not in str(p))
    saved = json.loads((stepwise["out"] / "parms.json").read_text())
    assert saved["rg_patches"] == 2 and saved["da_thresh"] == 0.4  # "da_t": unique prefix, as getparm
    # before step 6 had run, its state was missing and the error named the file
    assert stepwise["missing_before_step_6"] and "ps2.npz" in stepwise["missing_before_step_6"]


def test_step0_candidates_hold_every_true_ps_and_their_phase(sim: tuple[Path, dict], stepwise: dict) -> None:
    _, truth = sim
    ds0 = snapstamps.open_step(stepwise["out"], 0)
    assert set(ds0.patch_name.values) == {"PATCH_1", "PATCH_2"} and ds0.sizes["ifg"] == 11
    assert float(ds0.amplitude_dispersion.max()) < 0.4  # the candidates' definition
    ds0 = _unique_points(ds0)
    common, i, j = np.intersect1d(_key(ds0.line, ds0.pixel), _key(truth["ps_line"], truth["ps_pixel"]),
                                  return_indices=True)
    assert len(common) == len(truth["ps_line"])  # every simulated PS is a candidate
    # ifg phase of strong PS = the simulated model (master minus secondary), within clutter noise
    mi = int(truth["master_ix"])
    model = np.delete(truth["ps_phase_model"][j], mi, axis=1)
    res = np.angle(ds0.phase.values[i] * np.exp(-1j * model))
    strong = truth["ps_scr_db"][j] > 20
    assert np.sqrt(np.mean(res[strong] ** 2)) < 0.2


def test_step1_geometry_matches_the_simulated_geometry(sim: tuple[Path, dict], stepwise: dict) -> None:
    _, truth = sim
    ds1 = _unique_points(snapstamps.open_step(stepwise["out"], 1))
    assert list(ds1.date.dt.strftime("%Y%m%d").values) == list(truth["dates"])
    common, i, j = np.intersect1d(_key(ds1.line, ds1.pixel), _key(truth["ps_line"], truth["ps_pixel"]),
                                  return_indices=True)
    mi = int(truth["master_ix"])
    assert np.all(ds1.bperp.values[i, mi] == 0)
    np.testing.assert_allclose(np.delete(ds1.bperp.values[i], mi, axis=1), truth["ps_bperp_m"][j], atol=0.05)
    np.testing.assert_allclose(ds1.incidence_angle.values[i], np.degrees(truth["ps_inc"][j]), atol=1e-6)
    np.testing.assert_allclose(ds1.slant_range.values[i], truth["ps_range"][j], atol=0.01)
    np.testing.assert_allclose(ds1.lon.values[i], truth["ps_lonlat"][j, 0], atol=1e-9)


def test_step2_coherence_separates_ps_from_clutter(sim: tuple[Path, dict], stepwise: dict) -> None:
    _, truth = sim
    ds2 = snapstamps.open_step(stepwise["out"], 2)
    # the CLAP grid adapted to the small patches is the one the summary reported
    adapted = {a["parameter"]: a["to"] for a in stepwise["first"].adaptations}
    for name in ds2.patch_name.values:
        assert float(ds2.grid_size.sel(patch_name=name)) == pytest.approx(adapted[f"filter_grid_size[{name}]"])
    assert ds2.random_phase_histogram.sum("coherence_bin").values.tolist() == [300_000, 300_000]  # n_rand
    ds2 = _unique_points(ds2)
    is_ps = np.isin(_key(ds2.line, ds2.pixel), _key(truth["ps_line"], truth["ps_pixel"]))
    coh = ds2.temporal_coherence.values
    assert np.quantile(coh[is_ps], 0.05) > 0.9
    assert np.median(coh[~is_ps]) < 0.6
    one = snapstamps.open_step(stepwise["out"], 2, patch="PATCH_1")
    assert set(one.patch.values) == {"PATCH_1"} and one.phase_grid.ndim == 3 and one.low_pass.shape == (32, 32)


def test_steps_3_to_5_narrow_the_set(stepwise: dict) -> None:
    out = stepwise["out"]
    ds3, ds4, ds5 = (snapstamps.open_step(out, s) for s in (3, 4, 5))
    kept3 = set(_key(ds3.line[ds3.kept], ds3.pixel[ds3.kept]).tolist())
    k4 = set(_key(ds4.line, ds4.pixel).tolist())
    k5 = _key(ds5.line, ds5.pixel)
    assert k4 <= kept3 and set(k5.tolist()) <= k4
    assert len(np.unique(k5)) == len(k5)  # merged: one PS per pixel
    assert "patch" not in ds5.coords and ds5.ifg_std.dims == ("date",)
    assert float(ds5.ifg_std.isel(date=int(np.argmin(np.abs(ds5.bperp.mean("point").values))))) >= 0


def test_step6_to_8_and_dem_error(sim: tuple[Path, dict], stepwise: dict) -> None:
    _, truth = sim
    out = stepwise["out"]
    ds6 = snapstamps.open_step(out, 6)
    mi = int(truth["master_ix"])
    assert np.all(ds6.phase_unwrapped.values[:, mi] == 0)
    ds7 = stepwise["second"].open_step(7)
    common, i, j = np.intersect1d(_key(ds7.line, ds7.pixel), _key(truth["ps_line"], truth["ps_pixel"]),
                                  return_indices=True)
    assert len(common) >= 0.95 * len(truth["ps_line"])
    err = ds7.dem_error.values[i] - truth["ps_dem_error_m"][j]
    assert np.sqrt(np.mean(err**2)) < 2.0  # m
    ds8 = stepwise["second"].open_step()  # the last step run
    assert ds8.attrs["step"] == 8 and ds8.slave_aps.shape == ds6.phase_unwrapped.shape


def test_products_read_as_pandas_and_xarray(sim: tuple[Path, dict], stepwise: dict) -> None:
    _, truth = sim
    out = stepwise["out"]
    pts = snapstamps.open_points(out)
    csv = pd.read_csv(out / "ps_points.csv")
    assert list(pts.columns) == list(csv.columns) and len(pts) == len(csv)
    np.testing.assert_allclose(pts["mean_velocity"], csv["mean_velocity"], atol=1e-5)  # CSV: 6 decimals
    disp = snapstamps.open_displacements(out)
    assert disp.dims == ("point", "date") and disp.sizes["date"] == len(truth["dates"])
    assert np.all(disp.isel(date=0).values == 0)  # relative to the first date (EGMS)
    assert "first date" in disp.attrs["description"]
    np.testing.assert_array_equal(disp.sel(date="2024-01-05").values, pts["20240105"].to_numpy())
    common, i, j = np.intersect1d(_key(disp.line, disp.pixel), _key(truth["ps_line"], truth["ps_pixel"]),
                                  return_indices=True)
    e = disp.mean_velocity.values[i] - truth["ps_velocity_mm_yr"][j]
    assert np.std(e) < 4.0  # mm/yr, 12 dates over 4 months


def test_open_points_geo(stepwise: dict) -> None:
    try:
        import geopandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="geopandas"):
            snapstamps.open_points(stepwise["out"], geo=True)
    else:
        g = snapstamps.open_points(stepwise["out"], geo=True)
        assert g.crs.to_epsg() == 4326 and np.allclose(g.geometry.x, g["longitude"]) and np.allclose(g.geometry.y, g["latitude"])


def test_a_resumed_run_gives_the_products_of_one_run(sim: tuple[Path, dict], stepwise: dict, tmp_path: Path) -> None:
    insar, _ = sim
    whole = snapstamps.run_psi(insar, tmp_path / "psi", params=PsiParams(rg_patches=2), progress=False)
    a, b = snapstamps.open_points(stepwise["out"]), whole.open_points()
    pd.testing.assert_frame_equal(a, b)
    assert json.loads((tmp_path / "psi" / "parms.json").read_text())["rg_patches"] == 2


def test_bad_arguments_are_refused(sim: tuple[Path, dict], stepwise: dict, tmp_path: Path) -> None:
    insar, _ = sim
    with pytest.raises(ParameterError, match="no_such_parameter"):
        snapstamps.run_psi(insar, tmp_path / "a", params={"no_such_parameter": 1})
    with pytest.raises(ParameterError, match="da_thresh"):
        snapstamps.run_psi(insar, tmp_path / "a", params={"da_thresh": -1})
    with pytest.raises(ParameterError, match="start"):
        snapstamps.run_psi(insar, tmp_path / "a", start=5, end=2)
    with pytest.raises(ParameterError, match="stack is needed"):
        snapstamps.run_psi(None, tmp_path / "a")
    with pytest.raises(ParameterError, match="params"):
        snapstamps.run_psi(insar, tmp_path / "a", params=[("da_thresh", 0.3)])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="backend"):
        snapstamps.run_psi(insar, tmp_path / "a", backend="matlab")
    assert not (tmp_path / "a" / "stack.json").exists()  # nothing ran
    with pytest.raises(ParameterError, match="step"):
        snapstamps.open_step(stepwise["out"], 9)
    with pytest.raises(ParameterError, match="PATCH_9"):
        snapstamps.open_step(stepwise["out"], 1, patch="PATCH_9")
    with pytest.raises(ParameterError, match="merged"):
        snapstamps.open_step(stepwise["out"], 6, patch="PATCH_1")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StepOrderError, match="stack.json"):
        snapstamps.open_step(empty, 0)
    with pytest.raises(StepOrderError, match="ps_points"):
        snapstamps.open_points(empty)
    shutil.copy(stepwise["out"] / "stack.json", empty / "stack.json")
    with pytest.raises(StepOrderError, match="scn2.npz|ps2.npz"):
        snapstamps.open_step(empty, 8)


def test_run_ifg_stack_then_psi_prep(tmp_path: Path) -> None:
    """The interferogram stack through the API: baselines and ESD shifts against the simulated
    truth, then its INSAR directory straight into run_psi."""
    pytest.importorskip("xarray_sentinel")
    from snapstamps.simulate.safe_stack import SafeSimConfig, simulate_safe_stack

    d = tmp_path / "sim"
    s = simulate_safe_stack(d, SafeSimConfig(n_dates=4, seed=1, n_samples=300, baselines=[-60.0, 40.0, 0.0, 90.0]))
    c = s["scene_centre_lonlat"]
    bbox = (c[0] - 0.01, c[1] - 0.008, c[0] + 0.01, c[1] + 0.008)
    ref = d / s["reference"]
    secs = [d / p for p in s["products"] if d / p != ref]
    lines: list[str] = []
    with pytest.raises(ParameterError, match="bbox"):
        snapstamps.run_ifg_stack(ref, secs, tmp_path / "x", bbox=bbox[:3], dem=d / s["dem"])
    with pytest.raises(ParameterError, match="backend"):
        snapstamps.run_ifg_stack(ref, secs, tmp_path / "x", bbox=bbox, dem=d / s["dem"], backend="gamma")
    insar = snapstamps.run_ifg_stack(ref, secs, tmp_path / "stack", bbox=bbox, dem=d / s["dem"], orbits=d / "orbits",
                                     subswath="IW1", log=lines.append)
    assert insar == tmp_path / "stack" / f"INSAR_{s['dates'][s['reference_index']]}" and insar.is_dir()
    assert any(ln.startswith("pair ") for ln in lines)
    info = json.loads((tmp_path / "stack" / "ifg_stack.json").read_text())
    ref_ix = s["reference_index"]
    for pair in info["pairs"]:
        k = s["dates"].index(pair["date"].replace("-", ""))
        assert abs(pair["bperp_centre_m"] - s["bperp_scene_centre_m"][k]) < 0.5
        true_shift = s["timing_error_lines"][k] - s["timing_error_lines"][ref_ix]
        assert abs(pair["esd_shift_lines"] - true_shift) < 0.002
    snapstamps.run_psi(insar, tmp_path / "psi", end=0, progress=False)
    ds0 = snapstamps.open_step(tmp_path / "psi", 0)
    assert ds0.sizes["point"] > 0 and ds0.sizes["ifg"] == 3
    assert (bbox[0] - 0.01 < ds0.lon).all() and (ds0.lon < bbox[2] + 0.01).all()
