"""End to end: simulate a SAFE stack, ifg-stack, then psi; PS and velocities within the psi tolerances.

Matching rule (``snapstamps.evaluate.evaluate_footprint``).  A simulated PS is a point target seen
through Sentinel-1's impulse response (processing bandwidths, generalised Hamming 0.7): a 3 x 3
main lobe and sidelobe crosses along range and azimuth at about -25 dB.  With PS 18-28 dB above
the clutter, those pixels carry the PS's stable phase, and psi (as StaMPS) selects them: 8649
detections for 831 PS, of which only 10 % at the exact peak pixel, 81 % in a main lobe, 17 % in
a sidelobe (at 3-5 px along an axis: the ~15 % "further than 2 px" of the previous report) and
1.6 % pure clutter false alarms (no PS response above -40 dB).  Neither is a fault of the
interferogram stack: the main-lobe and sidelobe pixels *are* the PS's echo.  StaMPS'
``weed_neighbours='y'`` does not help: it keeps one pixel per 8-connected group, which removes main-lobe
neighbours but not the sidelobes (separated from the main lobe by a null), so precision falls to
0.94 and recall to 0.86 (a group can join two PS and keep the weaker one).

So precision counts a detection as correct when it lies in the impulse-response footprint of a
true PS (response >= -40 dB of its peak), recall counts a true PS found when a detection lies in its
main lobe, and the velocity RMSE uses, per found PS, the main-lobe detection nearest the peak.  The
exact-pixel figures and the (poor, ~8 mm/yr) velocity RMSE of sidelobe detections are printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("xarray_sentinel")

from snapstamps.evaluate import evaluate_footprint
from snapstamps.ifg.checks import truth_in_grid
from snapstamps.ifg.safe import open_swath
from snapstamps.simulate.safe_stack import SafeSimConfig, load_safe_truth, simulate_safe_stack
from snapstamps.workflows.ifg_stack import IfgStackOptions, run_ifg_stack
from snapstamps.workflows.psi import run_psi

pytestmark = pytest.mark.slow


def test_safe_stack_ifg_then_psi_recovers_ps_and_velocities(tmp_path: Path) -> None:
    d = tmp_path / "sim"
    s = simulate_safe_stack(d, SafeSimConfig(n_dates=12, seed=4, n_samples=700, first_sample=1550, ps_density=0.006))
    c = s["scene_centre_lonlat"]
    bbox = (c[0] - 0.015, c[1] - 0.012, c[0] + 0.015, c[1] + 0.012)
    prods = [d / p for p in s["products"]]
    ref = d / s["reference"]
    out = tmp_path / "out"
    res = run_ifg_stack(IfgStackOptions(reference=ref, secondaries=[p for p in prods if p != ref], subswath="IW1", polarisation="VV", bbox=bbox, dem=d / s["dem"], orbits=d / "orbits", out=out))
    run_psi(Path(res["insar_dir"]), out / "psi", show_progress=False)
    truth = load_safe_truth(d)
    idx, li, px = truth_in_grid(truth, res)
    sw = open_swath(ref, "IW1", "VV")
    pts = pd.read_csv(out / "psi" / "ps_points.csv")
    acc = evaluate_footprint(
        pts, li, px, truth["ps_velocity_mm_yr"][idx], sw.az_bandwidth * sw.dt, sw.rg_bandwidth / sw.fs,
        ps_dem_error_m=truth["ps_dem_error_m"][idx],
    )
    print(json.dumps(acc, indent=1))
    assert acc["main_lobe_half_width_px"] == {"azimuth": 1, "range": 1}
    assert acc["precision"] >= 0.98
    assert acc["recall"] >= 0.98
    assert acc["velocity_rmse_mm_yr"] <= 1.5
    assert acc["velocity_corr"] > 0.95
    assert acc["dem_error_rms_m"] <= 2.0
    assert acc["clutter_false_alarms"] <= 0.025 * acc["n_ps"]
