"""Command line of the interferogram-stack engine, slice assembly, gathering, and bad-input errors.

Everything goes through ``snapstamps.cli.main([...])`` on one small simulated stack of point
targets (3 dates; the first one written as two consecutive slices, one burst each).
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("xarray_sentinel")

from snapstamps.cli import main
from snapstamps.ifg.checks import accuracy
from snapstamps.ifg.safe import open_date, open_swath
from snapstamps.simulate.safe_stack import SafeSimConfig, default_base, simulate_safe_stack


@functools.cache
def kept_burst_ids() -> list[int]:
    """Burst ids of the bursts the simulator keeps by default (3 and 4) in its base product."""
    base = open_swath(default_base()[0], "IW1", "VV")
    return [b.burst_id for b in base.bursts[3:5]]


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("clisim")
    cfg = SafeSimConfig(n_dates=3, baselines=[-60.0, 0.0, 110.0], seed=3, n_samples=500, first_sample=1600, targets_only=True, split_dates=[0])
    return d, simulate_safe_stack(d, cfg)


def _bbox(s: dict) -> list[str]:
    c = s["scene_centre_lonlat"]
    return [str(v) for v in (c[0] - 0.008, c[1] - 0.01, c[0] + 0.008, c[1] + 0.01)]


def _args(d: Path, s: dict, out: Path, secondaries: list[Path] | None = None, **over) -> list[str]:
    ref = d / s["reference"]
    if secondaries is None:
        secondaries = [d / n for k, g in enumerate(s["date_products"]) if k != s["reference_index"] for n in g]
    a = {"--reference": [str(ref)], "--secondary": [str(p) for p in secondaries], "--subswath": ["IW1"], "--polarisation": ["VV"],
         "--bbox": _bbox(s), "--dem": [str(d / s["dem"])], "--orbits": [str(d / "orbits")], "--out": [str(out)]}
    a.update(over)
    return ["ifg-stack"] + [x for k, v in a.items() for x in [k, *v]]


@pytest.fixture(scope="module")
def full_run(sim, tmp_path_factory) -> Path:
    d, s = sim
    out = tmp_path_factory.mktemp("full")
    assert main(_args(d, s, out)) == 0
    return out


def test_simulator_writes_a_date_as_two_slices(sim) -> None:
    d, s = sim
    a, b = s["date_products"][0]
    sa, sb = open_swath(d / a, "IW1", "VV"), open_swath(d / b, "IW1", "VV")
    assert [x.burst_id for x in sa.bursts] == kept_burst_ids()[:1] and [x.burst_id for x in sb.bursts] == kept_burst_ids()[1:]
    sw = open_date([d / b, d / a], "IW1", "VV", need_measurement=True)  # order does not matter
    ref = open_swath(d / s["reference"], "IW1", "VV")
    assert [x.burst_id for x in sw.bursts] == [x.burst_id for x in ref.bursts] == kept_burst_ids()
    assert [x.measurement.parent.parent.name for x in sw.bursts] == [a, b]
    assert sw.slices == (d / a, d / b)
    dt = [x.t0 - y.t0 for x, y in zip(sw.bursts, ref.bursts)]
    assert abs(dt[1] - dt[0]) < 1e-6  # the same burst timing as one product (times rebased on one epoch)
    assert sw.read_burst(sw.bursts[1], (700, 710), (100, 110)).shape == (10, 10)


def test_ifg_stack_cli_with_slice_assembly(sim, full_run) -> None:
    d, s = sim
    summ = json.loads((full_run / "ifg_stack.json").read_text())
    by_date = {p["date"].replace("-", ""): p for p in summ["pairs"]}
    assert by_date[s["dates"][0]]["slices"] == s["date_products"][0]
    acc = accuracy(full_run, d)
    print(json.dumps(acc, indent=1))
    for p in acc["pairs"]:  # the assembled date is as good as the single-product one
        assert abs(p["az_offset_px"]) < 0.01 and abs(p["rg_offset_px"]) < 0.01
        assert p["phase_rms_rad"] < 0.1
        assert max(abs(j) for j in p["boundary_jumps_rad"]) < 0.1


def test_gather_single_pair_runs_is_byte_identical(sim, full_run, tmp_path, capsys) -> None:
    d, s = sim
    outs = []
    for k, group in enumerate(s["date_products"]):
        if k == s["reference_index"]:
            continue
        o = tmp_path / f"pair{k}"
        assert main(_args(d, s, o, [d / n for n in group])) == 0
        outs.append(o)
    assert main(["ifg-stack-gather", *map(str, outs[::-1]), "--out", str(tmp_path / "gathered")]) == 0
    a = next(full_run.glob("INSAR_*"))
    b = tmp_path / "gathered" / a.name
    fa = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    fb = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert fa == fb and len(fa) >= 14
    for rel in fa:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    g = json.loads((tmp_path / "gathered" / "ifg_stack.json").read_text())
    assert [p["date"] for p in g["pairs"]] == sorted(p["date"] for p in g["pairs"])
    # inconsistent runs: a different grid, and the same secondary twice
    capsys.readouterr()
    other = tmp_path / "other"
    assert main(_args(d, s, other, [d / n for n in s["date_products"][2]], **{"--bbox": [str(float(v) + 0.001) for v in _bbox(s)]})) == 0
    capsys.readouterr()
    assert main(["ifg-stack-gather", str(outs[0]), str(other), "--out", str(tmp_path / "g2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "differs" in err, err
    assert main(["ifg-stack-gather", str(outs[0]), str(outs[0]), "--out", str(tmp_path / "g3")]) == 2
    assert "also in" in capsys.readouterr().err


def test_stack_overview_json_layout(sim, capsys) -> None:
    d, s = sim
    prods = [str(d / n) for g in s["date_products"] for n in g]
    assert main(["stack-overview", "--json", "--reference", str(d / s["reference"]), *prods]) == 0
    o = json.loads(capsys.readouterr().out)
    assert o["reference"] == s["reference"]
    assert len(o["acquisitions"]) == 3 and o["acquisitions"][0]["slices"] == s["date_products"][0]
    assert len(o["pairs"]) == 2
    for p in o["pairs"]:
        assert {"reference", "secondary", "subswath", "bperp_m", "btemp_days"} <= set(p)
        assert p["reference"] == s["reference"] and p["subswath"] == "IW1"
    assert sorted(p["btemp_days"] for p in o["pairs"]) == [-12, 12]
    assert main(["stack-overview", *prods]) == 0
    assert "suggested" in capsys.readouterr().out


def test_simulate_safe_stack_cli(tmp_path, capsys) -> None:
    out = tmp_path / "s"
    assert main(["simulate", "safe-stack", "--out", str(out), "--dates", "2", "--samples", "64", "--first-sample", "1600",
                 "--split-dates", "1", "--split-overlap", "1"]) == 0
    info = json.loads(capsys.readouterr().out)
    a, b = info["date_products"][1]
    assert all((out / n / "manifest.safe").is_file() for g in info["date_products"] for n in g)
    # the first slice repeats the second's burst: assembly keeps it once, from the earlier slice
    assert [x.burst_id for x in open_swath(out / a, "IW1", "VV").bursts] == kept_burst_ids()
    assert [x.burst_id for x in open_swath(out / b, "IW1", "VV").bursts] == kept_burst_ids()[1:]
    sw = open_date([out / a, out / b], "IW1", "VV", need_measurement=True)
    assert [x.burst_id for x in sw.bursts] == kept_burst_ids()
    assert [x.measurement.parent.parent.name for x in sw.bursts] == [a, a]
    one = open_swath(out / info["date_products"][0][0], "IW1", "VV")
    assert np.allclose([x.t0 for x in sw.bursts], [x.t0 for x in one.bursts], atol=1e-3)
    assert main(["simulate", "safe-stack", "--out", str(out), "--dates", "1"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def _one_line_error(capsys, argv: list[str], *needles: str) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()  # progress lines (orbits found) may come first
    err = lines[-1]
    assert err.startswith("error: ") and sum(x.startswith("error") for x in lines) == 1, lines
    for n in needles:
        assert n in err, err
    return err


def test_bad_input_errors_are_one_line(sim, tmp_path, capsys) -> None:
    d, s = sim
    out = tmp_path / "o"
    ref = d / s["reference"]
    sec = d / s["products"][2]
    # a product of another track
    other = tmp_path / s["products"][2]
    shutil.copytree(sec, other)
    man = other / "manifest.safe"
    man.write_text(re.sub(r'(<safe:relativeOrbitNumber type="(?:start|stop)">)\d+<', r"\g<1>44<", man.read_text()))
    _one_line_error(capsys, _args(d, s, out, [other]), "relative orbit 44")
    _one_line_error(capsys, ["stack-overview", str(ref), str(other)], "relative orbit 44")
    # another mode
    ew = tmp_path / s["products"][2].replace("_IW_", "_EW_")
    shutil.copytree(sec, ew)
    _one_line_error(capsys, _args(d, s, out, [ew]), "mode EW")
    # sub-swath, polarisation
    _one_line_error(capsys, _args(d, s, out, **{"--subswath": ["IW3"]}), "IW3", "not in the product")
    _one_line_error(capsys, _args(d, s, out, **{"--polarisation": ["VH"]}), "VH", "not in the product")
    # AOI outside the bursts, DEM not covering the AOI
    _one_line_error(capsys, _args(d, s, out, **{"--bbox": ["20", "10", "20.1", "10.1"]}), "outside")
    c = s["scene_centre_lonlat"]
    _one_line_error(capsys, _args(d, s, out, **{"--bbox": [str(c[0] - 0.2), str(c[1] - 0.01), str(c[0] + 0.01), str(c[1] + 0.01)]}), "DEM", "covers only")
    # orbit folder missing, orbit file too short
    _one_line_error(capsys, _args(d, s, out, **{"--orbits": [str(tmp_path / "nope")]}), "orbit folder not found")
    short = tmp_path / "orbits"
    shutil.copytree(d / "orbits", short)
    for f in short.glob("*.EOF"):
        txt = f.read_text()
        head, rest = txt.split("<OSV>", 1)
        osvs = rest.split("<OSV>")
        f.write_text(head + "<OSV>" + "<OSV>".join(osvs[:3]).rstrip() + ("" if osvs[2].rstrip().endswith("</Data_Block>\n</Earth_Explorer_File>") else "\n</List_of_OSVs>\n</Data_Block>\n</Earth_Explorer_File>\n"))
    _one_line_error(capsys, _args(d, s, out, **{"--orbits": [str(short)]}), "orbit")
    # corrupt measurement TIFF (truncated), corrupt DEM TIFF
    bad = tmp_path / s["products"][2]
    shutil.rmtree(bad, ignore_errors=True)
    shutil.copytree(sec, bad)
    tif = next((bad / "measurement").glob("*.tif*"))
    tif.write_bytes(tif.read_bytes()[: tif.stat().st_size // 3])
    _one_line_error(capsys, _args(d, s, out, [bad]), tif.name)
    dem = tmp_path / "bad.tif"
    dem.write_bytes(b"II*\x00garbage" * 10)
    _one_line_error(capsys, _args(d, s, out, **{"--dem": [str(dem)]}), "bad.tif")
    # .zip input: a corrupt zip is an error; a good zip of the product is read
    z = tmp_path / "broken.zip"
    z.write_bytes(b"PK\x03\x04 not a zip")
    _one_line_error(capsys, _args(d, s, out, [z]), "broken.zip", "corrupt zip")
    good = tmp_path / (s["products"][2].removesuffix(".SAFE") + ".zip")
    with zipfile.ZipFile(good, "w") as zf:
        for f in sec.rglob("*"):
            zf.write(f, f.relative_to(d))
    capsys.readouterr()
    assert main(["stack-overview", "--json", str(ref), str(good)]) == 0
    o = json.loads(capsys.readouterr().out)
    assert np.isfinite(o["pairs"][0]["bperp_m"])


def test_stack_overview_needs_no_measurement_files(tmp_path, capsys):
    """The overview works from annotation and manifest alone (measurement files absent)."""
    import json
    import shutil

    from snapstamps.cli import main
    from snapstamps.simulate.safe_stack import SafeSimConfig, simulate_safe_stack

    sim = tmp_path / "sim"
    simulate_safe_stack(sim, SafeSimConfig(n_dates=3, seed=4, n_samples=400))
    prods = sorted(sim.glob("*.SAFE"))
    for p in prods:
        shutil.rmtree(p / "measurement")
        (p / "measurement").mkdir()
    capsys.readouterr()
    assert main(["stack-overview", "--json", *map(str, prods)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["pairs"]) == 2 and all(abs(p["bperp_m"]) < 300 for p in out["pairs"])
