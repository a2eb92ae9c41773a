"""The app packages under Toil (``toil-cwl-runner``, single-machine batch system, scatter in
parallel) give catalogs identical in content to cwltool's; the runner configuration refuses
what it cannot do."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from snapstamps.errors import ParameterError, SnapstampsError
from snapstamps.workflows.cwl_runner import RunnerConfig, run_workflow, runner_command

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
#: STAC fields that differ between two runs of the same job (times, and checksums of files that hold times)
INPUT_LINKS = {"derived_from", "reference", "secondary"}
VOLATILE = {"created", "updated", "datetime", "processing:datetime", "file:checksum", "file:size", "product_version"}


def _toil_available() -> None:
    if shutil.which("toil-cwl-runner", path=os.pathsep.join([str(Path(PY).parent), os.environ.get("PATH", "")])) is None:
        pytest.skip("toil-cwl-runner not installed (pip install 'toil[cwl]'; make test installs it)")


def _env(tmp: Path) -> dict[str, str]:
    from test_cwl import snapstamps_path_dir

    return dict(os.environ, PATH=snapstamps_path_dir(tmp))


def _strip(obj: object) -> object:
    """A STAC object without the fields that change from run to run, the hrefs of its own files
    made names (each catalog lives in its own folder).

    The links to the inputs (``derived_from`` of psi items, ``reference``/``secondary`` of the
    ifg items) are kept whole: they name the inputs as the job gave them (``run_workflow`` fills
    the packages' reference inputs from the job), never where a runner staged them (Toil copies
    inputs into its work directory, deleted after the run)."""
    if isinstance(obj, dict):
        if obj.get("rel") in INPUT_LINKS:
            return dict(obj)
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    if isinstance(obj, str) and obj.startswith(("file://", "/")):
        return Path(obj).name
    return obj


def _stac_objects(cat: Path) -> dict[str, object]:
    return {str(p.relative_to(cat)): _strip(json.loads(p.read_text())) for p in sorted(cat.rglob("*.json"))
            if json.loads(p.read_text()).get("stac_version")}


def _input_links(cat: Path) -> list[tuple[str, str]]:
    """(rel, href) of every link to an input in the catalog's objects."""
    return [(link["rel"], link["href"]) for p in sorted(cat.rglob("*.json"))
            for link in json.loads(p.read_text()).get("links", []) if link.get("rel") in INPUT_LINKS]


def _patch_steps_overlapped(log: str) -> bool:
    """Both patch jobs were issued before either completed (Toil's leader log)."""
    issued = [m.start() for m in re.finditer(r"Issued job 'CWLJob' psi\.\d+\.psi-patch", log)]
    done = [m.start() for m in re.finditer(r"CWL step complete: psi\.\d+\.psi-patch", log)]
    return len(issued) == 2 and len(done) == 2 and max(issued) < min(done)


def test_runner_config_checks_and_commands(tmp_path: Path) -> None:
    """Options are checked (one line naming the option); the commands carry the Toil batch
    system, job store, core cap and preserved variables."""
    with pytest.raises(ParameterError, match="runner must be one of"):
        RunnerConfig(runner="bash")
    with pytest.raises(ParameterError, match="batch_system is Toil's"):
        RunnerConfig(batch_system="slurm")
    with pytest.raises(ParameterError, match="batch_system must be one of"):
        RunnerConfig(runner="toil-cwl-runner", batch_system="pbs-pro-9")
    with pytest.raises(ParameterError, match=r"unknown runner option\(s\) \['jobstore'\]"):
        RunnerConfig.from_mapping({"runner": "toil-cwl-runner", "jobstore": "file:/x"})
    with pytest.raises(ParameterError, match="extra_args must be a list"):
        RunnerConfig.from_mapping({"extra_args": "--debug"})
    env = {"SNAPSTAMPS_DASK_SCHEDULER": "tcp://127.0.0.1:8786", "HTTPS_PROXY": "http://127.0.0.1:3128"}
    cfg = RunnerConfig.from_mapping({"runner": "toil-cwl-runner", "batch_system": "slurm", "job_store": "file:/shared/js",
                                     "max_cores": 4})
    if shutil.which("toil-cwl-runner", path=str(Path(PY).parent)) is None:
        pytest.skip("toil-cwl-runner not installed")
    cmd = runner_command(cfg, "app-package/psi.cwl#psi", tmp_path / "job.json", tmp_path / "out", tmp_path / "w", env)
    assert cmd[0].endswith("toil-cwl-runner")
    for a, b in [("--batchSystem", "slurm"), ("--jobStore", "file:/shared/js"), ("--maxCores", "4")]:
        assert cmd[cmd.index(a) + 1] == b
    i = cmd.index("--preserve-environment")
    assert set(cmd[i + 1:i + 3]) == {"SNAPSTAMPS_DASK_SCHEDULER", "HTTPS_PROXY"}
    assert "--no-container" in cmd and "--clean" not in cmd  # an operator's job store is kept
    assert cmd[-2:] == ["app-package/psi.cwl#psi", str(tmp_path / "job.json")]
    from snapstamps.cli import main

    job = tmp_path / "job.json"
    job.write_text("{}")
    assert main(["cwl-run", str(tmp_path / "missing.cwl") + "#psi", str(job), "--out", str(tmp_path / "o")]) == 2
    assert main(["cwl-run", str(ROOT / "app-package/psi.cwl#psi"), str(job), "--out", str(tmp_path / "o"),
                 "--max-cores", "2"]) == 2  # a Toil option with cwltool
    local = runner_command(RunnerConfig(), "a.cwl#x", tmp_path / "j.json", tmp_path / "o", tmp_path / "w", env)
    assert local[1:3] == ["-m", "cwltool"] and "--parallel" in local
    assert {"--disable-js-validation", "--no-compute-checksum"} <= set(local)  # checked by the tests, not at each run
    assert local.count("--preserve-environment") == 2


def test_job_input_references_are_filled_from_the_job(tmp_path: Path) -> None:
    """A job's File/Directory inputs give the packages' reference strings (the catalog's input links)
    unless the job gives them; a job file's relative paths are made absolute; other packages' jobs
    are left alone."""
    from snapstamps.workflows.cwl_runner import load_job, with_input_references

    job = tmp_path / "job.yml"
    job.write_text("stack: {class: Directory, path: sim/INSAR_20200101}\npatches: [2, 1]\n")
    loaded = load_job(job)
    assert loaded["stack"]["path"] == str(tmp_path / "sim/INSAR_20200101")
    filled = with_input_references(f"{ROOT / 'app-package/psi.cwl'}#psi", loaded)
    assert filled["stack_reference"] == str(tmp_path / "sim/INSAR_20200101") and filled["patches"] == [2, 1]
    given = with_input_references(f"{ROOT / 'app-package/psi.cwl'}#psi", dict(loaded, stack_reference="s3://b/stack"))
    assert given["stack_reference"] == "s3://b/stack"
    ifg = with_input_references(f"{ROOT / 'app-package/ifg-stack.cwl'}#ifg-stack", {
        "reference": {"class": "Directory", "location": "file:///d/A.SAFE"},
        "secondaries": [{"class": "Directory", "path": "/d/B.SAFE"}, {"class": "Directory", "path": "/d/C.SAFE"}]})
    assert ifg["reference_item"] == "file:///d/A.SAFE" and ifg["secondary_items"] == ["/d/B.SAFE", "/d/C.SAFE"]
    other = tmp_path / "other.cwl"
    other.write_text("cwlVersion: v1.2\nclass: Workflow\ninputs: {stack: Directory}\noutputs: {}\nsteps: {}\n")
    assert "stack_reference" not in with_input_references(str(other), loaded)
    with pytest.raises(SnapstampsError, match="not a mapping"):
        (tmp_path / "bad.json").write_text("[1]")
        load_job(tmp_path / "bad.json")


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_toil_runs_psi_package_like_cwltool(tmp_path: Path) -> None:
    """``snapstamps cwl-run --runner toil-cwl-runner`` runs psi.cwl#psi (2 patches scattered in
    parallel) to a valid catalog with the same PS, velocities, files and STAC content as cwltool."""
    _toil_available()
    import pandas as pd

    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack
    from snapstamps.stac.validate import validate_catalog

    insar = simulate_stamps_stack(tmp_path / "sim", SimConfig(width=100, length=240, n_dates=10, seed=3))
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"stack": {"class": "Directory", "path": str(insar)}, "patches": [2, 1]}))
    env = _env(tmp_path)
    proc = subprocess.run(
        [PY, "-m", "snapstamps.cli", "cwl-run", f"{ROOT / 'app-package/psi.cwl'}#psi", str(job), "--out",
         str(tmp_path / "toil"), "--runner", "toil-cwl-runner", "--batch-system", "single_machine", "--max-cores", "2",
         "--work-dir", str(tmp_path / "toil-work")],
        capture_output=True, text=True, env=env, timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    toil_cat = Path(json.loads(proc.stdout)["catalog"]["path"])
    assert _patch_steps_overlapped((tmp_path / "toil-work" / "runner.log").read_text())
    assert not (tmp_path / "toil-work" / "toil-jobstore").exists()  # the default job store is cleaned on success

    ref = run_workflow(RunnerConfig(), f"{ROOT / 'app-package/psi.cwl'}#psi", job, tmp_path / "cwltool",
                       tmp_path / "cwltool-work", env=env, timeout=400)
    ref_cat = Path(ref["catalog"]["path"])

    assert validate_catalog(toil_cat).ok
    files = sorted(str(p.relative_to(toil_cat)) for p in toil_cat.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(ref_cat)) for p in ref_cat.rglob("*") if p.is_file())
    a = pd.read_parquet(next(toil_cat.glob("*-ps-points/ps_points.parquet")))
    b = pd.read_parquet(next(ref_cat.glob("*-ps-points/ps_points.parquet")))
    assert len(a) > 50
    pd.testing.assert_frame_equal(a, b, rtol=1e-9, atol=0)
    for xy in ref_cat.glob("*-stamps-exports/*.xy"):
        np.testing.assert_allclose(np.loadtxt(toil_cat / xy.relative_to(ref_cat)), np.loadtxt(xy), rtol=1e-9)
    assert _stac_objects(toil_cat) == _stac_objects(ref_cat)
    assert {h for _, h in _input_links(toil_cat)} == {insar.resolve().as_uri()}  # the stack as the job named it


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_toil_runs_ifg_stack_package_like_cwltool(tmp_path: Path) -> None:
    """toil-cwl-runner runs ifg-stack.cwl#ifg-stack (2 pairs scattered) to a valid stack catalog
    whose interferograms and STAC items equal cwltool's."""
    _toil_available()
    pytest.importorskip("xarray_sentinel")
    from snapstamps.simulate.safe_stack import SafeSimConfig, simulate_safe_stack
    from snapstamps.stac.stack import resolve_stack
    from snapstamps.stac.validate import validate_catalog

    sim = tmp_path / "sim"
    s = simulate_safe_stack(sim, SafeSimConfig(n_dates=3, seed=2, n_samples=240, baselines=[-50.0, 0.0, 80.0]))
    c = s["scene_centre_lonlat"]
    secs = [p for p in s["products"] if p != s["reference"]]
    job = {
        "reference": {"class": "Directory", "path": str(sim / s["reference"])},
        "secondaries": [{"class": "Directory", "path": str(sim / p)} for p in secs],
        "subswaths": ["IW1"], "polarisation": "VV",
        "bbox": [c[0] - 0.012, c[1] - 0.008, c[0] + 0.012, c[1] + 0.008],
        "dem": {"class": "File", "path": str(sim / s["dem"])},
        "orbits": {"class": "Directory", "path": str(sim / "orbits")},
    }
    env = _env(tmp_path)
    app = f"{ROOT / 'app-package/ifg-stack.cwl'}#ifg-stack"
    out = run_workflow(RunnerConfig(runner="toil-cwl-runner", max_cores=2), app, job, tmp_path / "toil", tmp_path / "tw",
                       env=env, timeout=400)
    log = (tmp_path / "tw" / "runner.log").read_text()
    issued = [m.start() for m in re.finditer(r"Issued job 'CWLJob' \S*ifg-pair", log)]
    done = [m.start() for m in re.finditer(r"CWL step complete: \S*ifg-pair", log)]
    assert len(issued) == 2 and max(issued) < min(done), "the two pairs did not run in parallel"
    toil_cat = Path(out["stack"]["path"])
    ref = run_workflow(RunnerConfig(), app, job, tmp_path / "cwltool", tmp_path / "cw", env=env, timeout=400)
    ref_cat = Path(ref["stack"]["path"])

    assert validate_catalog(toil_cat).ok
    assert _stac_objects(toil_cat) == _stac_objects(ref_cat)
    hrefs = _input_links(toil_cat)
    assert {h for rel, h in hrefs if rel == "reference"} == {(sim / s["reference"]).resolve().as_uri()}
    assert {h for rel, h in hrefs if rel == "secondary"} == {(sim / p).resolve().as_uri() for p in secs}
    a, b = resolve_stack(toil_cat / "catalog.json"), resolve_stack(ref_cat / "catalog.json")
    names = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    diffs = sorted(b.glob("diff0/*.diff"))
    assert len(diffs) == 2
    for f in diffs + sorted(b.glob("rslc/*.rslc")):
        np.testing.assert_array_equal(np.fromfile(a / f.relative_to(b), dtype=np.uint8), np.fromfile(f, dtype=np.uint8))
