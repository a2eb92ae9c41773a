"""SAFE simulator, SAFE reading, orbits and stack-overview (annotation-only) tests."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

pytest.importorskip("xarray_sentinel")

from snapstamps.errors import InputError
from snapstamps.ifg import geocoding as G
from snapstamps.ifg.orbits import OrbitInterpolator, parse_eof, find_eof
from snapstamps.ifg.overview import stack_overview
from snapstamps.ifg.safe import open_swath
from snapstamps.simulate.safe_stack import SafeSimConfig, default_base, load_safe_truth, simulate_safe_stack


@functools.cache
def kept_burst_ids() -> list[int]:
    """Burst ids of the bursts the simulator keeps by default (3 and 4) in its base product."""
    base = open_swath(default_base()[0], "IW1", "VV")
    return [b.burst_id for b in base.bursts[3:5]]


@pytest.fixture(scope="module")
def sim3(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim3")
    s = simulate_safe_stack(d, SafeSimConfig(n_dates=3, baselines=[-60.0, 0.0, 110.0], seed=1, n_samples=600, first_sample=1600))
    return d, s


def test_simulated_safe_reads_with_xarray_sentinel(sim3):
    d, s = sim3
    import xarray as xr

    for name in s["products"]:
        sw = open_swath(d / name, "IW1", "VV", need_measurement=True)
        assert len(sw.bursts) == 2 and sw.n_samples == 600
        assert [b.burst_id for b in sw.bursts] == kept_burst_ids()
        ds = xr.open_dataset(d / name, engine="sentinel-1", group="IW1/VV/1")
        assert ds.measurement.shape == (1501, 600)
        assert np.isfinite(np.abs(ds.measurement[600:610, 100:110].values)).all()


def test_overview_bperp_within_one_percent(sim3):
    d, s = sim3
    truth = load_safe_truth(d)
    o = stack_overview([d / n for n in s["products"]], reference=d / s["reference"])
    assert o["reference"] == s["reference"]
    assert o["suggested_reference"] == s["reference"]  # middle date minimises the total baseline here
    ref = s["reference_index"]
    by_sec = {p["secondary"]: p for p in o["pairs"]}
    for k, name in enumerate(s["products"]):
        if k == ref:
            continue
        p = by_sec[name]
        true = truth["bperp_scene_centre"][k]
        assert abs(p["bperp_m"] - true) <= 0.01 * abs(true) + 0.05, (p, true)
        assert p["btemp_days"] == 12 * (k - ref)
    json.dumps(o)


def test_orbit_interpolator_local_and_eof_roundtrip(sim3):
    d, s = sim3
    sw = open_swath(d / s["products"][0], "IW1", "VV")
    eof = find_eof(d / "orbits", "S1A", sw.info.start, sw.info.stop)
    assert eof is not None
    sv = parse_eof(eof, epoch=sw.epoch)
    assert np.allclose(sv.position, sw.orbit.position, atol=1e-5)
    # leave-one-out accuracy of the local interpolator on the real (shifted) vectors
    i = 7
    keep = np.ones(sv.time.size, bool)
    keep[i] = False
    from snapstamps.ifg.orbits import StateVectors

    sub = StateVectors(sv.epoch, sv.time[keep], sv.position[keep], sv.velocity[keep])
    p, v = OrbitInterpolator(sub).evaluate(sv.time[i], 1)
    assert np.linalg.norm(p - sv.position[i]) < 0.05  # m, with a 20 s gap
    assert np.linalg.norm(v - sv.velocity[i]) < 1e-3


def test_geometry_roundtrip_and_gcps(sim3):
    d, s = sim3
    sw = open_swath(d / s["products"][1], "IW1", "VV")
    orb = OrbitInterpolator(sw.orbit)
    g = sw.gcp
    P = G.geodetic_to_ecef(g["longitude"], g["latitude"], g["height"])
    t, r = G.geo2rdr(P, orb, sw.bursts[0].t0 + g["line"] * sw.dt)
    assert np.abs(r - sw.slant_range(g["pixel"])).max() < 0.5  # IPF GCP slant ranges
    P2 = G.rdr2geo(t, r, g["height"], orb)
    assert np.abs(P2 - P).max() < 1e-3


def test_errors_before_work(sim3, tmp_path):
    d, s = sim3
    with pytest.raises(InputError, match="IW3"):
        open_swath(d / s["products"][0], "IW3", "VV")
    with pytest.raises(InputError, match="VH"):
        open_swath(d / s["products"][0], "IW1", "VH")
    bad = tmp_path / "x.EOF"
    bad.write_text("<nope")
    with pytest.raises(InputError, match="orbit"):
        parse_eof(bad)
