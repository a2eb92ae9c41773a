"""StaMPS backend: parameters, the Octave compatibility layer, the step driver and the .mat conversion.

The Octave tests run real ``octave-cli`` against a *fake* StaMPS install (``stamps.m``,
``setparm.m``, ``ps_plot.m``, ``ps_output.m`` and an ``mt_prep_snap`` script that record their
calls), so they check what the backend issues without the real StaMPS.  They skip when
``octave-cli`` is not installed (``apt-get install -y --no-install-recommends octave``).
"""

from __future__ import annotations

import math
import shutil
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat

from snapstamps.backends.dispatch import resolve_psi_backend, run_psi_backend
from snapstamps.backends.stamps import run_stamps_psi
from snapstamps.backends.stamps.convert import DATENUM_OFFSET, write_native_products
from snapstamps.backends.stamps.runner import NOT_SETPARM, StampsInstall, matlab_literal, setparm_calls
from snapstamps.io.stamps_export import open_stack
from snapstamps.psi.config import PsiParams
from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

OCTAVE = shutil.which("octave-cli")
needs_octave = pytest.mark.skipif(
    OCTAVE is None, reason="octave-cli not installed (apt-get install -y --no-install-recommends octave)"
)


# ---------------------------------------------------------------------- parameters
def test_setparm_values_cover_stamps_parameters():
    p = PsiParams().with_updates({"weed_standard_dev": 1.2, "drop_ifg_index": [3, 1], "ref_lon": (10.0, math.inf)})
    calls = dict(setparm_calls(p))
    assert calls["weed_standard_dev"] == "1.2"
    assert calls["drop_ifg_index"] == "[1 3]"
    assert calls["ref_lon"] == "[10.0 inf]"
    assert calls["weed_max_noise"] == "inf"
    assert calls["filter_weighting"] == "'P-square'"
    assert calls["scla_drop_index"] == "[]"
    assert not set(calls) & NOT_SETPARM  # prep arguments and native-only knobs are not setparm'd
    assert matlab_literal("it's") == "'it''s'"
    assert resolve_psi_backend("native") == "native"


# ---------------------------------------------------------------------- fake StaMPS
FAKE_M = {
    "stamps.m": """function stamps(a, b)
  fid = fopen('calls.log', 'a'); fprintf(fid, 'stamps %d %d\\n', a, b); fclose(fid);
  if a == 1
    xy = [(1:30)', (0:29)' * 30, (0:29)' * 25];
    save('PATCH_1/ps1', 'xy');
  elseif a == 5
    copyfile(fullfile(getenv('FAKE_MATS'), '*.mat'), '.');
  end
end
""",
    "setparm.m": """function setparm(name, value)
  if ischar(value), s = ['''' value '''']; else, s = mat2str(value); end
  fid = fopen('calls.log', 'a'); fprintf(fid, 'setparm %s %s\\n', name, s); fclose(fid);
end
""",
    "ps_plot.m": """function ps_plot(kind, bg)
  fid = fopen('calls.log', 'a'); fprintf(fid, 'ps_plot %s %d\\n', kind, bg); fclose(fid);
end
""",
    "ps_output.m": """function ps_output()
  fid = fopen('calls.log', 'a'); fprintf(fid, 'ps_output\\n'); fclose(fid);
  v = [1 2 3];
  save('ps_mean_v.xy', 'v', '-ASCII');
end
""",
    "ps_parms_initial.m": """small_baseline_flag = 'n';
save('parms', 'small_baseline_flag');
""",
    "compat_probe.m": """function compat_probe()
  % exercises the compatibility layer from inside a function, as StaMPS does
  inner = [1 2; 3 4]; label = 'ok';
  save('probe', 'inner', 'label');
  save('probe_v73.mat', 'inner', '-v7.3');
  save('probe.txt', 'inner', '-ASCII', '-DOUBLE', '-TABS');
  eval('!touch bang_ok');
  eval('twice = 2 * inner(1, 2);');
  fid = fopen('probe_eval.txt', 'w'); fprintf(fid, '%d', twice); fclose(fid);
  [st, out] = system('echo from-bash >& /dev/stdout');
  fid = fopen('probe_system.txt', 'w'); fprintf(fid, '%d|%s', st, strtrim(out)); fclose(fid);
  r = version('-release');
  fid = fopen('probe_version.txt', 'w'); fprintf(fid, '%s', r(1:4)); fclose(fid);
  m = nanmean([1 NaN 3; 5 7 NaN]);
  s = nanstd([1 NaN 3]);
  fid = fopen('probe_nan.txt', 'w'); fprintf(fid, '%.12g %.12g %.12g', m(1), m(2), s); fclose(fid);
end
""",
}

FAKE_PREP = """#!/bin/sh
# fake mt_prep_snap: records its arguments and runs ps_parms_initial through 'matlab', as the real one
echo "mt_prep_snap $*" >> calls.log
echo snap > processor.txt
echo "$2/rslc/$1.rslc.par" > rsc.txt
mkdir -p PATCH_1
echo PATCH_1 > patch.list
echo ps_parms_initial | matlab -nojvm -nosplash
"""


def fake_stamps(root: Path) -> StampsInstall:
    (root / "matlab").mkdir(parents=True)
    (root / "bin").mkdir()
    for name, text in FAKE_M.items():
        (root / "matlab" / name).write_text(text)
    prep = root / "bin" / "mt_prep_snap"
    prep.write_text(FAKE_PREP)
    prep.chmod(prep.stat().st_mode | stat.S_IEXEC)
    return StampsInstall(root=root, engine="octave", executable=OCTAVE or "octave-cli", timeout_s=60)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    return simulate_stamps_stack(out, SimConfig(width=40, length=60, n_dates=6, seed=3))


def stamps_mats(stack_dir: Path, dest: Path, n: int = 60, seed: int = 1) -> dict[str, np.ndarray]:
    """StaMPS-like merged ``*2.mat`` files for ``n`` PS with known velocities; returns the truth."""
    st = open_stack(stack_dir)
    rng = np.random.default_rng(seed)
    dates = st.dates
    m, mi = len(dates), st.master_ix
    lines = rng.integers(0, st.par.length, n)
    pixels = rng.integers(0, st.par.width, n)
    lonlat = np.column_stack([12.0 + pixels * 1e-4, 41.0 + lines * 1e-4])
    day = np.array([d.toordinal() + DATENUM_OFFSET for d in dates], float)
    t = (day - day[mi]) / 365.25
    lam = st.par.wavelength
    v_mm = rng.normal(0, 5, n)
    ph_uw = (-(4 * np.pi / lam) * (v_mm[:, None] / 1000.0) * t[None, :]).astype(np.float32)
    bperp = np.array([-50.0, 35.0, 10.0, -20.0, 45.0, -5.0, 25.0, -40.0])[:m]  # not collinear with time
    bperp[mi] = 0
    K = rng.normal(0, 1e-3, n)
    ph_scla = (K[:, None] * bperp[None, :]).astype(np.float32)
    ph_uw = ph_uw + ph_scla
    xy = np.column_stack([np.arange(1, n + 1), pixels * 14.0, lines * 4.0])
    dest.mkdir(parents=True, exist_ok=True)
    savemat(dest / "ps2.mat", {
        "ij": np.column_stack([np.arange(1, n + 1), lines, pixels]).astype(float), "lonlat": lonlat, "xy": xy,
        "ll0": lonlat.mean(axis=0)[None, :], "day": day[:, None], "master_ix": float(mi + 1),
        "bperp": bperp[:, None], "n_ps": float(n),
    })
    savemat(dest / "bp2.mat", {"bperp_mat": np.tile(np.delete(bperp, mi), (n, 1)).astype(np.float32)})
    savemat(dest / "pm2.mat", {"coh_ps": rng.uniform(0.7, 1, (n, 1))})
    savemat(dest / "hgt2.mat", {"hgt": rng.uniform(0, 100, (n, 1))})
    savemat(dest / "la2.mat", {"la": np.full((n, 1), np.radians(39.0))})
    savemat(dest / "da2.mat", {"D_A": rng.uniform(0.1, 0.4, (n, 1))})
    savemat(dest / "phuw2.mat", {"ph_uw": ph_uw, "msd": np.zeros((m, 1))})
    savemat(dest / "scla2.mat", {"ph_scla": ph_scla, "K_ps_uw": K[:, None], "C_ps_uw": np.zeros((n, 1))})
    savemat(dest / "ifgstd2.mat", {"ifg_std": np.full((m, 1), 10.0)})
    return {"v": v_mm, "lonlat": lonlat, "lines": lines, "pixels": pixels, "dates": dates}


def check_products(out: Path, truth: dict) -> pd.DataFrame:
    table = pd.read_csv(out / "ps_points.csv")
    cols = ["pid", "latitude", "longitude", "easting", "northing", "height", "height_wgs84", "line", "pixel",
            "mean_velocity", "mean_velocity_std", "acceleration", "acceleration_std", "seasonality",
            "seasonality_std", "rmse", "temporal_coherence", "amplitude_dispersion", "incidence_angle",
            "los_east", "los_north", "los_up", "dem_error"]
    assert list(table.columns[: len(cols)]) == cols
    assert list(table.columns[len(cols):]) == [d.strftime("%Y%m%d") for d in truth["dates"]]
    assert np.array_equal(table["line"], truth["lines"]) and np.array_equal(table["pixel"], truth["pixels"])
    v_true = truth["v"] - truth["v"].mean()  # reference area = mean of all PS
    assert np.allclose(table["mean_velocity"], v_true, atol=0.05)
    assert np.allclose(table["incidence_angle"], 39.0)
    for name in ("ps_mean_v.xy", "ps_data.xy", "ps_u-dm.1.xy", "ps_points.parquet", "psi_metadata.json"):
        assert (out / name).exists(), name
    return table


def test_mat_conversion_gives_native_products(stack, tmp_path):
    out = tmp_path / "proc"
    truth = stamps_mats(stack, out)
    (out / "rsc.txt").write_text(str(stack / "rslc" / f"{open_stack(stack).master:%Y%m%d}.rslc.par") + "\n")
    write_native_products(out, PsiParams(), stack)
    check_products(out, truth)
    import json

    meta = json.loads((out / "psi_metadata.json").read_text())
    assert meta["software"]["backend"] == "stamps"
    assert meta["master"] == open_stack(stack).master.isoformat()


# ---------------------------------------------------------------------- real Octave
@needs_octave
def test_octave_compatibility_layer(tmp_path):
    from scipy.io import loadmat

    inst = fake_stamps(tmp_path / "StaMPS")
    work = tmp_path / "work"
    work.mkdir()
    inst.run_code("compat_probe;", work, work / "probe.log", "compat probe")
    d = loadmat(work / "probe.mat")  # '.mat' appended, MAT v7, caller's variables
    assert d["inner"].tolist() == [[1, 2], [3, 4]] and d["label"][0] == "ok"
    assert loadmat(work / "probe_v73.mat")["inner"].shape == (2, 2)  # -v7.3 mapped to a readable format
    assert np.loadtxt(work / "probe.txt").tolist() == [[1, 2], [3, 4]]  # -ASCII lower-cased, -double/-tabs dropped
    assert (work / "bang_ok").exists()  # eval('!cmd') runs the shell command
    assert (work / "probe_eval.txt").read_text() == "4"  # plain eval in the caller's workspace
    assert (work / "probe_system.txt").read_text() == "0|from-bash"  # '>&' works: bash, not dash
    assert (work / "probe_version.txt").read_text() == "2018"
    assert [float(x) for x in (work / "probe_nan.txt").read_text().split()] == pytest.approx([3, 7, math.sqrt(2)])


@needs_octave
def test_stamps_backend_issues_prep_setparm_steps_and_output(stack, tmp_path, monkeypatch):
    inst = fake_stamps(tmp_path / "StaMPS")
    mats = tmp_path / "mats"
    truth = stamps_mats(stack, mats)
    monkeypatch.setenv("FAKE_MATS", str(mats))
    out = tmp_path / "proc"
    summary = run_stamps_psi(stack, out, 0, 8, {"weed_standard_dev": 1.1, "da_thresh": 0.42, "rg_patches": 2},
                             install=inst)
    calls = (out / "calls.log").read_text().splitlines()
    master = open_stack(stack).master.strftime("%Y%m%d")
    assert calls[0] == f"mt_prep_snap {master} {stack.resolve()} 0.42 2 1 50 50"
    assert (out / "parms.mat").exists()  # ps_parms_initial's save('parms') through the matlab wrapper
    setparms = {c.split()[1]: c.split(" ", 2)[2] for c in calls if c.startswith("setparm")}
    assert setparms["weed_standard_dev"] == "1.1"
    assert setparms["weed_max_noise"] == "Inf" and setparms["unwrap_method"] == "'3D'"
    assert "da_thresh" not in setparms and "n_rand" not in setparms
    steps = [c for c in calls if c.startswith("stamps")]
    assert steps == [f"stamps {s} {s}" for s in range(1, 9)]
    assert calls[-2:] == ["ps_plot v-d -1", "ps_output"]
    # small scene: both grids adapted before steps 2 and 6, as the native engine does
    adapted = {a["parameter"]: a for a in summary["adaptations"]}
    assert adapted["filter_grid_size"]["to"] < 50 and adapted["unwrap_grid_size"]["to"] < 200
    i_adapt = calls.index(next(c for c in calls if c.startswith("setparm filter_grid_size") and c.split()[2] != "50"))
    assert calls.index("stamps 1 1") < i_adapt < calls.index("stamps 2 2")
    assert (out / "stamps_output" / "ps_mean_v.xy").exists()  # StaMPS' own file kept aside
    check_products(out, truth)


@needs_octave
def test_psi_dispatch_auto_uses_stamps_when_found(stack, tmp_path, monkeypatch):
    inst = fake_stamps(tmp_path / "StaMPS")
    monkeypatch.setenv("STAMPS", str(inst.root))
    monkeypatch.setenv("FAKE_MATS", str(tmp_path / "mats"))
    stamps_mats(stack, tmp_path / "mats")
    assert resolve_psi_backend("auto") == "stamps"
    summary = run_psi_backend("auto", stack, tmp_path / "proc", 0, 7, {})
    assert summary["backend"] == "stamps" and "ps_points.csv" in summary["products"]


def test_missing_stamps_is_a_clear_error(tmp_path, monkeypatch):
    from snapstamps.backends.stamps import StampsError

    monkeypatch.delenv("STAMPS", raising=False)
    assert resolve_psi_backend("auto") == "native"
    with pytest.raises(StampsError, match="STAMPS is not set"):
        run_stamps_psi(tmp_path, tmp_path / "o")
