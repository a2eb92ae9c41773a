"""StaMPS export I/O: par/base/raster round trips, atomic writers, open_stack validation."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest

from snapstamps.errors import InputError
from snapstamps.io.atomic import atomic_dir, atomic_path, atomic_write_bytes, atomic_write_text
from snapstamps.io.stamps_export import (
    Baseline,
    MasterPar,
    StampsStack,
    open_stack,
    read_base,
    read_par,
    stream_raster_be,
    write_base,
    write_cfloat32_be,
    write_float32_be,
    write_par,
)
from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

PAR = MasterPar(
    path=None, width=1234, length=567, heading=-167.25, radar_frequency=5.405000454334350e9, sensor="SENTINEL-1A",
    range_pixel_spacing=2.329562, azimuth_pixel_spacing=13.94, near_range_slc=850123.456789,
    center_range_slc=850123.456789, sar_to_earth_center=7071234.5, earth_radius_below_sensor=6369876.25, prf=486.48631029955,
)

# A header as SNAP 9's HeaderWriter lays it out (integer spacings, state vectors, units).
SNAP_PAR = """title:\tS1A_IW_SLC__1SDV_20240105T051234_Stack
sensor:\tSENTINEL-1A
date:\t2024 1 5
start_time:\t18754.123456\ts
center_time:\t18755.3\ts
end_time:\t18756.5\ts
azimuth_line_time:\t0.002055556\ts
range_samples:\t25000
azimuth_lines:\t1500
range_looks:\t1
azimuth_looks:\t1
image_format:\tFCOMPLEX
image_geometry:\tSLANT_RANGE
center_latitude:\t41.9\tdegrees
center_longitude:\t12.5\tdegrees
heading:\t-167.12345\tdegrees
range_pixel_spacing:\t2\tm
azimuth_pixel_spacing:\t13\tm
radar_frequency:\t5.40500045433435E9\tHz
prf:\t486.48631029955\tHz
azimuth_proc_bandwidth:\t313.0\tHz
sar_to_earth_center:\t7071234.5\tm
earth_radius_below_sensor:\t6369876.25\tm
earth_semi_major_axis:\t6378137.0\tm
earth_semi_minor_axis:\t6356752.314245179\tm
near_range_slc:\t850123.456\tm
center_range_slc:\t850123.456\tm
far_range_slc:\t850123.456\tm
number_of_state_vectors:\t2
time_of_first_state_vector:\t18700.0\ts
state_vector_interval:\t10.0\ts
state_vector_position_1:\t1.0 2.0 3.0\tm m m
state_vector_velocity_1:\t1.0 2.0 3.0\tm/s m/s m/s
"""


# ----------------------------------------------------------------------------- par / base


def test_par_round_trip_and_format(tmp_path):
    p = tmp_path / "20240105.rslc.par"
    write_par(p, PAR, dt.date(2024, 1, 5), center_lonlat=(12.5, 41.9))
    back = read_par(p)
    assert back.path == p
    for f in PAR.__dataclass_fields__:
        if f != "path":
            assert getattr(back, f) == getattr(PAR, f), f  # exact (repr round trip)
    assert abs(back.wavelength - 0.0554657) < 1e-6
    lines = p.read_text().splitlines()
    assert not p.read_bytes().count(b"\r")
    keys = [ln.split("\t")[0] for ln in lines]
    assert keys[:3] == ["title:", "sensor:", "date:"]
    assert all(k.endswith(":") for k in keys)
    for k in keys:  # readparm needs every key to be a unique prefix
        assert [o for o in keys if o.startswith(k[:-1])] == [k]
    assert "range_pixel_spacing:\t2.329562\tm" in lines
    assert "date:\t2024 1 5" in lines
    assert not list(tmp_path.glob(".*"))


def test_read_par_snap_header_readparm_semantics(tmp_path):
    p = tmp_path / "m.rslc.par"
    p.write_text(SNAP_PAR)
    par = read_par(p)
    assert (par.width, par.length) == (25000, 1500)
    assert par.range_pixel_spacing == 2.0  # SNAP's integer getter, read as written
    assert par.sensor == "SENTINEL-1A" and par.heading == -167.12345
    assert par.radar_frequency == 5.40500045433435e9 and par.prf == 486.48631029955
    assert par.near_range_slc == par.center_range_slc == 850123.456
    assert par.earth_radius_below_sensor == 6369876.25 and par.azimuth_pixel_spacing == 13.0
    # prefix matching: the key need not be followed by ':' and units are ignored
    p.write_text(SNAP_PAR.replace("prf:\t", "prf_hz:\t"))
    assert read_par(p).prf == 486.48631029955


@pytest.mark.parametrize("key", ["range_samples", "azimuth_lines", "heading", "radar_frequency", "sensor", "prf",
                                 "range_pixel_spacing", "near_range_slc", "sar_to_earth_center", "earth_radius_below_sensor"])
def test_read_par_missing_key(tmp_path, key):
    p = tmp_path / "m.rslc.par"
    p.write_text("\n".join(ln for ln in SNAP_PAR.splitlines() if not ln.startswith(key + ":")) + "\n")
    with pytest.raises(InputError) as e:
        read_par(p)
    assert str(p) in str(e.value) and key in str(e.value) and "\n" not in str(e.value)


def test_read_par_bad_value_and_missing_file(tmp_path):
    p = tmp_path / "m.rslc.par"
    p.write_text(SNAP_PAR.replace("486.48631029955", "abc"))
    with pytest.raises(InputError, match="prf"):
        read_par(p)
    with pytest.raises(InputError, match="nothere.par"):
        read_par(tmp_path / "nothere.par")


def test_base_round_trip_and_format(tmp_path):
    b = Baseline(C=-123.456789012, N=45.6789012345, C_rate=0.0123456789, N_rate=-0.00098765432)
    p = tmp_path / "20240105_20240117.base"
    write_base(p, b)
    back = read_base(p)
    for f in ("C", "N", "C_rate", "N_rate"):
        assert abs(getattr(back, f) - getattr(b, f)) < 1e-9
    lines = p.read_text().splitlines()
    assert len(lines) == 5
    assert [ln.split("\t")[0] for ln in lines] == [
        "initial_baseline(TCN):", "initial_baseline_rate:", "precision_baseline(TCN):",
        "precision_baseline_rate:", "unwrap_phase_constant:"]
    assert lines[0].split("\t")[1] == "0.0000000000" and lines[0].endswith("m\tm\tm")
    # SNAP-written text with a non-zero T (ignored) and space separators
    p.write_text("initial_baseline(TCN):  5.0  -87.25  12.5   m   m   m\n"
                 "initial_baseline_rate:  0.1  0.001  -0.002   m/s   m/s   m/s\n"
                 "precision_baseline(TCN): 0 0 0 m m m\nprecision_baseline_rate: 0 0 0 m/s m/s m/s\n"
                 "unwrap_phase_constant: 0.00000 radians\n")
    assert read_base(p) == Baseline(C=-87.25, N=12.5, C_rate=0.001, N_rate=-0.002)
    p.write_text("initial_baseline(TCN):  0 NaN NaN m m m\ninitial_baseline_rate: 0 0 0 m/s m/s m/s\n")
    with pytest.raises(InputError, match="NaN"):
        read_base(p)
    p.write_text("initial_baseline(TCN):  0 1 2 m m m\n")
    with pytest.raises(InputError, match="initial_baseline_rate"):
        read_base(p)


# ----------------------------------------------------------------------------- rasters, atomic


def test_complex_and_float_rasters_are_big_endian(tmp_path):
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((7, 5)) + 1j * rng.standard_normal((7, 5))).astype(np.complex64)
    p = tmp_path / "x.rslc"
    write_cfloat32_be(p, z)
    raw = p.read_bytes()
    assert len(raw) == 7 * 5 * 8
    inter = np.frombuffer(raw, ">f4").reshape(7, 5, 2)  # interleaved re, im
    np.testing.assert_array_equal(inter[..., 0], z.real)
    np.testing.assert_array_equal(inter[..., 1], z.imag)
    f = rng.standard_normal((7, 5)).astype(np.float32)
    q = tmp_path / "x.lat"
    write_float32_be(q, f)
    np.testing.assert_array_equal(np.fromfile(q, ">f4").reshape(7, 5), f)
    with pytest.raises(ValueError):
        write_float32_be(q, z)
    with pytest.raises(ValueError):
        write_cfloat32_be(q, z.ravel())


def test_streaming_writer(tmp_path):
    rng = np.random.default_rng(1)
    z = (rng.standard_normal((10, 4)) + 1j * rng.standard_normal((10, 4))).astype(np.complex64)
    p = tmp_path / "s.diff"
    with stream_raster_be(p, "complex", 4, 10) as w:
        for l0 in range(0, 10, 3):
            assert not p.exists()  # not visible until complete
            w.append(z[l0 : l0 + 3])
    np.testing.assert_array_equal(np.fromfile(p, ">c8").reshape(10, 4), z)
    with pytest.raises(ValueError, match="9 lines written"):
        with stream_raster_be(tmp_path / "short.diff", "complex", 4, 10) as w:
            w.append(z[:9])
    with pytest.raises(ValueError, match="width"):
        with stream_raster_be(tmp_path / "wide.diff", "complex", 5) as w:
            w.append(z)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["s.diff"]


def test_atomic_helpers(tmp_path):
    f = tmp_path / "sub" / "a.txt"
    atomic_write_text(f, "one\n")
    assert f.read_text() == "one\n"
    with pytest.raises(RuntimeError):
        with atomic_path(f) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert f.read_text() == "one\n"  # old content kept
    atomic_write_bytes(f, b"two")
    assert f.read_bytes() == b"two"
    d = tmp_path / "out"
    with atomic_dir(d) as t:
        (t / "x").write_text("1")
        assert not d.exists()
    assert (d / "x").read_text() == "1"
    with atomic_dir(d) as t:  # replaces an existing directory
        (t / "y").write_text("2")
    assert sorted(p.name for p in d.iterdir()) == ["y"]
    with pytest.raises(KeyError):
        with atomic_dir(d) as t:
            (t / "z").write_text("3")
            raise KeyError
    assert sorted(p.name for p in d.iterdir()) == ["y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "sub"]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.txt"]


# ----------------------------------------------------------------------------- open_stack


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("stack")
    return simulate_stamps_stack(out, SimConfig(width=24, length=20, n_dates=5, seed=2, ps_fraction=0.05))


@pytest.fixture
def copy(stack_dir, tmp_path) -> Path:
    dst = tmp_path / stack_dir.name
    shutil.copytree(stack_dir, dst)
    return dst


def test_open_stack_reads_everything(stack_dir):
    st = open_stack(stack_dir)
    assert st.master == dt.date(2024, 1, 29) and st.master_ix == 2
    assert st.slaves == [dt.date(2024, 1, 5), dt.date(2024, 1, 17), dt.date(2024, 2, 10), dt.date(2024, 2, 22)]
    assert st.dates == sorted(st.slaves + [st.master]) and st.shape == (20, 24)
    assert st.baseline_array().shape == (4, 4)
    assert st.dem is not None and st.dem.name == "20240129_dem.rdc"
    m = np.fromfile(st.rslc[st.master], ">c8").reshape(20, 24)
    s = np.fromfile(st.rslc[st.slaves[1]], ">c8").reshape(20, 24)
    blk = st.rslc_block(st.master, 3, 9)
    assert blk.dtype == np.complex64 and blk.dtype.isnative and blk.shape == (6, 24)
    np.testing.assert_array_equal(blk, m[3:9])
    d = st.diff_block(st.slaves[1], 0, 20)
    np.testing.assert_allclose(d, m * np.conj(s), rtol=1e-6)
    li, px = np.array([0, 19, 7, 7]), np.array([23, 0, 5, 6])
    np.testing.assert_array_equal(st.diff_at(st.slaves[1], li, px), d[li, px])
    np.testing.assert_array_equal(st.rslc_at(st.master, li, px), m[li, px])
    lon = np.fromfile(st.lon, ">f4").reshape(20, 24)
    ll = st.lonlat_at(li, px)
    assert ll.shape == (4, 2) and ll.dtype == np.float64
    np.testing.assert_array_equal(ll[:, 0], lon[li, px])
    assert st.dem_at(li, px).dtype == np.float32
    with pytest.raises(IndexError):
        st.diff_at(st.slaves[0], np.array([20]), np.array([0]))
    with pytest.raises(IndexError):
        st.rslc_block(st.master, 5, 21)


def test_open_stack_without_dem_and_with_snap_names(copy):
    (copy / "geo" / "20240129_dem.rdc").rename(copy / "geo" / "elevation_dem.rdc")  # SNAP's own name
    (copy / "geo" / "20240129.lon").rename(copy / "geo" / "other.lon")  # any single *.lon
    st = open_stack(copy)
    assert st.dem.name == "elevation_dem.rdc" and st.lon.name == "other.lon"
    (copy / "geo" / "elevation_dem.rdc").unlink()
    st = open_stack(copy)
    assert st.dem is None
    z = st.dem_at(np.array([1, 2]), np.array([3, 4]))
    assert z.dtype == np.float32 and np.all(z == 0)


def test_scattered_reads_use_64bit_offsets(tmp_path):
    # 50000 x 43000 float32 = 2.15e9 elements > 2**31: a sparse file, two values written near the end.
    W, L = 50_000, 43_000
    p = tmp_path / "big_dem.rdc"
    try:
        with open(p, "wb") as f:
            f.truncate(W * L * 4)
            for (li, px), v in (((L - 1, W - 1), 123.5), ((42_950, 10), -7.25)):
                f.seek((li * W + px) * 4)
                f.write(np.array([v], ">f4").tobytes())
    except OSError:
        pytest.skip("no sparse-file support")
    par = MasterPar(**{**PAR.__dict__, "width": W, "length": L})
    st = StampsStack(root=tmp_path, master=dt.date(2024, 1, 1), slaves=[], par=par, baselines=[], rslc={}, diff={},
                     lon=p, lat=p, dem=p)
    np.testing.assert_array_equal(st.dem_at(np.array([L - 1, 42_950, 0]), np.array([W - 1, 10, 0])), [123.5, -7.25, 0.0])


def _err(root: Path) -> str:
    with pytest.raises(InputError) as e:
        open_stack(root)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def _swap_to_little_endian(p: Path, dtype: str) -> None:
    a = np.fromfile(p, ">" + dtype)
    p.write_bytes(a.astype("<" + dtype).tobytes())


M, S1, S4 = "20240129", "20240117", "20240222"


@pytest.mark.parametrize(
    "break_it, names, words",
    [
        (lambda c: shutil.rmtree(c), ["INSAR_20240129"], ["not found"]),
        (lambda c: shutil.rmtree(c / "geo"), ["geo"], ["missing"]),
        (lambda c: shutil.rmtree(c / "diff0"), ["diff0"], ["missing"]),
        (lambda c: shutil.rmtree(c / "rslc"), ["rslc"], ["missing"]),
        (lambda c: (c / f"rslc/{M}.rslc.par").unlink(), [f"{M}.rslc.par"], ["not found"]),
        (lambda c: (c / f"rslc/{M}.rslc.par").write_text((c / f"rslc/{M}.rslc.par").read_text().replace("prf:", "xprf:")),
         [f"{M}.rslc.par"], ["prf"]),
        (lambda c: (c / f"diff0/{M}_{S1}.diff").rename(c / f"diff0/{M}-{S1}.diff"), [f"{M}-{S1}.diff"], ["name"]),
        (lambda c: (c / f"diff0/{M}_{S4}.diff").rename(c / f"diff0/20240130_{S4}.diff"), [f"20240130_{S4}.diff"], ["master"]),
        (lambda c: shutil.copy(c / f"diff0/{M}_{S1}.diff", c / f"diff0/{M}_{M}.diff"), [f"{M}_{M}.diff"], ["master-master"]),
        (lambda c: (c / f"diff0/{M}_{S1}.base").unlink(), [f"{M}_{S1}.base"], ["missing"]),
        (lambda c: (c / f"rslc/{S1}.rslc").unlink(), [f"{S1}.rslc"], ["missing"]),
        (lambda c: (c / f"rslc/{M}.rslc").unlink(), [f"{M}.rslc"], ["missing"]),
        (lambda c: shutil.copy(c / f"rslc/{S1}.rslc", c / "rslc/20240305.rslc"), ["20240305.rslc"], ["without interferogram"]),
        (lambda c: [(c / f"diff0/{M}_{s}.{e}").unlink() for s in ("20240105", S4) for e in ("diff", "base")],
         ["diff0"], ["too few dates"]),
        (lambda c: (c / f"rslc/{S1}.rslc").write_bytes((c / f"rslc/{S1}.rslc").read_bytes()[:-8]), [f"{S1}.rslc"], ["truncated"]),
        (lambda c: (c / f"diff0/{M}_{S4}.diff").write_bytes((c / f"diff0/{M}_{S4}.diff").read_bytes()[:100]),
         [f"{M}_{S4}.diff"], ["truncated"]),
        (lambda c: (c / f"geo/{M}.lat").write_bytes((c / f"geo/{M}.lat").read_bytes() + b"\0" * 4), [f"{M}.lat"],
         ["inconsistent size"]),
        (lambda c: (c / f"geo/{M}_dem.rdc").write_bytes(b"\0" * 20), [f"{M}_dem.rdc"], ["truncated"]),
        (lambda c: (c / f"geo/{M}.lon").unlink(), [f"{M}.lon"], ["missing"]),
        (lambda c: _swap_to_little_endian(c / f"diff0/{M}_{S4}.diff", "c8"), [f"{M}_{S4}.diff"], ["wrong byte order"]),
        (lambda c: _swap_to_little_endian(c / f"rslc/{M}.rslc", "c8"), [f"{M}.rslc"], ["wrong byte order"]),
        (lambda c: _swap_to_little_endian(c / f"geo/{M}.lat", "f4"), [f"{M}.lat"], ["wrong byte order"]),
        (lambda c: _swap_to_little_endian(c / f"geo/{M}_dem.rdc", "f4"), [f"{M}_dem.rdc"], ["wrong byte order"]),
    ],
    ids=["no-folder", "no-geo", "no-diff0", "no-rslc", "no-par", "par-key", "diff-name", "other-master", "master-master",
         "no-base", "slave-no-rslc", "master-no-rslc", "rslc-no-diff", "too-few", "trunc-rslc", "trunc-diff",
         "big-lat", "trunc-dem", "no-lon", "le-diff", "le-rslc", "le-lat", "le-dem"],
)
def test_open_stack_errors_name_the_file(copy, break_it, names, words):
    break_it(copy)
    msg = _err(copy)
    for n in names:
        assert n in msg, msg
    for w in words:
        assert w in msg, msg


def test_byte_order_check_has_no_false_alarm_on_awkward_data(copy):
    L, W = 20, 24
    # integer-valued heights with zeros, NaN no-data in half the latitudes: still big-endian
    dem = np.zeros((L, W), np.float32)
    dem[:, 12:] = np.arange(12 * L).reshape(L, 12) % 7 * 100
    write_float32_be(copy / f"geo/{M}_dem.rdc", dem)
    lat = np.full((L, W), np.nan, np.float32)
    lat[10:] = 41.9
    write_float32_be(copy / f"geo/{M}.lat", lat)
    open_stack(copy)
    # the same awkward data written little-endian is caught
    _swap_to_little_endian(copy / f"geo/{M}_dem.rdc", "f4")
    assert "wrong byte order" in _err(copy)
    write_float32_be(copy / f"geo/{M}_dem.rdc", dem)
    _swap_to_little_endian(copy / f"geo/{M}.lat", "f4")
    assert "wrong byte order" in _err(copy)
    # an all-zero file is undecidable and accepted
    write_float32_be(copy / f"geo/{M}.lat", np.zeros((L, W)))
    open_stack(copy)
