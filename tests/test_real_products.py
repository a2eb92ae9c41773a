"""Real Sentinel-1 products of every kind through the readers (annotation only, no pixels).

All SAFEs and zips of ``../shared/data/s1-samples`` (full products, zips with a few annotation
files, a zip that wraps the SAFE in a folder) and the burst-extracted pair of hyp3-isce2 (one
burst in IW3, empty IW1/IW2 burst lists, IPF 2.9: no burstId in the annotation) through
``stack-overview``, ``snap-graphs`` and the ifg-stack checks that need no pixels; the AOI to
sub-swath choice.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from real_data import S1_SAMPLES, real_dir

# a box inside the one IW3 burst of the burst-extracted pair (its footprint spans
# lon -136.59..-135.24, lat 56.92..57.19)
BURST_AOI = (-136.0, 56.98, -135.8, 57.05)


def _products() -> list[Path]:
    root = real_dir("", S1_SAMPLES) if S1_SAMPLES.is_dir() else real_dir("s1-samples", S1_SAMPLES.parent)
    return sorted([*root.glob("*/*.SAFE"), *root.glob("*/*.zip")])


@pytest.fixture(scope="module")
def burst_pair() -> tuple[Path, Path]:
    d = real_dir("hyp3-isce2-single-burst", S1_SAMPLES)
    sec, ref = sorted(d.glob("*.SAFE"))  # 2018 secondary, 2019 reference
    return ref, sec


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    from snapstamps.cli import main

    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_every_sample_product_reads(tmp_path: Path) -> None:
    from snapstamps.ifg.overview import read_acquisitions

    products = _products()
    assert len(products) >= 8
    for p in products:
        (acq,) = read_acquisitions([p], cache=tmp_path / "cache")
        assert acq.swaths, p.name
        for sub, sw in acq.swaths.items():
            ids = [b.burst_id for b in sw.bursts]
            # ESA relative burst ids: from the annotation (IPF >= 3.40) or derived from the timing
            assert all(i > 0 for i in ids), (p.name, sub, ids)
            assert np.all(np.diff(ids) == 1), (p.name, sub, ids)
            assert sw.orbit.covers(sw.bursts[0].t0, sw.bursts[-1].t0, 2)


def test_burst_id_derived_from_timing_equals_the_annotated_one() -> None:
    import xml.etree.ElementTree as ET

    from snapstamps.ifg.safe import _relative_burst_id

    checked = 0
    for ann in sorted(S1_SAMPLES.glob("*/*.SAFE/annotation/s1?-iw?-slc-*.xml")):
        root = ET.parse(ann).getroot()
        bursts = root.findall(".//burstList/burst")
        if not bursts or bursts[0].findtext("burstId") is None:
            continue
        manifest = (ann.parents[1] / "manifest.safe").read_text()
        rel = int(re.search(r"<safe:relativeOrbitNumber[^>]*>(\d+)<", manifest).group(1))
        sub = ann.name.split("-")[1].upper()
        for b in bursts:
            assert _relative_burst_id(root, b, sub, rel) == int(b.findtext("burstId"))
            checked += 1
    if not checked:
        pytest.skip("no annotated burst ids in ../shared/data/s1-samples")


def test_stack_overview_on_the_burst_extracted_pair(burst_pair, capsys) -> None:
    ref, sec = burst_pair
    rc, out, err = _run(["stack-overview", "--json", str(sec), str(ref)], capsys)
    assert rc == 0, err
    o = json.loads(out)
    assert o["common_bursts"] == {"IW3": [372326]}
    assert [a["subswaths"] for a in o["acquisitions"]] == [{"IW3": [372326]}] * 2
    for name in (ref.name, sec.name):
        assert set(o["skipped_subswaths"][name]) == {"IW1", "IW2"}
    (pair,) = o["pairs"]
    assert pair["subswath"] == "IW3" and pair["common_bursts"] == 1
    assert 0.0 < abs(pair["bperp_m"]) < 300.0 and pair["btemp_days"] == 372 * (1 if pair["secondary"] == ref.name else -1)
    fc = o["footprints"]
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 1
    ring = np.array(fc["features"][0]["geometry"]["coordinates"][0])
    assert ring.shape == (5, 2) and np.allclose(ring[0], ring[-1])
    # the ring encloses the annotation's geolocation grid of the burst's valid area
    assert -137 < ring[:, 0].min() < ring[:, 0].max() < -135 and 56.8 < ring[:, 1].min() < ring[:, 1].max() < 57.3


def test_stack_overview_reports_the_bursts_an_aoi_touches(burst_pair, capsys) -> None:
    ref, sec = burst_pair
    rc, out, err = _run(["stack-overview", "--json", "--aoi", *map(str, BURST_AOI), str(sec), str(ref)], capsys)
    assert rc == 0, err
    assert json.loads(out)["aoi"]["subswaths"] == {"IW3": [372326]}
    rc, out, err = _run(["stack-overview", "--json", "--aoi", "10", "10", "11", "11", str(sec), str(ref)], capsys)
    assert rc == 0 and json.loads(out)["aoi"]["subswaths"] == {}
    rc, out, err = _run(["stack-overview", "--json", "--aoi", "11", "10", "10", "11", str(sec), str(ref)], capsys)
    assert rc == 2 and "W < E" in err


def test_product_without_any_burst_is_a_clear_error(burst_pair, tmp_path: Path, capsys) -> None:
    ref, sec = burst_pair
    broken = tmp_path / ref.name
    (broken / "annotation").mkdir(parents=True)
    shutil.copy(ref / "manifest.safe", broken / "manifest.safe")
    for ann in (ref / "annotation").glob("*.xml"):
        text = ann.read_text()
        text = re.sub(r'<burstList count="\d+">.*?</burstList>', '<burstList count="0"/>', text, flags=re.S)
        (broken / "annotation" / ann.name).write_text(text)
    rc, out, err = _run(["stack-overview", str(sec), str(broken)], capsys)
    assert rc == 2
    assert "no usable burst" in err and ref.name in err and len(err.strip().splitlines()) == 1


def test_snap_graphs_checks_the_subswaths_of_burst_products(burst_pair, tmp_path: Path, capsys) -> None:
    ref, sec = burst_pair
    base = ["snap-graphs", "--out", str(tmp_path / "out"), "--reference", str(ref), "--secondaries", str(sec), "--snap-version", "9.0"]
    rc, out, err = _run([*base, "--subswaths", "IW3"], capsys)
    assert rc == 0, err
    jobs = json.loads((tmp_path / "out" / "graphs" / "jobs.json").read_text())
    assert jobs["product_checks"]["checked"] == {"2018-06-28": {"IW3": [372326]}, "2019-07-05": {"IW3": [372326]}}
    assert set(jobs["product_checks"]["skipped_subswaths"][ref.name]) == {"IW1", "IW2"}
    rc, out, err = _run([*base, "--subswaths", "IW2"], capsys)
    assert rc == 2 and "IW2" in err and "empty burst list" in err and "IW3" in err
    # no --subswaths: chosen from the bbox
    rc, out, err = _run([*base, "--bbox", *map(str, BURST_AOI)], capsys)
    assert rc == 0, err
    assert all("_IW3" in Path(f).name for f in out.split() if Path(f).name.startswith("split_"))
    rc, out, err = _run([*base], capsys)
    assert rc == 2 and "--bbox" in err


def test_ifg_stack_checks_without_pixels(burst_pair) -> None:
    from snapstamps.errors import InputError
    from snapstamps.ifg.checks import preflight

    ref, sec = burst_pair
    s = preflight(ref, [sec], "IW3", "VV", bbox=BURST_AOI)
    assert s["burst_ids"] == [372326] and s["dates"] == ["2019-07-05", "2018-06-28"]
    with pytest.raises(InputError, match="IW1 VV holds no burst"):
        preflight(ref, [sec], "IW1", "VV")
    with pytest.raises(InputError, match="outside the IW3 bursts"):
        preflight(ref, [sec], "IW3", "VV", bbox=(10.0, 10.0, 11.0, 11.0))
    with pytest.raises(InputError, match="same date"):
        preflight(ref, [ref], "IW3", "VV")


def test_native_ifg_stack_picks_the_subswath_from_the_aoi(burst_pair, tmp_path: Path, capsys) -> None:
    ref, sec = burst_pair
    rc, out, err = _run(["ifg-stack", "--reference", str(ref), "--secondary", str(sec), "--bbox", *map(str, BURST_AOI),
                         "--dem", str(tmp_path / "none.tif"), "--out", str(tmp_path / "o")], capsys)
    assert "sub-swath IW3: chosen from the area of interest" in err
    # then it stops at the first missing input (the 0-byte measurement TIFFs or the DEM), one line
    assert rc == 2 and err.strip().splitlines()[-1].startswith("error: ")
    rc, out, err = _run(["ifg-stack", "--reference", str(ref), "--secondary", str(sec), "--bbox", *map(str, BURST_AOI),
                         "--dem", str(tmp_path / "none.tif"), "--out", str(tmp_path / "o"), "--check-only"], capsys)
    assert rc == 0, err
    assert json.loads(out)["burst_ids"] == [372326] and json.loads(out)["subswath"] == "IW3"


def test_subswath_choice_when_the_aoi_spans_two(tmp_path: Path) -> None:
    from snapstamps.errors import InputError
    from snapstamps.ifg.overview import aoi_bursts, read_acquisitions, subswath_covering_aoi, subswaths_for_aoi

    z = real_dir("s1-reader", S1_SAMPLES) / "S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768.zip"
    (acq,) = read_acquisitions([z], "VV", tmp_path)
    assert sorted(acq.swaths) == ["IW1", "IW2", "IW3"]
    # a box on the IW1/IW2 overlap of two bursts
    from shapely.geometry import Polygon

    from snapstamps.ifg.safe import burst_polygon

    p1 = Polygon(burst_polygon(acq.swaths["IW1"], acq.swaths["IW1"].bursts[4]))
    p2 = next(q for q in (Polygon(burst_polygon(acq.swaths["IW2"], b)) for b in acq.swaths["IW2"].bursts) if q.intersection(p1).area > 0)
    c = p1.intersection(p2).centroid
    seam = (c.x - 0.01, c.y - 0.005, c.x + 0.01, c.y + 0.005)
    hit = aoi_bursts(acq.swaths, seam)
    assert set(hit) == {"IW1", "IW2"}
    assert subswaths_for_aoi([z], seam, "VV", tmp_path) == ["IW1", "IW2"]
    # an engine of one sub-swath: the one containing the whole box, else a clear error
    try:
        one = subswath_covering_aoi([z], seam, "VV", tmp_path)
        assert one in hit
    except InputError as exc:
        assert "spans sub-swaths IW1, IW2" in str(exc)
    c2 = p2.difference(p1).representative_point()
    inside = (c2.x - 0.005, c2.y - 0.005, c2.x + 0.005, c2.y + 0.005)
    assert subswath_covering_aoi([z], inside, "VV", tmp_path) == "IW2"


def test_cwl_subswaths_tool_on_the_burst_product(burst_pair, tmp_path: Path) -> None:
    """The ifg-stack package's ``choose_subswaths`` tool (``snapstamps aoi-subswaths``) with cwltool."""
    import os
    import subprocess
    import sys

    ref, _ = burst_pair
    root = Path(__file__).resolve().parents[1]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "snapstamps"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} -m snapstamps.cli \"$@\"\n")
    exe.chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ.get('PATH', '')}")
    for bbox, want in ((list(BURST_AOI), ["IW3"]), ([1.0, 1.0, 2.0, 2.0], None)):
        (tmp_path / "job.json").write_text(json.dumps({"reference": {"class": "Directory", "path": str(ref)}, "bbox": bbox}))
        proc = subprocess.run([sys.executable, "-m", "cwltool", "--quiet", "--no-container", "--outdir", str(tmp_path / "out"),
                               str(root / "cwl/tools/ifg-subswaths.cwl"), str(tmp_path / "job.json")],
                              capture_output=True, text=True, env=env, timeout=300)
        if want is None:
            # the tool fails (exit status 2, one-line error); cwltool reports permanentFail
            assert "touches no burst" in proc.stderr and "permanentFail" in proc.stderr
            assert not json.loads(proc.stdout or "{}").get("subswaths")
        else:
            assert proc.returncode == 0, proc.stderr[-2000:]
            assert json.loads(proc.stdout)["subswaths"] == want


def test_snap_graph_product_checks_on_every_sample_product(tmp_path: Path) -> None:
    """snap-graphs' product check (annotation only) on every sample product as the reference."""
    from snapstamps.backends.snap.graphs import check_products
    from snapstamps.ifg.config import IfgStackOptions
    from snapstamps.ifg.overview import read_acquisitions

    absent = tmp_path / "S1A_IW_SLC__1SDV_20991231T000000_20991231T000027_000000_000000_0000.SAFE"  # not here: not checked
    for p in _products():
        (acq,) = read_acquisitions([p], cache=tmp_path / "cache")
        subs = sorted(acq.swaths)
        pol = next(iter(acq.swaths.values())).polarisation
        cfg = IfgStackOptions.build(reference=[str(p)], secondaries=[str(absent)], subswaths=subs, polarisation=pol,
                                    out=str(tmp_path / "out"), backend="snap")
        res = check_products(cfg)
        assert res["not_checked"] == [str(absent)]
        (ids,) = res["checked"].values()
        assert {s: v for s, v in ids.items()} == {s: [b.burst_id for b in acq.swaths[s].bursts] for s in subs}, p.name
