"""Opt-in downloads of ``ifg-stack`` (``--download-orbits``, ``--dem auto``) with the network faked.

No test touches the network: ``sentineleof``'s ``download_eofs`` and ``dem_stitcher.stitch_dem``
are replaced by fakes that serve the simulator's own orbit files and DEM, and ``socket`` is blocked
(any connection attempt is recorded and fails) so that "offline" is real and "nothing connects
without the flags" is checked.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("xarray_sentinel")

import snapstamps.ifg.download as D
from snapstamps.cli import main
from snapstamps.ifg.orbits import find_eof
from snapstamps.ifg.safe import open_date, product_info
from snapstamps.simulate.safe_stack import SafeSimConfig, simulate_safe_stack
from snapstamps.workflows.ifg_stack import _orbit_for

# --------------------------------------------------------------------------- fixtures and fakes


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> tuple[Path, dict]:
    """3 simulated dates (the first as two slices), point targets only: a few seconds per run."""
    d = tmp_path_factory.mktemp("dlsim")
    cfg = SafeSimConfig(n_dates=3, baselines=[-60.0, 0.0, 110.0], seed=5, n_samples=500, first_sample=1600, targets_only=True, split_dates=[0])
    return d, simulate_safe_stack(d, cfg)


def _bbox(s: dict) -> tuple[float, float, float, float]:
    c = s["scene_centre_lonlat"]
    return (c[0] - 0.008, c[1] - 0.01, c[0] + 0.008, c[1] + 0.01)


def _args(d: Path, s: dict, out: Path, **over: list[str]) -> list[str]:
    secondaries = [d / n for k, g in enumerate(s["date_products"]) if k != s["reference_index"] for n in g]
    a: dict[str, list[str]] = {
        "--reference": [str(d / s["reference"])], "--secondary": [str(p) for p in secondaries], "--subswath": ["IW1"],
        "--polarisation": ["VV"], "--bbox": [str(v) for v in _bbox(s)], "--dem": [str(d / s["dem"])],
        "--orbits": [str(d / "orbits")], "--out": [str(out)],
    }
    a.update(over)
    return ["ifg-stack"] + [x for k, v in a.items() if v is not None for x in ([k, *v] if v != ["<flag>"] else [k])]


class _Net:
    """Connection attempts seen while the network is blocked."""

    def __init__(self) -> None:
        self.attempts: list[tuple] = []

    def refuse(self, *a, **k):
        self.attempts.append(tuple(str(x) for x in a[:2]))
        raise OSError("network blocked by the test")


def _block_network(mp: pytest.MonkeyPatch) -> _Net:
    """Make every connection (and name resolution) fail and be recorded."""
    net = _Net()
    mp.setattr(socket.socket, "connect", lambda self, *a, **k: net.refuse(*a))
    mp.setattr(socket.socket, "connect_ex", lambda self, *a, **k: net.refuse(*a))
    mp.setattr(socket, "create_connection", net.refuse)
    mp.setattr(socket, "getaddrinfo", net.refuse)
    return net


def _patch_download_eofs(mp: pytest.MonkeyPatch, fake: Callable) -> None:
    """Replace ``eof.download.download_eofs`` (a stand-in module when sentineleof is not installed)."""
    try:
        import eof.download as mod
    except ImportError:
        pkg = types.ModuleType("eof")
        mod = types.ModuleType("eof.download")
        pkg.download = mod  # type: ignore[attr-defined]
        mp.setitem(sys.modules, "eof", pkg)
        mp.setitem(sys.modules, "eof.download", mod)
        mp.setattr(mod, "download_eofs", fake, raising=False)
        return
    mp.setattr(mod, "download_eofs", fake)


def _eof_server(sim_dir: Path, calls: list[dict], serves: tuple[str, ...] = ("precise",)) -> Callable:
    """A fake ``download_eofs`` serving the simulator's EOF files (as RESORB for ``restituted``)."""

    def fake(orbit_dts=None, missions=None, save_dir=".", orbit_type="precise", **kw) -> list[Path]:
        calls.append({"orbit_dts": list(orbit_dts), "missions": list(missions), "save_dir": save_dir, "orbit_type": orbit_type, **kw})
        if orbit_type not in serves:
            return []
        out = []
        for dt, m in zip(orbit_dts, missions):
            t = np.datetime64(dt, "ns")
            src = find_eof(sim_dir / "orbits", m, t, t)
            assert src is not None, f"fake server has no orbit for {m} {dt}"
            name = src.name if orbit_type == "precise" else src.name.replace("POEORB", "RESORB")
            shutil.copy(src, Path(save_dir) / name)
            out.append(Path(save_dir) / name)
        return out

    return fake


def _dem_server(sim_dir: Path, s: dict, calls: list[dict]) -> Callable:
    """A fake ``stitch_dem`` returning the simulator's DEM (array, rasterio profile)."""
    import rasterio

    def fake(bounds, dem_name, **kw):
        calls.append({"bounds": list(bounds), "dem_name": dem_name, **kw})
        with rasterio.open(sim_dir / s["dem"]) as ds:
            return ds.read(1), dict(ds.profile)

    return fake


@pytest.fixture(scope="module")
def offline_baseline(sim, tmp_path_factory) -> tuple[Path, list[tuple]]:
    """A run with a DEM file and ``--orbits`` and without download flags, socket blocked and downloads forbidden."""
    d, s = sim
    out = tmp_path_factory.mktemp("baseline")
    with pytest.MonkeyPatch.context() as mp:
        net = _block_network(mp)

        def forbidden(*a, **k):
            raise AssertionError("a download was attempted without --download-orbits / --dem auto")

        mp.setattr(D, "fetch_orbit", forbidden)
        mp.setattr(D, "build_dem", forbidden)
        assert main(_args(d, s, out)) == 0
    return out, net.attempts


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """HOME / XDG cache in tmp (no ~/.netrc credentials, no sentineleof cache of the user)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.delenv("NETRC", raising=False)
    yield home


def _stderr_lines(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


# --------------------------------------------------------------------------- tests


def test_without_flags_nothing_connects(offline_baseline) -> None:
    out, attempts = offline_baseline
    assert attempts == []
    assert (out / "ifg_stack.json").is_file()
    assert not (out / "orbits").exists() and not (out / "dem").exists()


def test_download_orbits_and_dem_auto_land_in_out_and_are_used(sim, offline_baseline, tmp_path, monkeypatch, capsys) -> None:
    d, s = sim
    import dem_stitcher

    net = _block_network(monkeypatch)
    eof_calls: list[dict] = []
    dem_calls: list[dict] = []
    _patch_download_eofs(monkeypatch, _eof_server(d, eof_calls))
    monkeypatch.setattr(dem_stitcher, "stitch_dem", _dem_server(d, s, dem_calls))
    out = tmp_path / "out"
    assert main(_args(d, s, out, **{"--dem": ["auto"], "--orbits": None, "--download-orbits": ["<flag>"]})) == 0
    err = capsys.readouterr().err
    assert net.attempts == []

    # orbits: one precise request per date, for that date's mission and acquisition, saved in OUT/orbits
    infos = {str(i.date): i for i in (product_info(d / n) for n in s["products"])}
    assert len(eof_calls) == len(s["dates"])
    assert {c["orbit_type"] for c in eof_calls} == {"precise"}
    for c in eof_calls:
        assert c["save_dir"] == str(out / "orbits")
        (dt,), (mission,) = c["orbit_dts"], c["missions"]
        same_day = [i for k, i in infos.items() if k == str(dt.date())]
        assert same_day and mission == same_day[0].mission
        starts = [np.datetime64(i.start, "us") for i in infos.values() if str(i.date) == str(dt.date())]
        stops = [np.datetime64(i.stop, "us") for i in infos.values() if str(i.date) == str(dt.date())]
        assert min(starts) - np.timedelta64(1, "s") <= np.datetime64(dt, "us") <= max(stops) + np.timedelta64(1, "s")
    got = sorted(p.name for p in (out / "orbits").glob("*.EOF"))
    assert got == sorted(p.name for p in (d / "orbits").glob("*.EOF"))
    for name in got:  # downloaded, then taken by the engine's lookup
        assert f"downloaded {name}" in err and f": {name}" in err

    # DEM: glo_30, ellipsoidal, point-registered, AOI + margin, written in OUT/dem and read by the engine
    assert len(dem_calls) == 1
    c = dem_calls[0]
    w, s_, e, n = _bbox(s)
    m = D.DEM_MARGIN_DEG
    assert c["dem_name"] == "glo_30" and c["dst_ellipsoidal_height"] is True and c["dst_area_or_point"] == "Point"
    assert np.allclose(c["bounds"], [w - m, s_ - m, e + m, n + m])
    dem_file = D.dem_auto_path(out, _bbox(s))
    assert dem_file.parent == out / "dem" and dem_file.is_file()
    assert f"DEM: {dem_file}" in err

    # same inputs as the baseline run, so the same stack
    base, _ = offline_baseline
    a, b = json.loads((base / "ifg_stack.json").read_text()), json.loads((out / "ifg_stack.json").read_text())
    assert (a["n_lines"], a["n_samples"], a["first_sample"]) == (b["n_lines"], b["n_samples"], b["first_sample"])
    for pa, pb in zip(a["pairs"], b["pairs"]):
        assert pa["esd_shift_lines"] == pytest.approx(pb["esd_shift_lines"], abs=1e-9)
    insar = Path(b["insar_dir"]).name
    diffs = sorted((base / insar / "diff0").glob("*.diff"))
    assert len(diffs) == len(s["dates"]) - 1
    for f in diffs:
        x = np.fromfile(f, ">c8")
        y = np.fromfile(out / insar / "diff0" / f.name, ">c8")
        assert np.allclose(x, y, atol=1e-6 * np.abs(x).max())


def _log_lines(caplog) -> list[str]:
    """Progress lines of the ``snapstamps`` logger, warnings prefixed ``warning: `` as on stderr."""
    return [("warning: " if r.levelno >= logging.WARNING else "") + r.getMessage()
            for r in caplog.records if r.name == "snapstamps"]


def test_restituted_when_no_precise_orbit(sim, tmp_path, monkeypatch, caplog) -> None:
    d, s = sim
    calls: list[dict] = []
    _patch_download_eofs(monkeypatch, _eof_server(d, calls, serves=("restituted",)))
    sw = open_date([d / s["reference"]], "IW1", "VV")
    odir = tmp_path / "orbits"
    caplog.set_level(logging.INFO, logger="snapstamps")
    sv = _orbit_for(sw, odir, download=True)
    assert [c["orbit_type"] for c in calls] == ["precise", "restituted"]
    resorb = list(odir.glob("*RESORB*.EOF"))
    assert len(resorb) == 1 and sv.source == f"RESORB {resorb[0].name}"
    assert _log_lines(caplog) == [f"orbit {sw.info.date}: downloaded {resorb[0].name} into {odir}", f"orbit {sw.info.date}: {resorb[0].name}"]
    calls.clear()  # a second run finds the file and asks for nothing
    assert _orbit_for(sw, odir, download=True).source == sv.source and calls == []


def test_orbit_download_offline_warns_once_per_date_and_uses_annotation(sim, tmp_path, monkeypatch, isolated_home,
                                                                       caplog) -> None:
    """The real sentineleof (when installed) with the socket blocked: a one-line warning, no retries."""
    d, s = sim
    net = _block_network(monkeypatch)
    try:
        import eof.download  # noqa: F401
    except ImportError:  # stand-in failing like requests does offline
        from requests.exceptions import ConnectionError as ReqConnectionError

        def offline(**kw):
            net.attempts.append(("s1-orbits.s3.amazonaws.com", "443"))
            raise ReqConnectionError("Max retries exceeded (network blocked)")

        _patch_download_eofs(monkeypatch, offline)
    swaths = [open_date([d / n for n in g], "IW1", "VV") for g in s["date_products"]]
    caplog.set_level(logging.INFO, logger="snapstamps")
    state: dict = {}
    svs = [_orbit_for(swaths[0], tmp_path / "orbits", download=True, state=state)]
    n_first = len(net.attempts)
    svs += [_orbit_for(sw, tmp_path / "orbits", download=True, state=state) for sw in swaths[1:]]
    log = _log_lines(caplog)
    assert all(sv is sw.orbit and sv.source == "annotation" for sv, sw in zip(svs, swaths))
    assert len(log) == len(swaths) and all("\n" not in ln for ln in log)
    first = log[0]
    assert first.startswith(f"warning: orbit {swaths[0].info.date}: ") and first.endswith("annotation orbit used")
    assert "orbit download failed (precise: ConnectionError" in first
    assert all(ln.startswith("warning: orbit ") and "orbit download skipped (no connection)" in ln for ln in log[1:])
    assert n_first >= 1 and len(net.attempts) == n_first  # tried (and refused) once, not again for later dates
    assert state == {"offline": "no connection"}
    assert list((tmp_path / "orbits").glob("*.EOF")) == []


def test_require_precise_orbits_is_a_one_line_error(sim, tmp_path, monkeypatch, capsys) -> None:
    d, s = sim
    _block_network(monkeypatch)
    from requests.exceptions import ConnectionError as ReqConnectionError

    def offline(**kw):
        raise ReqConnectionError("HTTPSConnectionPool(host='s1-orbits.s3.amazonaws.com', port=443): Max retries exceeded\nsecond line")

    _patch_download_eofs(monkeypatch, offline)
    out = tmp_path / "out"
    rc = main(_args(d, s, out, **{"--orbits": None, "--download-orbits": ["<flag>"], "--require-precise-orbits": ["<flag>"]}))
    lines = _stderr_lines(capsys)
    assert rc == 2
    assert lines[-1].startswith("error: ") and "ConnectionError" in lines[-1] and "--require-precise-orbits" in lines[-1]
    assert not (out / "ifg_stack.json").exists()
    # without any orbit source at all
    rc = main(_args(d, s, tmp_path / "out2", **{"--orbits": None, "--require-precise-orbits": ["<flag>"]}))
    lines = _stderr_lines(capsys)
    assert rc == 2 and len(lines) == 1 and "no orbit folder" in lines[0]
    # with a folder that has the files, the flag is satisfied without any download
    assert main(_args(d, s, tmp_path / "out3", **{"--require-precise-orbits": ["<flag>"], "--bbox": ["0", "0", "0.1", "0.1"]})) == 2
    assert "area of interest is outside" in _stderr_lines(capsys)[-1]  # got past the orbit checks


def test_dem_auto_offline_is_a_one_line_error(sim, tmp_path, monkeypatch, capsys) -> None:
    d, s = sim
    import dem_stitcher
    from requests.exceptions import ConnectionError as ReqConnectionError

    net = _block_network(monkeypatch)

    def offline(bounds, dem_name, **kw):
        raise ReqConnectionError("Max retries exceeded with url: /Copernicus_DSM_COG_10\nmore")

    monkeypatch.setattr(dem_stitcher, "stitch_dem", offline)
    out = tmp_path / "out"
    assert main(_args(d, s, out, **{"--dem": ["auto"]})) == 2
    lines = _stderr_lines(capsys)
    msg = lines[-1]
    assert msg.startswith("error: --dem auto: cannot download the glo_30 DEM") and msg.endswith("pass a DEM GeoTIFF with --dem FILE")
    assert "ConnectionError" in msg and "\n" not in msg
    assert not (out / "dem").exists() or not any((out / "dem").iterdir())  # no partial DEM left
    assert net.attempts == []  # the orbits came from --orbits, nothing else tried


def test_build_dem_writes_ellipsoidal_geotiff_and_reuses_it(tmp_path, monkeypatch) -> None:
    import dem_stitcher
    from affine import Affine

    from snapstamps.ifg.dem import open_dem

    calls: list[list[float]] = []
    bbox = (12.40, 41.80, 12.50, 41.90)

    def fake(bounds, dem_name, **kw):
        calls.append(list(bounds))
        w, s_, e, n = bounds
        res = 1 / 3600
        nx, ny = round((e - w) / res) + 1, round((n - s_) / res) + 1
        lon = w + res * np.arange(nx)
        lat = n - res * np.arange(ny)
        arr = (100.0 + 1000.0 * (lon[None, :] - w) + 0.0 * lat[:, None]).astype(np.float32)
        prof = {"driver": "GTiff", "dtype": "float32", "nodata": np.nan, "width": nx, "height": ny, "count": 1, "crs": "EPSG:4326",
                "transform": Affine(res, 0, w - res / 2, 0, -res, n + res / 2), "blockxsize": 1024, "blockysize": 1024, "tiled": True}
        return arr, prof

    monkeypatch.setattr(dem_stitcher, "stitch_dem", fake)
    p = D.build_dem(bbox, tmp_path)
    assert p == tmp_path / "dem" / "glo30_12.4000_41.8000_12.5000_41.9000.tif" and p.is_file()
    dem = open_dem(p, bbox)
    assert dem.geoid is None  # ellipsoidal heights: no geoid added
    lon = np.array([12.41, 12.45, 12.49])
    assert np.allclose(dem.height(lon, np.full(3, 41.85)), 100.0 + 1000.0 * (lon - bbox[0] + D.DEM_MARGIN_DEG), atol=1e-3)
    assert dem.covers(bbox) == 1.0
    assert D.build_dem(bbox, tmp_path) == p and len(calls) == 1  # reused, not downloaded again
