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
        if "extra_args" in data:
            if isinstance(data["extra_args"], str) or not isinstance(data["extra_args"], list | tuple):
                raise ParameterError("extra_args must be a list of strings")
            data["extra_args"] = tuple(data["extra_args"])
        return cls(**data)


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
        cmd = [sys.executable, "-m", "cwltool", "--parallel", *common, "--tmpdir-prefix", tmp,
               "--tmp-outdir-prefix", tmp]
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

    ``work_dir`` receives the job file (when ``inputs`` is a mapping), the runner's scratch and
    log (``log_file``, default ``work_dir/runner.log``).  Raises :class:`WorkflowRunError` with the
    log's last lines when the runner fails.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "tmp").mkdir(exist_ok=True)
    if isinstance(inputs, Path | str):
        job_file = Path(inputs)
    else:
        job_file = work_dir / "cwl-job.json"
        job_file.write_text(json.dumps(dict(inputs), indent=2))
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
