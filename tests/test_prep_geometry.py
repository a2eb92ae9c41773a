import numpy as np
import pytest

from snapstamps.errors import ParameterError
from snapstamps.psi import geometry
from snapstamps.psi.prep import DispersionAccumulator, patch_layout, select_candidates


def test_dispersion_formula_and_zero_amplitude():
    rng = np.random.default_rng(1)
    m = 40
    stack = (rng.normal(size=(m, 5, 6)) + 1j * rng.normal(size=(m, 5, 6))).astype(np.complex64)
    stack[:, 0, 0] = 3.0 * np.exp(1j * rng.uniform(0, 6, m))  # constant amplitude: D_A = 0
    stack[7, 1, 1] = 0.0  # zero amplitude in one image -> rejected
    acc = DispersionAccumulator.empty((5, 6))
    for k in range(m):
        acc.add(stack[k], 1.0)
    da = acc.dispersion()
    a = np.abs(stack).astype(np.float64)
    expected = np.sqrt(m * (a**2).sum(0) / a.sum(0) ** 2 - 1)  # population std / mean
    np.testing.assert_allclose(da[2:], expected[2:], rtol=1e-6)
    assert da[0, 0] < 1e-3
    assert np.isinf(da[1, 1])
    sel = select_candidates(da, 0.4)
    assert sel[0, 0] and not sel[1, 1]


def test_rayleigh_clutter_dispersion_is_0_52():
    rng = np.random.default_rng(2)
    acc = DispersionAccumulator.empty((200, 200))
    for _ in range(60):
        acc.add(rng.normal(size=(200, 200)) + 1j * rng.normal(size=(200, 200)), 1.0)
    da = acc.dispersion()
    assert abs(np.median(da) - np.sqrt(4 / np.pi - 1)) < 0.02


def test_patch_layout_covers_every_pixel_once_in_cores():
    patches = patch_layout(101, 57, 3, 2, 10, 5)
    assert [p.number for p in patches] == list(range(1, 7))
    cover = np.zeros((57, 101), int)
    for p in patches:
        cover[p.core_az_start:p.core_az_end, p.core_rg_start:p.core_rg_end] += 1
        assert p.rg_start == max(p.core_rg_start - 10, 0) and p.az_end == min(p.core_az_end + 5, 57)
    assert (cover == 1).all()
    # range is the outer loop, as in mt_prep_snap
    assert patches[0].core_rg_start == patches[1].core_rg_start == 0
    with pytest.raises(ParameterError):
        patch_layout(4, 4, 5, 1, 0, 0)


def test_perpendicular_baseline_formula():
    theta = np.radians(np.array([30.0, 40.0]))
    base = np.array([[100.0, 50.0, 0.0, 0.0], [10.0, -20.0, 1.0, 0.5]])
    line = np.array([99.5, 99.5])  # scene middle for 200 lines: t = 0
    bp = geometry.perpendicular_baseline(line, theta, base, 200, 500.0)
    np.testing.assert_allclose(bp[:, 0], 100 * np.cos(theta) - 50 * np.sin(theta), rtol=1e-6)
    np.testing.assert_allclose(bp[:, 1], 10 * np.cos(theta) + 20 * np.sin(theta), rtol=1e-6)
    bp2 = geometry.perpendicular_baseline(np.array([199.5]), theta[:1], base, 200, 500.0)
    t = 100 / 500.0
    assert bp2[0, 1] == pytest.approx((10 + t) * np.cos(theta[0]) - (-20 + 0.5 * t) * np.sin(theta[0]), rel=1e-6)


def test_angles_sentinel1_like():
    rs, re = 7071e3, 6371e3
    r = geometry.slant_range(np.array([0, 1000]), 850e3, 2.329562)
    look = geometry.look_angle(r, rs, re)
    inc = geometry.incidence_angle(r, rs, re)
    assert np.all(inc > look) and np.all(np.degrees(inc) > 30) and np.all(np.degrees(inc) < 45)
    # law of sines: Rs sin(look) = Re sin(pi - inc)
    np.testing.assert_allclose(rs * np.sin(look), re * np.sin(inc), rtol=1e-9)


def test_llh2local_distances():
    origin = np.array([12.5, 41.9])
    ll = np.array([[12.5, 41.9], [12.5, 41.9 + 0.01], [12.5 + 0.01, 41.9]])
    xy = geometry.llh2local(ll, origin)
    np.testing.assert_allclose(xy[0], [0, 0], atol=1e-6)
    assert xy[1, 1] == pytest.approx(1111.0, rel=0.01)  # 0.01 deg latitude ~ 1.11 km
    assert xy[2, 0] == pytest.approx(1111.0 * np.cos(np.radians(41.9)), rel=0.01)


def test_phase_mm_sign_convention():
    lam = 0.0554658
    # motion toward the satellite shortens the range: negative ifg phase -> positive mm
    assert geometry.phase_to_mm(-1.0, lam) > 0
    np.testing.assert_allclose(geometry.mm_to_phase(geometry.phase_to_mm(2.5, lam), lam), 2.5)


def test_mask_file_excludes_pixels_and_is_checked(tmp_path):
    """A mask (uint8, 0 = use) read block by block: an all-zero mask changes nothing; a mask keeps
    every candidate out of the excluded pixels (they also leave the calibration, as in StaMPS'
    calamp, so the rest may differ slightly); a mask of the wrong size is refused in one line."""
    import pytest

    from snapstamps.errors import InputError
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack
    from snapstamps.workflows.psi import run_psi
    from snapstamps.workflows.state import load_npz

    insar = simulate_stamps_stack(tmp_path / "sim", SimConfig(width=60, length=90, n_dates=6, seed=2))
    upd = {"prep_block_lines": 16}

    def cands(name: str, mask: np.ndarray | None) -> np.ndarray:
        mf = None
        if mask is not None:
            mf = tmp_path / f"{name}.u8"
            mf.write_bytes(mask.tobytes())
        run_psi(insar, tmp_path / name, start=0, end=0, show_progress=False, param_updates=upd, mask_file=mf)
        return load_npz(tmp_path / name / "PATCH_1" / "cands.npz")["ij"]

    ij_all = cands("all", None)
    np.testing.assert_array_equal(cands("zeros", np.zeros((90, 60), np.uint8)), ij_all)
    mask = np.zeros((90, 60), dtype=np.uint8)
    mask[40:, :] = 1
    mask[:, :10] = 7
    ij_m = cands("masked", mask)
    assert len(ij_m) > 0.5 * np.sum(mask[ij_all[:, 0], ij_all[:, 1]] == 0)
    assert np.all(mask[ij_m[:, 0], ij_m[:, 1]] == 0)
    (tmp_path / "short.u8").write_bytes(mask.tobytes()[:-1])
    with pytest.raises(InputError, match="mask has 5399 bytes, expected 5400"):
        run_psi(insar, tmp_path / "bad", start=0, end=0, show_progress=False, mask_file=tmp_path / "short.u8")
