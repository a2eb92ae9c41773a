"""Running a CWL application package with a configured runner: cwltool (local) or Toil.

The CWL is the contract: the same ``app-package/psi.cwl#psi`` and
``app-package/ifg-stack.cwl#ifg-stack`` run under

* ``cwltool`` (the default): one machine, scatter steps in parallel with ``--parallel``;
* ``toil-cwl-runner``: Toil's batch systems (``single_machine``, ``slurm``, ``kubernetes``,
  ``lsf``, ...) with a job store given by the operator (``file:/shared/jobstore``,
  ``aws:us-east-1:name``); by default a ``file:`` job store inside the run's work directory,
  removed after a successful run.

:class:`RunnerConfig` is what an operator configures (the CLI's ``snapstamps cwl-run`` flags,
or a mapping in the service's configuration, :meth:`RunnerConfig.from_mapping`);
:func:`runner_command` builds the command line and :func:`run_workflow` runs it and returns
the CWL output object.  Both runners get ``--no-container`` unless ``container`` is set (the
tools' Docker images are ``hints``, so without containers the native ``snapstamps`` on PATH
runs), and the environment variables of :data:`PRESERVED_ENV` that are set.

cwltool also gets ``--disable-js-validation`` and ``--no-compute-checksum``: the packages'
JavaScript is checked when they are built and tested (``cwltool --validate`` in
``tests/test_cwl.py``), not again by a Node process at every run (~1.3 s), and nothing reads
the SHA-1 of every output that cwltool would otherwise compute.

The links of a catalog to its inputs (``derived_from`` of psi items, ``reference``/``secondary``
of interferogram-stack items) must name the inputs as the job gave them, not where a runner
staged them (Toil copies inputs into its work directory, deleted after the run):
:func:`with_input_references` fills the packages' reference-string inputs
(:data:`INPUT_REFERENCES`) from the job's File/Directory inputs, which :func:`run_workflow` does
for every job it runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ParameterError, SnapstampsError

#: The runners this module knows how to drive.
RUNNERS = ("cwltool", "toil-cwl-runner")
#: Toil batch systems accepted in a configuration (Toil's own names).
TOIL_BATCH_SYSTEMS = ("single_machine", "slurm", "kubernetes", "lsf", "grid_engine", "htcondor", "torque", "mesos", "aws_batch")
#: Environment variables handed through to the tools when set (both runners pass only PATH,
#: HOME and TMPDIR by default): proxies for the orbit and DEM downloads, the tests-only DEM
#: source, and the Dask scheduler address of the psi patch steps.
PRESERVED_ENV: tuple[str, ...] = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
                                  "SNAPSTAMPS_DEM_AUTO_SOURCE", "SNAPSTAMPS_DASK_SCHEDULER")


#: Workflow input holding a File/Directory -> the string input naming it as the job gave it (for the
#: catalog's links to its inputs); filled by :func:`with_input_references` when the package has it.
INPUT_REFERENCES: dict[str, str] = {"stack": "stack_reference", "reference": "reference_item",
                                    "secondaries": "secondary_items"}


class WorkflowRunError(SnapstampsError):
    """The CWL runner failed; the message ends with the last lines of its log."""


@dataclass(frozen=True)
class RunnerConfig:
    """How to run a CWL workflow.

    ``runner``: ``cwltool`` or ``toil-cwl-runner``.  ``batch_system`` and ``job_store`` are
    Toil's (refused with cwltool); ``max_cores`` caps the cores used at once on one machine
    (Toil's ``--maxCores``; cwltool has no such cap and refuses it); ``container``: run the
    tools in their Docker images instead of the native ``snapstamps`` on PATH; ``extra_args``:
    further runner flags, passed as given.
    """

    runner: str = "cwltool"
    batch_system: str | None = None
    job_store: str | None = None
    max_cores: int | None = None
    container: bool = False
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.runner not in RUNNERS:
            raise ParameterError(f"runner must be one of {', '.join(RUNNERS)} (got {self.runner!r})")
        if self.runner == "cwltool":
            for name in ("batch_system", "job_store", "max_cores"):
                if getattr(self, name) is not None:
                    raise ParameterError(f"runner option {name} is Toil's: it needs runner toil-cwl-runner")
        if self.batch_system is not None and self.batch_system not in TOIL_BATCH_SYSTEMS:
            raise ParameterError(f"batch_system must be one of {', '.join(TOIL_BATCH_SYSTEMS)} (got {self.batch_system!r})")
        if self.max_cores is not None and (not isinstance(self.max_cores, int) or self.max_cores < 1):
            raise ParameterError(f"max_cores must be a positive integer (got {self.max_cores!r})")
        if self.job_store is not None and not (isinstance(self.job_store, str) and self.job_store.strip()):
            raise ParameterError("job_store must be a non-empty string (a path, file:PATH or aws:REGION:NAME)")
        if not all(isinstance(a, str) for a in self.extra_args):
            raise ParameterError("extra_args must be strings")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> RunnerConfig:
        """A configuration from a mapping (the service's ``runner`` section, YAML/JSON); unknown
        keys are an error naming them."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParameterError(f"unknown runner option(s) {unknown}; known: {sorted(known)}")
        if "runner" in data and not isinstance(data["runner"], str):
            raise ParameterError(f"runner must be one of {', '.join(RUNNERS)} (got {data['runner']!r})")
        if "container" in data and not isinstance(data["container"], bool):
            raise ParameterError(f"container must be true or false (got {data['container']!r})")
        if "extra_args" in data:
            if isinstance(data["extra_args"], str) or not isinstance(data["extra_args"], list | tuple):
                raise ParameterError("extra_args must be a list of strings")
            data["extra_args"] = tuple(data["extra_args"])
        return cls(**data)

    def to_mapping(self) -> dict[str, Any]:
        """The inverse of :meth:`from_mapping` (JSON-able; what the service hands its workers)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    def check_installed(self) -> None:
        """Raise :class:`WorkflowRunError` when the runner is not installed here."""
        if self.runner == "cwltool":
            import importlib.util

            if importlib.util.find_spec("cwltool") is None:
                raise WorkflowRunError("cwltool not installed (pip install cwltool)")
        else:
            _executable(self.runner)


def _executable(name: str) -> str:
    """``name`` next to this Python first (the venv), then on PATH."""
    found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if not found:
        raise WorkflowRunError(f"{name} not found (install it: pip install 'toil[cwl]')")
    return found


def runner_command(config: RunnerConfig, app: str, job_file: Path, out_dir: Path, work_dir: Path,
                   env: Mapping[str, str] | None = None) -> list[str]:
    """Command line running ``app`` (``PACKAGE.cwl#entry``) on ``job_file``, outputs in ``out_dir``,
    the runner's scratch (and Toil's default job store) under ``work_dir``."""
    env = os.environ if env is None else env
    work_dir = Path(work_dir)
    names = [var for var in PRESERVED_ENV if env.get(var)]
    if config.runner == "cwltool":  # cwltool: the flag once per variable; Toil: once with every name
        preserved = [a for var in names for a in ("--preserve-environment", var)]
    else:
        preserved = ["--preserve-environment", *names] if names else []
    common = ([] if config.container else ["--no-container"]) + preserved
    tmp = str(work_dir / "tmp") + "/"
    if config.runner == "cwltool":
        cmd = [sys.executable, "-m", "cwltool", "--parallel", "--disable-js-validation", "--no-compute-checksum",
               *common, "--tmpdir-prefix", tmp, "--tmp-outdir-prefix", tmp]
    else:
        job_store = config.job_store or f"file:{work_dir / 'toil-jobstore'}"
        cmd = [_executable("toil-cwl-runner"), "--batchSystem", config.batch_system or "single_machine",
               "--jobStore", job_store, "--workDir", str(work_dir / "toil-work"), *common]
        if config.max_cores:
            cmd += ["--maxCores", str(config.max_cores)]
        if not config.job_store:
            cmd += ["--clean", "onSuccess"]
    return cmd + list(config.extra_args) + ["--outdir", str(out_dir), app, str(job_file)]


def run_workflow(config: RunnerConfig, app: str, inputs: Mapping[str, Any] | Path, out_dir: Path, work_dir: Path,
                 env: Mapping[str, str] | None = None, timeout: float | None = None,
                 log_file: Path | None = None) -> dict[str, Any]:
    """Run ``app`` on ``inputs`` (a CWL job object, or a job file) and return the CWL output object.

    The job goes to the runner as ``work_dir/cwl-job.json`` with its input references filled
    (:func:`with_input_references`; a job file's relative paths made absolute, :func:`load_job`).
    ``work_dir`` receives that job file, the runner's scratch and
    log (``log_file``, default ``work_dir/runner.log``).  Raises :class:`WorkflowRunError` with the
    log's last lines when the runner fails.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "tmp").mkdir(exist_ok=True)
    if isinstance(inputs, Path | str):
        inputs = load_job(Path(inputs))
    job_file = work_dir / "cwl-job.json"
    job_file.write_text(json.dumps(with_input_references(app, inputs), indent=2))
    env = dict(os.environ if env is None else env)
    cmd = runner_command(config, app, job_file, Path(out_dir), work_dir, env)
    log_file = log_file or work_dir / "runner.log"
    with open(log_file, "w") as log:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env, timeout=timeout, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-20:])
        raise WorkflowRunError(f"{config.runner} failed on {app} (exit status {proc.returncode}; log {log_file}):\n{tail}")
    try:
        return dict(json.loads(proc.stdout))
    except ValueError:
        raise WorkflowRunError(f"{config.runner} printed no CWL output object (log {log_file})") from None


def load_job(job_file: Path) -> dict[str, Any]:
    """A CWL job file (JSON or YAML) with the relative ``path``/``location`` of its File and
    Directory objects made absolute (relative to the file's folder, as the runners read them)."""
    import yaml

    try:
        data = yaml.safe_load(Path(job_file).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SnapstampsError(f"job file {job_file}: {exc}") from None
    if not isinstance(data, dict):
        raise SnapstampsError(f"job file {job_file}: not a mapping of inputs")
    base = Path(job_file).resolve().parent

    def absolute(obj: Any) -> Any:
        if isinstance(obj, dict):
            obj = {k: absolute(v) for k, v in obj.items()}
            if obj.get("class") in ("File", "Directory"):
                for key in ("path", "location"):
                    ref = obj.get(key)
                    if isinstance(ref, str) and "://" not in ref and not ref.startswith("/"):
                        obj[key] = str(base / ref)
            return obj
        if isinstance(obj, list):
            return [absolute(v) for v in obj]
        return obj

    return dict(absolute(data))


def _reference(obj: Any) -> str | None:
    """The reference of a CWL File/Directory object as the job gave it: its path (absolute), or
    its location URI."""
    if not isinstance(obj, Mapping) or obj.get("class") not in ("File", "Directory"):
        return None
    if isinstance(obj.get("path"), str):
        return str(Path(obj["path"]).absolute())
    loc = obj.get("location")
    if isinstance(loc, str):
        return str(Path(loc).absolute()) if "://" not in loc else loc
    return None


def package_inputs(app: str) -> set[str]:
    """The input names of the entry workflow of ``app`` (``PACKAGE.cwl#entry``; a packed
    ``$graph`` document or a single process); empty when it cannot be read."""
    import yaml

    path, _, entry = str(app).partition("#")
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return set()
    procs = doc.get("$graph", [doc]) if isinstance(doc, dict) else []
    for proc in procs:
        if isinstance(proc, dict) and (len(procs) == 1 or str(proc.get("id", "")).lstrip("#") == (entry or "main")):
            ins = proc.get("inputs") or {}
            if isinstance(ins, list):
                return {str(i.get("id", "")).rsplit("/", 1)[-1].lstrip("#") for i in ins if isinstance(i, dict)}
            return {str(k) for k in ins}
    return set()


def with_input_references(app: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """``inputs`` with the package's reference-string inputs (:data:`INPUT_REFERENCES`) filled from
    the File/Directory inputs they name, where the package has them and the job left them out.

    So the catalog links to the input as the job named it, whichever runner staged it where.
    """
    job = dict(inputs)
    wanted = {src: ref for src, ref in INPUT_REFERENCES.items() if job.get(src) is not None and job.get(ref) is None}
    if not wanted:
        return job
    declared = package_inputs(app)
    for src, ref in wanted.items():
        if ref not in declared:
            continue
        value = job[src]
        refs = [_reference(v) for v in value] if isinstance(value, list) else _reference(value)
        if refs is not None and (not isinstance(refs, list) or all(r is not None for r in refs)):
            job[ref] = refs
    return job
