"""``snapstamps cwl-run``: an application package under a configured CWL runner (cwltool or Toil)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import SnapstampsError


def cmd_cwl_run(args: argparse.Namespace) -> int:
    """Run ``PACKAGE#entry`` on a job file with cwltool or toil-cwl-runner; print the CWL outputs."""
    from ..workflows.cwl_runner import RunnerConfig, run_workflow

    app = args.app
    package = Path(app.partition("#")[0])
    if not package.is_file():
        raise SnapstampsError(f"application package {package} not found")
    if not Path(args.job).is_file():
        raise SnapstampsError(f"job file {args.job} not found")
    config = RunnerConfig(runner=args.runner, batch_system=args.batch_system, job_store=args.job_store,
                          max_cores=args.max_cores, container=args.container, extra_args=tuple(args.runner_arg or ()))
    out = Path(args.out)
    work = Path(args.work_dir) if args.work_dir else out / ".cwl-run"
    outputs = run_workflow(config, app, Path(args.job), out, work)
    print(json.dumps(outputs, indent=2))
    return 0


def add_commands(sub: Any) -> None:
    """Register ``cwl-run``."""
    r = sub.add_parser("cwl-run", help="run an application package (app-package/psi.cwl#psi, ...) with cwltool or Toil")
    r.add_argument("app", help="PACKAGE.cwl#entry, e.g. app-package/psi.cwl#psi")
    r.add_argument("job", help="CWL job file (JSON or YAML inputs)")
    r.add_argument("--out", required=True, help="output directory")
    r.add_argument("--runner", default="cwltool", choices=["cwltool", "toil-cwl-runner"], help="CWL runner (default cwltool)")
    r.add_argument("--batch-system", help="Toil batch system: single_machine (default), slurm, kubernetes, lsf, ...")
    r.add_argument("--job-store", help="Toil job store (file:/shared/path, aws:REGION:NAME; default one in the work directory)")
    r.add_argument("--max-cores", type=int, help="Toil: cores used at once on one machine")
    r.add_argument("--container", action="store_true", help="run the tools in their Docker images (default: the native snapstamps)")
    r.add_argument("--work-dir", help="runner scratch and log (default OUT/.cwl-run)")
    r.add_argument("--runner-arg", action="append", metavar="ARG", help="further runner flag, passed as given (repeatable; use --runner-arg=--flag)")
    r.set_defaults(func=cmd_cwl_run)
