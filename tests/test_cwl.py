"""CWL application packages: freshness, validation, and real runs of ``#psi`` and ``#ifg-stack`` with cwltool."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("cwltool")
pytest.importorskip("pystac")

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def snapstamps_path_dir(tmp: Path) -> str:
    """A PATH whose ``snapstamps`` has the commands the workflows run (``stac``, ``ifg-stack-dem``;
    a shim until cli.py includes them)."""
    bindir = str(Path(PY).parent)
    exe = shutil.which("snapstamps", path=bindir) or shutil.which("snapstamps")
    if exe and subprocess.run([exe, "ifg-stack-dem", "--help"], capture_output=True).returncode == 0:
        return os.pathsep.join([str(Path(exe).parent), os.environ.get("PATH", "")])
    shim = tmp / "shim"
    shim.mkdir(exist_ok=True)
    script = shim / "snapstamps"
    script.write_text(f'#!/bin/sh\nexec "{PY}" -m snapstamps.cli "$@"\n')
    script.chmod(0o755)
    return os.pathsep.join([str(shim), bindir, os.environ.get("PATH", "")])


def test_app_packages_are_fresh() -> None:
    """app-package/*.cwl equal a fresh pack of cwl/ (run `make app-package` after editing cwl/)."""
    proc = subprocess.run([PY, str(ROOT / "scripts/pack_app_packages.py"), "--check"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("package,entry", [("psi.cwl", "psi"), ("ifg-stack.cwl", "ifg-stack")])
def test_app_package_validates_and_keeps_metadata(package: str, entry: str) -> None:
    """cwltool --validate passes; the entry workflow keeps its id and the schema.org metadata."""
    import yaml

    path = ROOT / "app-package" / package
    proc = subprocess.run([PY, "-m", "cwltool", "--validate", f"{path}#{entry}"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load(path.read_text())
    assert doc["cwlVersion"] == "v1.2"
    assert doc["s:softwareVersion"]
    assert "s:author" in doc and "s:license" in doc
    ids = [g["id"] for g in doc["$graph"]]
    assert ids[0] == f"#{entry}" and "#main" not in ids
    for g in doc["$graph"]:
        if g["class"] == "CommandLineTool":
            hints = {h["class"]: h for h in g.get("hints", [])}
            assert hints["DockerRequirement"]["dockerPull"].startswith("ghcr.io/snapstamps/")
            assert "ResourceRequirement" in hints
            reqs = {r["class"] for r in g.get("requirements", [])}
            assert "DockerRequirement" not in reqs  # so that --no-container runs the native backend


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cwltool_runs_psi_package_on_simulated_stack(tmp_path: Path) -> None:
    """cwltool --no-container app-package/psi.cwl#psi on a 2-patch stack gives a valid STAC catalog."""
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack
    from snapstamps.stac.validate import validate_catalog

    insar = simulate_stamps_stack(tmp_path / "sim", SimConfig(width=120, length=300, n_dates=12, seed=1))
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"stack": {"class": "Directory", "path": str(insar)}, "patches": [2, 1]}))
    env = dict(os.environ, PATH=snapstamps_path_dir(tmp_path))
    proc = subprocess.run(
        [PY, "-m", "cwltool", "--quiet", "--no-container", "--parallel", "--outdir", str(tmp_path / "out"),
         f"{ROOT / 'app-package/psi.cwl'}#psi", str(job)],
        capture_output=True, text=True, env=env, timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    cat_dir = Path(out["catalog"]["path"])
    assert (cat_dir / "catalog.json").is_file()
    report = validate_catalog(cat_dir)
    assert report.ok, report.errors
    meta = json.loads(next(cat_dir.glob("*/psi_metadata.json")).read_text())
    adapted = {a["parameter"] for a in meta["adapted_parameters"]}
    assert {"filter_grid_size[PATCH_1]", "filter_grid_size[PATCH_2]"} <= adapted  # gathered from both patch steps
    assert meta["counts"]["ps"] > 50
    assert len(list(cat_dir.glob("*/ps_u-dm.*.xy"))) == 12
    # the quicklooks step: quicklooks, COGs, report and viewer in the catalog
    assert (cat_dir / "report.html").is_file() and (cat_dir / "viewer" / "index.html").is_file()
    assert len(list(cat_dir.glob("*-rasters/*.tif"))) == 2
    cat = json.loads((cat_dir / "catalog.json").read_text())
    assert {"preview", "describedby"} <= {l["rel"] for l in cat["links"]}
    points = json.loads(next(cat_dir.glob("*-ps-points/*-ps-points.json")).read_text())
    assert {"thumbnail", "overview", "visual"} <= {r for a in points["assets"].values() for r in a["roles"]}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_one_patch_runs_in_one_tool_process_with_the_cli_products(tmp_path: Path) -> None:
    """With one patch (the default) the psi package runs one tool process: prep runs the whole job
    (steps 0-8, products, quicklooks and catalog; the patch steps scatter over nothing, the merge
    and publish steps are skipped); the points equal ``snapstamps psi``'s, the catalog has the
    quicklooks, COGs, report and viewer, and the items link the stack as the job named it."""
    import pandas as pd

    from snapstamps.cli import main
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack
    from snapstamps.stac.validate import validate_catalog
    from snapstamps.workflows.cwl_runner import RunnerConfig, run_workflow

    insar = simulate_stamps_stack(tmp_path / "sim", SimConfig(width=100, length=200, n_dates=10, seed=5))
    env = dict(os.environ, PATH=snapstamps_path_dir(tmp_path))
    out = run_workflow(RunnerConfig(), f"{ROOT / 'app-package/psi.cwl'}#psi",
                       {"stack": {"class": "Directory", "path": str(insar)}}, tmp_path / "cwl", tmp_path / "work",
                       env=env, timeout=280)
    log = (tmp_path / "work" / "runner.log").read_text()
    assert "[step merged] will be skipped" in log and "[step publish] will be skipped" in log
    tools = re.findall(r"\[job ([\w-]+)\] \S+\$ snapstamps", log)  # the tool processes cwltool started
    assert tools == ["prep"], tools
    cat = Path(out["catalog"]["path"])
    assert validate_catalog(cat).ok
    assert (cat / "report.html").is_file() and (cat / "viewer" / "index.html").is_file()
    assert len(list(cat.glob("*-rasters/*.tif"))) == 2
    assert main(["-q", "psi", str(insar), "--out", str(tmp_path / "cli")]) == 0
    a = pd.read_parquet(next(cat.glob("*-ps-points/ps_points.parquet")))
    pd.testing.assert_frame_equal(a, pd.read_parquet(tmp_path / "cli" / "ps_points.parquet"), rtol=1e-9, atol=0)
    hrefs = {link["href"] for p in cat.rglob("*.json") for link in json.loads(p.read_text()).get("links", [])
             if link["rel"] == "derived_from"}
    assert hrefs == {insar.resolve().as_uri()}


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_cwltool_runs_ifg_stack_package_on_simulated_safe_stack(tmp_path: Path) -> None:
    """cwltool --no-container app-package/ifg-stack.cwl#ifg-stack on 3 simulated SAFEs: a valid stack
    catalog with one stack item and one item per secondary, baselines within 1 % of the truth."""
    pytest.importorskip("xarray_sentinel")
    import pystac

    from snapstamps.simulate.safe_stack import SafeSimConfig, simulate_safe_stack
    from snapstamps.stac.stack import resolve_stack
    from snapstamps.stac.validate import validate_catalog

    sim = tmp_path / "sim"
    s = simulate_safe_stack(sim, SafeSimConfig(n_dates=3, seed=1, n_samples=300, baselines=[-60.0, 0.0, 90.0]))
    c = s["scene_centre_lonlat"]
    ref = s["reference"]
    secs = [p for p in s["products"] if p != ref]
    job = {
        "reference": {"class": "Directory", "path": str(sim / ref)},
        "secondaries": [{"class": "Directory", "path": str(sim / p)} for p in secs],
        "polarisation": "VV",  # no subswaths: chosen from the bbox (IW1, the simulator's one)
        "bbox": [c[0] - 0.015, c[1] - 0.01, c[0] + 0.015, c[1] + 0.01],
        "dem": {"class": "File", "path": str(sim / s["dem"])},
        "orbits": {"class": "Directory", "path": str(sim / "orbits")},
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    env = dict(os.environ, PATH=snapstamps_path_dir(tmp_path))
    proc = subprocess.run(
        [PY, "-m", "cwltool", "--quiet", "--no-container", "--parallel", "--outdir", str(tmp_path / "out"),
         f"{ROOT / 'app-package/ifg-stack.cwl'}#ifg-stack", str(tmp_path / "job.json")],
        capture_output=True, text=True, env=env, timeout=220,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cat_dir = Path(json.loads(proc.stdout)["stack"]["path"])
    report = validate_catalog(cat_dir)
    assert report.ok, report.errors
    ref_date = s["dates"][s["reference_index"]]
    items = {i.id: i for i in pystac.Catalog.from_file(str(cat_dir / "catalog.json")).get_items()}
    assert set(items) == {f"stack-{ref_date}-IW1"} | {f"ifg-{ref_date}-{d}-IW1" for d in s["dates"] if d != ref_date}
    insar = resolve_stack(cat_dir / "catalog.json")  # what psi takes: the stack inside the catalog
    assert insar.name == f"INSAR_{ref_date}" and insar.is_relative_to(cat_dir.resolve())
    assert len(list((insar / "diff0").glob("*.diff"))) == 2
    for k, d in enumerate(s["dates"]):
        if d == ref_date:
            continue
        p = items[f"ifg-{ref_date}-{d}-IW1"].properties
        want = s["bperp_scene_centre_m"][k]
        assert abs(float(p["insar:perpendicular_baseline"]) - want) <= 0.01 * abs(want), (d, p, want)
        assert p["insar:temporal_baseline"] == 12 and p["sar:beam_ids"] == ["IW1"]
        links = {link.rel: link.href for link in items[f"ifg-{ref_date}-{d}-IW1"].links}
        assert links["reference"] == (sim / ref).resolve().as_uri()
        assert links["secondary"] == (sim / s["products"][k]).resolve().as_uri()


def test_ifg_dem_tool_prepares_the_dem_and_pair_tool_defaults(tmp_path: Path) -> None:
    """The ``ifg-dem`` tool (``snapstamps ifg-stack-dem``) gives dem/glo30_<bbox>.tif, here from the
    tests-only ``SNAPSTAMPS_DEM_AUTO_SOURCE`` (no network); errors are one line with exit status 2.
    The packed workflow makes dem and orbits optional, with the DEM step conditional."""
    import yaml

    src = tmp_path / "src.tif"
    src.write_bytes(b"not really a GeoTIFF")
    (tmp_path / "job.json").write_text(json.dumps({"bbox": [12.45, 41.85, 12.55, 41.95]}))
    env = dict(os.environ, PATH=snapstamps_path_dir(tmp_path), SNAPSTAMPS_DEM_AUTO_SOURCE=str(src))
    proc = subprocess.run(
        [PY, "-m", "cwltool", "--quiet", "--no-container", "--preserve-environment", "SNAPSTAMPS_DEM_AUTO_SOURCE",
         "--outdir", str(tmp_path / "out"), str(ROOT / "cwl/tools/ifg-dem.cwl"), str(tmp_path / "job.json")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    dem = Path(json.loads(proc.stdout)["dem"]["path"])
    assert dem.name == "glo30_12.4500_41.8500_12.5500_41.9500.tif" and dem.read_bytes() == src.read_bytes()

    bad = subprocess.run([PY, "-m", "snapstamps.cli", "ifg-stack-dem", "--bbox", "1", "0", "0", "1", "--out", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=60, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --bbox") and bad.stderr.count("\n") == 1, bad.stderr
    env["SNAPSTAMPS_DEM_AUTO_SOURCE"] = str(tmp_path / "missing.tif")
    bad = subprocess.run([PY, "-m", "snapstamps.cli", "ifg-stack-dem", "--bbox", "0", "0", "1", "1", "--out", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=60, check=False)
    assert bad.returncode == 2 and "SNAPSTAMPS_DEM_AUTO_SOURCE" in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr

    doc = yaml.safe_load((ROOT / "app-package/ifg-stack.cwl").read_text())
    graph = {g["id"]: g for g in doc["$graph"]}
    wf = graph["#ifg-stack"]
    ins = {i["id"].rsplit("/", 1)[-1]: i for i in wf["inputs"]}
    assert ins["dem"]["type"] == ["null", "File"] and ins["orbits"]["type"] == ["null", "Directory"]
    steps = {st["id"].rsplit("/", 1)[-1]: st for st in wf["steps"]}
    assert steps["dem_auto"]["run"] == "#ifg-dem" and "inputs.dem === null" in steps["dem_auto"]["when"]
    assert "#ifg-dem" in graph and "ifg-stack-dem" in graph["#ifg-dem"]["baseCommand"]
