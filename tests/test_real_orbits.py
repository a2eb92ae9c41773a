"""The orbit interpolator passes through the state vectors and is continuous where its window changes.

Synthetic: a circular orbit seen from the rotating Earth (analytic positions and velocities),
sampled every 10 s.  Real: the RESORB file of the Azores burst (10 s vectors, printed to 1 um) and
SNAP's 1 s vectors of the Amsterdam pair (where the old least-squares fit missed the vectors by
0.7 mm and stepped 0.9 mm at window changes).
"""

from __future__ import annotations

import numpy as np
import pytest
from real_data import real_dir, snap_metadata, snap_orbit

OMEGA_E = 7.2921150e-5
N_ORBIT = 2 * np.pi / 5924.0  # Sentinel-1: 175 orbits in 12 days
R_ORBIT = 7.07e6


def _circular(t: np.ndarray, inc: float = np.radians(98.18)) -> tuple[np.ndarray, np.ndarray]:
    """ECEF position and velocity of a circular inclined orbit (inertial), with the Earth rotating."""
    u = N_ORBIT * t
    e1 = np.array([1.0, 0.0, 0.0])
    e2 = np.array([0.0, np.cos(inc), np.sin(inc)])
    pi = R_ORBIT * (np.cos(u)[:, None] * e1 + np.sin(u)[:, None] * e2)
    vi = R_ORBIT * N_ORBIT * (-np.sin(u)[:, None] * e1 + np.cos(u)[:, None] * e2)
    c, s = np.cos(OMEGA_E * t), np.sin(OMEGA_E * t)
    p = np.stack([c * pi[:, 0] + s * pi[:, 1], -s * pi[:, 0] + c * pi[:, 1], pi[:, 2]], axis=1)
    # d/dt of Rz(-we t) p_i = Rz(-we t) v_i + we * (y, -x, 0) of the rotated position
    v = np.stack([c * vi[:, 0] + s * vi[:, 1], -s * vi[:, 0] + c * vi[:, 1], vi[:, 2]], axis=1)
    v += OMEGA_E * np.stack([p[:, 1], -p[:, 0], np.zeros_like(t)], axis=1)
    return p, v


def _steps(o, t0: float, t1: float, n: int = 200001) -> float:
    """Largest jump of position not explained by the velocity between dense samples (m)."""
    tq = np.linspace(t0, t1, n)
    p, v = o.evaluate(tq, 1)
    return float(np.linalg.norm(np.diff(p, axis=0) - 0.5 * (v[1:] + v[:-1]) * np.diff(tq)[:, None], axis=1).max())


def _exactness(o, sv) -> tuple[float, float]:
    p, v = o.evaluate(sv.time, 1)
    return float(np.linalg.norm(p - sv.position, axis=1).max()), float(np.linalg.norm(v - sv.velocity, axis=1).max())


def test_synthetic_orbit_exact_continuous_and_accurate() -> None:
    from snapstamps.ifg.orbits import OrbitInterpolator, StateVectors

    t = np.arange(0.0, 300.0, 10.0)
    p, v = _circular(t)
    sv = StateVectors(np.datetime64("2023-01-01", "ns"), t, p, v)
    o = OrbitInterpolator(sv)
    dp, dv = _exactness(o, sv)
    assert dp < 1e-6 and dv < 1e-9  # rounding of 7e6 m values only
    # continuous where the node window changes (every vector): the dense-sample jump is the
    # second-order residue of the trapezoid rule, (dt^2/12) |a'| ~ 1e-12 m here
    assert _steps(o, 0.5, 299.5, 60001) < 1e-6
    # accuracy between the vectors against the analytic orbit: the degree-7 Hermite error bound
    # r w^8 prod(t - t_i)^2 / 8! is ~1e-12 m for 10 s vectors; 1e-6 m leaves room for rounding
    tq = np.linspace(15.0, 285.0, 997)
    pt, vt = _circular(tq)
    pq, vq = o.evaluate(tq, 1)
    assert np.linalg.norm(pq - pt, axis=1).max() < 1e-6
    assert np.linalg.norm(vq - vt, axis=1).max() < 1e-8


def test_resorb_vectors_exact_and_held_out_vector() -> None:
    from snapstamps.ifg.orbits import OrbitInterpolator, StateVectors, parse_eof

    d = real_dir("sarprocessing-azores")
    sv = parse_eof(next(d.glob("*RESORB*.EOF")))
    sv = sv.crop(sv.time[100], sv.time[160], 0.0)
    o = OrbitInterpolator(sv)
    dp, dv = _exactness(o, sv)
    assert dp < 1e-6 and dv < 1e-9
    assert _steps(o, sv.time[0] + 0.1, sv.time[-1] - 0.1, 120001) < 1e-6
    # held out: every other vector dropped (20 s spacing), the dropped ones predicted.  The
    # Hermite error grows as spacing^8: 0.1 mm at 20 s is ~0.4 um at the file's 10 s spacing.
    keep = np.arange(sv.time.size) % 2 == 0
    o2 = OrbitInterpolator(StateVectors(sv.epoch, sv.time[keep], sv.position[keep], sv.velocity[keep]))
    mid = np.nonzero(~keep)[0][2:-2]
    err = np.linalg.norm(o2.position(sv.time[mid]) - sv.position[mid], axis=1)
    print(f"RESORB held-out vectors (20 s gaps): max {err.max() * 1e3:.4f} mm")
    assert err.max() < 1e-4


@pytest.mark.parametrize("which", ["reference", "secondary"])
def test_snap_one_second_vectors_exact_and_continuous(which: str) -> None:
    from snapstamps.ifg.orbits import OrbitInterpolator

    znap = real_dir("sarxarray-amsterdam") / "20230319-coreg.znap"
    am, sec = snap_metadata(znap)
    node = am if which == "reference" else sec
    assert node is not None, f"{znap}: no Slave_Metadata"
    sv = snap_orbit(node, np.datetime64("2023-03-01", "ns"))
    assert np.allclose(np.diff(sv.time), 1.0)
    o = OrbitInterpolator(sv)
    dp, dv = _exactness(o, sv)
    steps = _steps(o, sv.time[0] + 0.01, sv.time[-1] - 0.01)
    print(f"SNAP {which} 1 s vectors: miss at vectors {dp:.2e} m, largest step {steps:.2e} m")
    assert dp < 1e-6 and dv < 1e-9  # was 0.7 mm with the least-squares fit
    assert steps < 1e-6  # was 0.9 mm

