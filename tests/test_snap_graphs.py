"""SNAP backend: generated gpt graphs parse as XML and carry the right operator chain and parameters."""

from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from snapstamps.backends.snap import plan_chain, write_graphs
from snapstamps.backends.snap.gpt import GptError, explain_log, parse_diag_version, run_gpt
from snapstamps.backends.snap.graphs import SnapProfile
from snapstamps.errors import ParameterError
from snapstamps.ifg.config import GptOptions, IfgStackOptions

REF = "S1A_IW_SLC__1SDV_20200105T052305_20200105T052332_030650_038322_1A2B.zip"
SEC1 = "S1A_IW_SLC__1SDV_20200117T052305_20200117T052332_030825_03893F_AAAA.zip"
SEC1B = "S1A_IW_SLC__1SDV_20200117T052330_20200117T052357_030825_03893F_BBBB.zip"
SEC2 = "S1B_IW_SLC__1SDV_20200129T052305_20200129T052332_020000_025000_CCCC.SAFE"
BBOX = (12.1, 41.8, 12.6, 42.0)


def cfg(tmp_path: Path, **kw) -> IfgStackOptions:
    base = dict(reference=[tmp_path / REF], secondaries=[tmp_path / SEC1], subswaths=["IW2"], bbox=BBOX,
                out=tmp_path / "out", snap_version="9.0", backend="snap")
    base.update(kw)
    return IfgStackOptions.build(**base)


def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml)


def nodes(root: ET.Element) -> dict[str, ET.Element]:
    return {n.get("id"): n for n in root.findall("node")}


def op(n: ET.Element) -> str:
    return n.findtext("operator")


def param(n: ET.Element, name: str) -> str | None:
    return n.find("parameters").findtext(name)


def sources(n: ET.Element) -> list[str]:
    src = n.find("sources")
    return [s.get("refid") for s in src]


def chain_to(ns: dict[str, ET.Element], node_id: str) -> list[str]:
    """Operators from a node back along first sources to a reader, in processing order."""
    out = []
    cur = node_id
    while cur:
        n = ns[cur]
        out.append(op(n))
        s = sources(n)
        cur = s[0] if s else None
    return out[::-1]


def jobs_by_kind(c: IfgStackOptions, version: str | None = None):
    jobs = plan_chain(c, SnapProfile.parse(version or c.snap_version))
    out: dict[str, list] = {}
    for j in jobs:
        out.setdefault(j.kind, []).append(j)
    return jobs, out


def test_single_swath_chain_and_parameters(tmp_path):
    c = cfg(tmp_path)
    jobs, by = jobs_by_kind(c)
    assert [j.kind for j in jobs] == ["split", "split", "coreg_ifg", "export"]
    split = parse(by["split"][0].graph)
    ns = nodes(split)
    assert chain_to(ns, "Write") == ["Read", "TOPSAR-Split", "Apply-Orbit-File", "Write"]
    sp = ns["TOPSAR-Split"]
    assert param(sp, "subswath") == "IW2" and param(sp, "selectedPolarisations") == "VV"
    assert param(sp, "wktAoi") == "POLYGON((12.1 41.8, 12.6 41.8, 12.6 42, 12.1 42, 12.1 41.8))"
    assert param(ns["Apply-Orbit-File"], "orbitType") == "Sentinel Precise (Auto Download)"
    assert param(ns["Write"], "formatName") == "BEAM-DIMAP"
    assert param(ns["Write"], "file").endswith("out/split/20200105_IW2.dim")

    co = parse(by["coreg_ifg"][0].graph)
    ns = nodes(co)
    assert chain_to(ns, "Write") == ["Read", "Back-Geocoding", "Enhanced-Spectral-Diversity", "Interferogram",
                                     "TOPSAR-Deburst", "TopoPhaseRemoval", "Subset", "Write"]
    assert chain_to(ns, "Write(2)") == ["Read", "Back-Geocoding", "Enhanced-Spectral-Diversity", "TOPSAR-Deburst",
                                        "Subset", "Write"]
    assert sources(ns["Back-Geocoding"]) == ["Read", "Read(2)"]
    assert param(ns["Read"], "file").endswith("split/20200105_IW2.dim")
    assert param(ns["Read(2)"], "file").endswith("split/20200117_IW2.dim")
    bg = ns["Back-Geocoding"]
    assert param(bg, "demName") == "SRTM 1Sec HGT" and param(bg, "externalDEMFile") is None
    assert param(bg, "maskOutAreaWithoutElevation") == "false"
    ifg = ns["Interferogram"]
    assert param(ifg, "subtractFlatEarthPhase") == "true" and param(ifg, "subtractTopographicPhase") == "false"
    assert param(ifg, "includeCoherence") == "false" and param(ifg, "srpPolynomialDegree") == "5"
    topo = ns["TopoPhaseRemoval"]
    for flag in ("outputElevationBand", "outputLatLonBands"):
        assert param(topo, flag) == "true"  # StampsExport needs them
    assert param(ns["Subset"], "geoRegion").startswith("POLYGON((12.1 41.8")
    assert param(ns["Subset"], "geoRegion") == param(ns["Subset(2)"], "geoRegion")
    assert param(ns["Write"], "file").endswith("ifg/20200105_20200117_IW2.dim")
    assert param(ns["Write(2)"], "file").endswith("coreg/20200105_20200117_IW2.dim")

    ex = parse(by["export"][0].graph)
    ns = nodes(ex)
    assert sources(ns["StampsExport"]) == ["Read", "Read(2)"]  # coreg first, ifg second
    assert param(ns["Read"], "file").endswith("coreg/20200105_20200117_IW2.dim")
    assert param(ns["Read(2)"], "file").endswith("ifg/20200105_20200117_IW2.dim")
    assert param(ns["StampsExport"], "psiFormat") == "true"
    assert param(ns["StampsExport"], "targetFolder").endswith("out/INSAR_20200105")


def test_several_subswaths_merge_in_export(tmp_path):
    c = cfg(tmp_path, subswaths=["IW3", "IW1", "IW2"], secondaries=[tmp_path / SEC1, tmp_path / SEC2])
    jobs, by = jobs_by_kind(c)
    assert len(by["split"]) == 9 and len(by["coreg_ifg"]) == 6 and len(by["export"]) == 2
    co = nodes(parse(by["coreg_ifg"][0].graph))
    assert "TopoPhaseRemoval" not in co and "Subset" not in co  # moved after TOPSAR-Merge
    assert chain_to(co, "Write")[-2:] == ["TOPSAR-Deburst", "Write"]
    ex = nodes(parse(by["export"][1].graph))
    assert param(ex["ProductSet-Reader"], "fileList").split(",")[0].endswith("coreg/20200105_20200129_IW1.dim")
    assert len(param(ex["ProductSet-Reader(2)"], "fileList").split(",")) == 3
    assert chain_to(ex, "Subset(2)") == ["ProductSet-Reader", "TOPSAR-Merge", "TopoPhaseRemoval", "Subset"]
    assert sources(ex["StampsExport"]) == ["Subset", "Subset(2)"]
    # every coreg job needs both splits of its sub-swath, the export needs all sub-swaths
    assert set(by["export"][1].needs) == {f"coreg_ifg_20200105_20200129_{s}" for s in ("IW1", "IW2", "IW3")}


def test_no_subset_without_bbox_and_burst_range(tmp_path):
    c = cfg(tmp_path, bbox=None, bursts=(3, 3))
    _, by = jobs_by_kind(c)
    sp = nodes(parse(by["split"][0].graph))["TOPSAR-Split"]
    assert param(sp, "wktAoi") is None
    assert (param(sp, "firstBurstIndex"), param(sp, "lastBurstIndex")) == ("3", "3")
    co = nodes(parse(by["coreg_ifg"][0].graph))
    assert "Subset" not in co
    assert "Enhanced-Spectral-Diversity" not in co  # one burst: no overlap for ESD
    assert sources(co["Interferogram"]) == ["Back-Geocoding"]
    c2 = cfg(tmp_path, subset_to_aoi=False)
    co2 = nodes(parse(jobs_by_kind(c2)[1]["coreg_ifg"][0].graph))
    assert "Subset" not in co2 and "TopoPhaseRemoval" in co2


def test_external_dem(tmp_path):
    dem = tmp_path / "dem" / "copdem.tif"
    c = cfg(tmp_path, dem=str(dem), dem_nodata=-32768.0)
    _, by = jobs_by_kind(c)
    co = nodes(parse(by["coreg_ifg"][0].graph))
    for node in ("Back-Geocoding", "TopoPhaseRemoval"):
        assert param(co[node], "demName") == "External DEM"
        assert param(co[node], "externalDEMFile") == str(dem.resolve())
        assert param(co[node], "externalDEMNoDataValue") == "-32768.0"
    with pytest.raises(ParameterError, match="unknown DEM"):
        cfg(tmp_path, dem="SRTM 2Sec")


def test_orbit_types(tmp_path):
    for kind, name in (("precise", "Sentinel Precise (Auto Download)"), ("restituted", "Sentinel Restituted (Auto Download)")):
        c = cfg(tmp_path, orbit_type=kind, orbit_continue_on_fail=(kind == "restituted"))
        ao = nodes(parse(jobs_by_kind(c)[1]["split"][0].graph))["Apply-Orbit-File"]
        assert param(ao, "orbitType") == name
        assert param(ao, "continueOnFail") == ("true" if kind == "restituted" else "false")
    # offline orbits reach gpt as system properties
    c = cfg(tmp_path, orbits_dir=tmp_path / "orbits")
    write_graphs(c)
    script = (Path(c.out) / "graphs" / "run_gpt.sh").read_text()
    assert f"-DOrbitFiles.sentinel1POEOrbitPath={(tmp_path / 'orbits' / 'POEORB').resolve()}" in script


def test_slice_assembly_uses_every_slice(tmp_path):
    sec1c = SEC1B.replace("052330_20200117T052357", "052355_20200117T052422").replace("BBBB", "CCCC")
    c = cfg(tmp_path, secondaries=[tmp_path / SEC1B, tmp_path / SEC1, tmp_path / sec1c])
    _, by = jobs_by_kind(c)
    assert len(by["split"]) == 2  # one date, three slices
    ns = nodes(parse(by["split"][1].graph))
    assert chain_to(ns, "Write") == ["Read", "SliceAssembly", "Apply-Orbit-File", "TOPSAR-Split", "Write"]
    assert sources(ns["SliceAssembly"]) == ["Read", "Read(2)", "Read(3)"]
    assert param(ns["Read"], "file").endswith(SEC1)  # slices sorted by start time
    assert param(ns["SliceAssembly"], "selectedPolarisations") == "VV"


@pytest.mark.parametrize("version, split_shifts, network", [("6.0", False, False), ("7.0", True, False),
                                                            ("9.0.4", True, True), ("14.0.0", True, True)])
def test_esd_parameters_per_snap_version(tmp_path, version, split_shifts, network):
    c = cfg(tmp_path, snap_version=version)
    esd = nodes(parse(jobs_by_kind(c)[1]["coreg_ifg"][0].graph))["Enhanced-Spectral-Diversity"]
    names = {e.tag for e in esd.find("parameters")}
    assert ("useSuppliedShifts" in names) == (not split_shifts)
    assert ("useSuppliedRangeShift" in names and "useSuppliedAzimuthShift" in names) == split_shifts
    assert ("esdEstimator" in names and "maxTemporalBaseline" in names) == network
    assert param(esd, "cohThreshold") == "0.15"
    prof = SnapProfile.parse(version)
    assert (prof.reference_tag, prof.secondary_tag) == (("ref", "sec") if prof.major >= 14 else ("mst", "slv"))


def test_config_errors(tmp_path):
    with pytest.raises(ParameterError, match="bbox"):
        cfg(tmp_path, bbox=(12.6, 41.8, 12.1, 42.0))
    with pytest.raises(ParameterError, match="reference date"):
        cfg(tmp_path, secondaries=[tmp_path / REF.replace("1A2B", "9999")])
    with pytest.raises(ParameterError, match="acquisition date"):
        cfg(tmp_path, secondaries=[tmp_path / "scene.zip"])
    with pytest.raises(ParameterError):
        SnapProfile.parse("5.0")
    assert parse_diag_version("SNAP Release version 9.0.0\nSNAP home: /usr/local/snap") == "9.0.0"


def test_snap_graphs_command(tmp_path):
    from snapstamps.cli import build_parser

    p = build_parser()
    out = tmp_path / "stack"
    args = p.parse_args([
        "snap-graphs", "--out", str(out), "--reference", str(tmp_path / REF),
        "--secondaries", str(tmp_path / SEC1), str(tmp_path / SEC2), "--subswaths", "IW1", "IW2",
        "--bbox", *map(str, BBOX), "--snap-version", "14.0", "--gpt-threads", "4", "--gpt-cache", "12G",
    ])
    assert args.func(args) == 0
    gdir = out / "graphs"
    manifest = json.loads((gdir / "jobs.json").read_text())
    assert manifest["snap_version"] == "14.0"
    assert [j["kind"] for j in manifest["jobs"]].count("export") == 2
    for j in manifest["jobs"]:
        ET.parse(gdir / j["graph"])  # strict XML
    script = (gdir / "run_gpt.sh").read_text()
    assert "-q 4" in script and "-c 12G" in script and script.count('"$GPT"') == len(manifest["jobs"])


def _fake_gpt(tmp_path: Path, body: str) -> Path:
    exe = tmp_path / "gpt"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_gpt_runner_errors_and_timeout(tmp_path):
    graph = tmp_path / "g.xml"
    graph.write_text(plan_chain(cfg(tmp_path), SnapProfile.parse("9"))[0].graph)
    opts = GptOptions(timeout_s=30, threads=2, heap="2G")
    ok = _fake_gpt(tmp_path, 'echo "args: $*"; mkdir -p "$OUTDIR/x.data"; echo d > "$OUTDIR/x.dim"')
    os.environ["OUTDIR"] = str(tmp_path)
    try:
        res = run_gpt(graph, tmp_path / "log1.txt", opts, [tmp_path / "x.dim"], gpt=ok)
    finally:
        del os.environ["OUTDIR"]
    logtext = res.log.read_text()
    assert "-q 2" in logtext and "-J-Xmx2G" in logtext and "-J-Dsnap.jai.defaultTileSize=512" in logtext

    bad = _fake_gpt(tmp_path, 'echo "SEVERE: org.esa.snap: No valid orbit file found for 05-JAN-2020"; exit 1')
    with pytest.raises(GptError, match="exit status 1.*orbit"):
        run_gpt(graph, tmp_path / "log2.txt", opts, gpt=bad)
    silent = _fake_gpt(tmp_path, "exit 0")
    with pytest.raises(GptError, match="did not write"):
        run_gpt(graph, tmp_path / "log3.txt", opts, [tmp_path / "missing.dim"], gpt=silent)
    slow = _fake_gpt(tmp_path, "sleep 30")
    with pytest.raises(GptError, match="did not finish within 1 s"):
        run_gpt(graph, tmp_path / "log4.txt", GptOptions(timeout_s=1), gpt=slow)
    assert "parameter" in explain_log("Error: [NodeId: ESD] Unknown element 'useSuppliedShifts'")
