"""End to end: simulate a SAFE stack, ifg-stack, then psi; velocities within the psi tolerances.

PS are matched by pixel.  The simulated PS are band-limited point targets (S1 processing
bandwidths, Hamming 0.7), so their neighbours carry the same stable phase and psi selects some of
them: precision is counted within 2 pixels of a simulated PS (those pixels are the same scatterer).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("xarray_sentinel")

from snapstamps.evaluate import evaluate
from snapstamps.ifg.checks import truth_in_grid
from snapstamps.simulate.safe_stack import SafeSimConfig, load_safe_truth, simulate_safe_stack
from snapstamps.workflows.ifg_stack import IfgStackOptions, run_ifg_stack
from snapstamps.workflows.psi import run_psi

pytestmark = pytest.mark.slow


def test_safe_stack_ifg_then_psi_recovers_velocities(tmp_path):
    d = tmp_path / "sim"
    s = simulate_safe_stack(d, SafeSimConfig(n_dates=12, seed=4, n_samples=700, first_sample=1550, ps_density=0.006))
    c = s["scene_centre_lonlat"]
    bbox = (c[0] - 0.015, c[1] - 0.012, c[0] + 0.015, c[1] + 0.012)
    prods = [d / p for p in s["products"]]
    ref = d / s["reference"]
    out = tmp_path / "out"
    res = run_ifg_stack(IfgStackOptions(reference=ref, secondaries=[p for p in prods if p != ref], subswath="IW1", polarisation="VV", bbox=bbox, dem=d / s["dem"], orbits=d / "orbits", out=out))
    run_psi(res["insar_dir"] if not isinstance(res["insar_dir"], str) else __import__("pathlib").Path(res["insar_dir"]), out / "psi", show_progress=False)
    truth = load_safe_truth(d)
    idx, li, px = truth_in_grid(truth, res)
    tr = {"ps_line": li, "ps_pixel": px, "ps_velocity_mm_yr": truth["ps_velocity_mm_yr"][idx], "ps_dem_error_m": truth["ps_dem_error_m"][idx]}
    pts = pd.read_csv(out / "psi" / "ps_points.csv")
    acc = evaluate(pts, tr)
    near = np.zeros((res["n_lines"] + 4, res["n_samples"] + 4), bool)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            near[np.clip(li + dy, 0, None), np.clip(px + dx, 0, None)] = True
    acc["precision_within_2px"] = float(near[pts["line"].to_numpy(), pts["pixel"].to_numpy()].mean())
    print(json.dumps(acc, indent=1))
    assert acc["recall"] >= 0.98
    assert acc["precision_within_2px"] >= 0.8  # measured 0.85: psi also keeps sidelobe pixels further out (open issue)
    assert acc["velocity_rmse_mm_yr"] <= 1.5
    assert acc["velocity_corr"] > 0.95
    assert acc["dem_error_rms_m"] <= 2.0
