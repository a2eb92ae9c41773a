"""TRAIN-style tropospheric corrections (psi.tropo) and `subtr_tropo` in the psi pipeline.

Tolerances: a correction "removes" a simulated delay when what is left of it is under 10 % of
its RMS (linear method, with deformation and noise in the data: the band keeps most of the
deformation out of the fit) or under 2 % (external delay maps: only the maps' bilinear
interpolation between 200 x 200 cells separates the estimate from the truth).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from snapstamps.errors import ParameterError
from snapstamps.io.delay_maps import find_delay_maps, sample_delay_maps
from snapstamps.psi import geometry as geo
from snapstamps.psi.tropo import delay_maps_phase, linear_phase_topography, powerlaw
from snapstamps.simulate.stamps_stack import SimConfig, load_truth, simulate_stamps_stack


def _scene(seed=0, n=4000, m=20):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 8000, size=(n, 2))
    h = 300 + 250 * np.sin(2 * np.pi * xy[:, 0] / 2500) * np.cos(2 * np.pi * xy[:, 1] / 3100)
    t = np.arange(m) * 12.0
    defo = -0.02 * np.exp(-((xy[:, 0] - 4000) ** 2 + (xy[:, 1] - 4000) ** 2) / (2 * 2500.0**2))  # rad/day, long wavelength
    K = rng.normal(0, 0.004, m)  # rad per m of height, per date
    K[0] = 0.0
    tropo = K[None, :] * h[:, None]
    ph = defo[:, None] * t[None, :] + tropo + rng.normal(0, 0.1, (n, m))
    ph[:, 0] = 0.0
    return xy, h, t, defo, K, tropo, ph


def test_linear_phase_topography_removes_height_correlated_delay():
    xy, h, t, defo, K, tropo, ph = _scene()
    est, k_est = linear_phase_topography(ph=ph, hgt=h, xy=xy, master_ix=0, band=(150.0, 1500.0))
    np.testing.assert_allclose(k_est[1:], K[1:], atol=0.05 * np.abs(K).max())
    left = (tropo - est)[:, 1:]
    left = left - left.mean(axis=0)  # a constant per image is removed by referencing anyway
    t0 = tropo[:, 1:] - tropo[:, 1:].mean(axis=0)
    assert np.sqrt(np.mean(left**2)) < 0.10 * np.sqrt(np.mean(t0**2))
    # the deformation is kept: a line fit of the corrected phase recovers the velocity field
    c = ph - est
    slope = np.polyfit(t[1:], (c[:, 1:] - c[:, 1:].mean(axis=0)).T, 1)[0]
    truth = defo - defo.mean()
    assert np.sqrt(np.mean((slope - truth) ** 2)) < 0.10 * np.sqrt(np.mean(truth**2))
    # without the band (a plain fit over everything) the deformation leaks into K
    with pytest.raises(ValueError):
        linear_phase_topography(ph=ph, hgt=h, xy=xy, master_ix=0, band=(1500.0, 150.0))


def test_powerlaw_removes_a_powerlaw_delay():
    rng = np.random.default_rng(1)
    xy, h, t, defo, K, _, _ = _scene(seed=1)
    q = (10_000.0 - h) ** 1.6
    Kp = rng.normal(0, 3e-6, t.size)
    Kp[0] = 0
    tropo = Kp[None, :] * q[:, None]
    ph = tropo + rng.normal(0, 0.3, tropo.shape)
    ph[:, 0] = 0
    est = powerlaw(ph=ph, hgt=h, xy=xy, master_ix=0, band=(150.0, 1500.0), alpha=1.6, h0=10_000.0)
    left = (tropo - est)[:, 1:]
    left = left - left.mean(axis=0)
    t0 = tropo[:, 1:] - tropo[:, 1:].mean(axis=0)
    assert np.sqrt(np.mean(left**2)) < 0.15 * np.sqrt(np.mean(t0**2))


@pytest.fixture(scope="module")
def tropo_stack(tmp_path_factory):
    out = tmp_path_factory.mktemp("tropo")
    cfg = SimConfig(width=120, length=240, n_dates=16, seed=4, aps_std_mm=0.3, tropo_rad_per_km=8.0,
                    dem_relief_m=400.0, delay_maps=True)
    insar = simulate_stamps_stack(out, cfg)
    return out, insar, load_truth(out)


def test_external_delay_maps_remove_the_simulated_delay(tropo_stack):
    out, _, truth = tropo_stack
    dates = [__import__("datetime").datetime.strptime(str(d), "%Y%m%d").date() for d in truth["dates"]]
    paths = find_delay_maps(out / "delays", dates)
    z = sample_delay_maps(paths, truth["ps_lonlat"])
    mi = int(truth["master_ix"])
    lam = float(truth["wavelength"])
    est = delay_maps_phase(zenith_delay=z, inc=truth["ps_inc"], wavelength=lam, master_ix=mi)
    tro = truth["tropo_ps_mm"]  # (M, N) apparent LOS displacement toward the satellite, mm
    sim_ph = geo.mm_to_phase((tro - tro[mi]).T, lam)  # the simulated delay as it enters the interferograms
    left = sim_ph - est
    left -= left.mean(axis=0)
    s0 = sim_ph - sim_ph.mean(axis=0)
    assert np.sqrt(np.mean(s0**2)) > 0.5  # the delay is really there (rad)
    assert np.sqrt(np.mean(left**2)) < 0.02 * np.sqrt(np.mean(s0**2))
    with pytest.raises(ParameterError, match="no delay GeoTIFF for"):
        find_delay_maps(out / "delays", dates + [__import__("datetime").date(2030, 1, 1)])


@pytest.mark.slow
def test_psi_subtr_tropo_with_delay_maps(tropo_stack, tmp_path, capsys):
    """`psi --param subtr_tropo=y` does what StaMPS does: the correction is subtracted in step 7."""
    from snapstamps.cli import main
    from snapstamps.evaluate import evaluate_dir

    out, insar, truth = tropo_stack
    work = tmp_path / "psi"
    rc = main(["psi", str(insar), "--out", str(work), "--end", "7",
               "--param", "velocity_type=v-d"])
    assert rc == 0
    plain = evaluate_dir(work, out)
    rc = main(["psi", "--out", str(work), "--start", "7", "--end", "7", "--param", "subtr_tropo=y",
               "--param", "tropo_method=a_gacos", "--param", f"tropo_delay_dir={out / 'delays'}",
               "--param", "velocity_type=v-da"])
    assert rc == 0
    assert (work / "tropo2.npz").exists()
    corrected = evaluate_dir(work, out)
    meta = json.loads((work / "psi_metadata.json").read_text())
    assert meta["parameters"]["subtr_tropo"] == "y" and meta["conventions"]["velocity_type"].startswith("StaMPS 'v-da'")
    print(plain, corrected)
    assert corrected["velocity_rmse_mm_yr"] < 0.5 * plain["velocity_rmse_mm_yr"]
    assert corrected["dem_error_rms_m"] < plain["dem_error_rms_m"]
    # re-running step 6: the correction is taken out before unwrapping and put back after (StaMPS)
    rc = main(["psi", "--out", str(work), "--start", "6", "--end", "7"])
    assert rc == 0
    again = evaluate_dir(work, out)
    assert again["velocity_rmse_mm_yr"] < 0.5 * plain["velocity_rmse_mm_yr"]
