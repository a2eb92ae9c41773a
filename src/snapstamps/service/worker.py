"""Worker of one service job: ``python -m snapstamps.service.worker JOB_DIR``.

Started by :class:`.manager.SnapstampsManager` in its own session (process group), so that
dismissing the job can stop it and everything it started.  It reads ``JOB_DIR/job.json``, runs
the CWL application package with the configured runner (the service's ``runner`` setting, a
:class:`~snapstamps.workflows.cwl_runner.RunnerConfig`: cwltool, or toil-cwl-runner with its batch
system and job store; command line by :func:`~snapstamps.workflows.cwl_runner.runner_command`)
in ``JOB_DIR`` (``cwl-job.json`` the inputs, ``job.log`` the runner's log, ``out/`` the outputs,
``tmp/`` the runner's scratch, ``toil-work/`` and ``toil-jobstore/`` Toil's by default),
keeps the job's status, progress (percent) and current step up to date in the job store, and
at the end publishes the STAC catalog atomically (one rename into ``catalogs_dir/<job id>``)
before writing the result document and marking the job successful.  Any failure marks the
job failed with the reason and the runner's last log lines.

Inputs listed in ``stage_in`` (an ``s3://`` stack or orbit prefix, an ``http(s)`` DEM, remote SAFE
products of interferogram-stack; see :func:`stage_in` and :mod:`.staging`) are downloaded into ``JOB_DIR/stage-in/`` before the runner
starts, once per job; with ``stage_out`` the catalog is uploaded to
``s3://bucket/prefix/<job id>/`` (``catalog.json`` last) *before* the local publication, and a
failed upload leaves neither a local catalog nor objects in the bucket.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: Job states written by the worker (pygeoapi's ``JobStatus`` values; pygeoapi is not imported
#: into every worker for them: ~0.4 s)
RUNNING, SUCCESSFUL, FAILED = "running", "successful", "failed"


def get_current_datetime() -> str:
    """Now, as pygeoapi writes job times (UTC, ``%Y-%m-%dT%H:%M:%S.%fZ``)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: CWL step name -> (progress percent at its start, what it does)
STEP_PROGRESS: dict[str, tuple[int, str]] = {
    "prep": (10, "step 0: prep (candidates, patches; with one patch the whole job: steps 0-8, products, "
                 "quicklooks and catalog)"),
    "dem": (8, "preparing the DEM once (Copernicus GLO-30, dem-stitcher)"),
    "patch": (30, "steps 1-4 per patch"),
    "merged": (60, "steps 5-8 and products"),
    "publish": (85, "quicklooks, velocity COGs, report, web viewer and STAC catalog"),
    "pair": (10, "coregistration and interferograms (one run per secondary x sub-swath)"),
    "gather": (80, "gathering the pairs of each sub-swath (ifg-stack-gather)"),
    "catalog": (90, "stack catalog"),
}
#: A step starting, in cwltool's log (``[step prep] start``) or Toil's (``Issued job 'CWLJob' psi.0.psi-prep``:
#: the tool's id, mapped by :data:`TOOL_STEPS`)
STEP_RE = re.compile(r"\[(?:step|workflow ?)\s*\]?\s*starting step (\S+)|\[step (\S+)\] start"
                     r"|Issued job 'CWLJob' (?:\S+\.)?([\w-]+)")
#: Tool id -> its workflow step (Toil logs the tools it issues)
TOOL_STEPS = {"psi-prep": "prep", "psi-patch": "patch", "psi-merged": "merged", "stac-catalog": "publish",
              "ifg-dem": "dem", "ifg-pair": "pair", "ifg-gather": "gather", "ifg-stack-catalog": "catalog"}


def runner_path(job_dir: Path) -> str:
    """PATH for the runner: a ``snapstamps`` shim (``python -m snapstamps.cli`` of this Python)
    first, then this Python's ``bin``: the tools run the code of the server's environment, whatever
    other ``snapstamps`` is installed (no probe of it: a probe is a Python start per job)."""
    shim = job_dir / "bin"
    shim.mkdir(exist_ok=True)
    script = shim / "snapstamps"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m snapstamps.cli "$@"\n')
    script.chmod(0o755)
    return os.pathsep.join([str(shim), str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def runner_config(spec: dict[str, Any]) -> Any:
    """The :class:`~snapstamps.workflows.cwl_runner.RunnerConfig` of the job (``spec["runner"]``: the
    mapping the server checked at start-up, or a runner name)."""
    from ..workflows.cwl_runner import RunnerConfig

    runner = spec.get("runner")
    return RunnerConfig.from_mapping(runner if isinstance(runner, dict) else {"runner": runner or "cwltool"})


def runner_command(spec: dict[str, Any], job_dir: Path) -> list[str]:
    """Command line of the CWL runner for this job (:func:`~snapstamps.workflows.cwl_runner.runner_command`:
    ``--no-container``, the preserved environment variables, scratch under ``job_dir/tmp``, Toil's
    job store ``job_dir/toil-jobstore`` unless the operator gave one)."""
    from ..workflows.cwl_runner import runner_command as command

    return command(runner_config(spec), spec["app_package"], job_dir / "cwl-job.json", job_dir / "out", job_dir)


def stage_in(name: str, what: str | dict[str, Any], dest: Path) -> dict[str, str]:
    """Download one input listed in the job's ``stage_in``; return its CWL File or Directory object.

    ``what`` is an ``s3://`` stack reference (a string: psi's ``stack``, see
    :func:`.staging.stage_in_stack`) or ``{"url": URL, "class": "File"|"Directory"|"SAFE"}``: an
    ``http(s)`` file (:func:`.staging.download_url`), an ``s3://`` prefix
    (:func:`.staging.download_prefix`) or a remote SAFE product (``s3://`` ``.SAFE`` prefix or
    ``.zip``, ``http(s)`` ``.zip``; with ``subswaths`` and ``polarisation``: only what the engine
    reads of those layers, :func:`..stac.remote_safe.stage_in_safe`), downloaded into
    ``dest/<name>/`` (``/`` in ``name``, as ``secondaries/1``, becomes ``-``).  Raises
    RuntimeError naming the input.
    """
    from ..stac.remote_safe import stage_in_safe
    from ..stac.s3io import RemoteReadError
    from ..stac.stack import StackError
    from .staging import (
        StagingError,
        download_prefix,
        download_url,
        is_s3,
        s3_client,
        stage_in_stack,
    )

    try:
        if isinstance(what, str):
            return {"class": "Directory", "path": str(stage_in_stack(what, dest))}
        url, cls = what["url"], what.get("class", "File")
        folder = dest / name.replace("/", "-")
        if cls == "SAFE":
            safe = stage_in_safe(url, folder, what.get("subswaths") or [], str(what.get("polarisation") or "VV"))
            return {"class": "Directory", "path": str(safe)}
        if cls == "Directory" and is_s3(url):
            return {"class": "Directory", "path": str(download_prefix(s3_client(), url, dest / name))}
        if cls == "File" and not is_s3(url):
            return {"class": "File", "path": str(download_url(url, dest / name, default_name=name))}
        raise StagingError(f"{url}: cannot stage in a {cls} from here")
    except (StagingError, StackError, RemoteReadError) as exc:
        raise RuntimeError(f"stage-in of input '{name}' failed: {exc}") from None


def _set_input(cwl_inputs: dict[str, Any], name: str, value: Any) -> None:
    """Set CWL input ``name``, or element ``i`` of an array input for ``name/i`` (``secondaries/1``)."""
    key, _, index = name.partition("/")
    if index:
        cwl_inputs[key][int(index)] = value
    else:
        cwl_inputs[key] = value


class Job:
    """State of the job in the job store (:mod:`.store`); writes stop once the job is dismissed."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from .store import open_store

        self.spec = spec
        self.id = spec["job_id"]
        self.store = open_store(spec["db"])
        self.progress = 0
        self.message = ""

    stopped = False

    def update(self, **fields: Any) -> bool:
        """Write ``fields`` (and the update time) while the job is active; False once it is not (dismissed)."""
        if self.stopped:
            return False
        from .store import StoreError

        try:
            return self._write(fields)
        except StoreError as exc:  # store unavailable for a moment: progress is not worth failing for
            print(f"job store: {exc}", file=sys.stderr, flush=True)
            return True

    def _write(self, fields: dict[str, Any]) -> bool:
        from .store import ACTIVE

        fields["updated"] = get_current_datetime()
        ok = self.store.update_job(self.id, fields, only_if_status=ACTIVE)
        if not ok:
            self.stopped = True
        return ok

    def finish(self, **fields: Any) -> None:
        """Final status: retried for a while if the store is unavailable (disk full, server down)."""
        from .store import StoreError

        deadline = time.monotonic() + 600
        while not self.stopped:
            try:
                self._write(dict(fields))
                return
            except StoreError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(5)

    def step(self, progress: int, message: str) -> None:
        """Record progress if it moved."""
        if progress != self.progress or message != self.message:
            self.progress, self.message = progress, message
            self.update(status=RUNNING, progress=progress, message=f"running: {message}")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FAILED_STEP = re.compile(r"\[(?:step|job) ([^\]]+)\] completed permanentFail")
_EXITED = re.compile(r"\[job ([^\]]+)\] exited with status: [1-9]")
_TOOL_ERROR = re.compile(r"^(\S+: )?(error|ERROR|fatal|FATAL): |^\w*(Error|Exception): ")
_CWL_BRACKET = re.compile(r"^(INFO|WARNING|ERROR|DEBUG)?\s*\[(job|step|workflow)[^\]]*\]")


def summarize_failure(log_text: str) -> str:
    """One line saying which step failed and why, from a cwltool log (``""`` when nothing is found).

    The step is the first ``[step X] completed permanentFail`` (or ``[job X]``); the reason is the
    last line a tool wrote that reads as an error before that point (``error: ...``, ``...Error: ...``),
    else cwltool's own error (an invalid job input, a missing output).
    """
    lines = [_ANSI.sub("", ln).rstrip() for ln in log_text.splitlines()]
    step, upto = None, len(lines)
    for i, ln in enumerate(lines):
        m = _FAILED_STEP.search(ln) or _EXITED.search(ln)
        if m:
            step, upto = m.group(1), i
            break
    reason = ""
    for ln in reversed(lines[:upto]):  # what the tool said last: "error: ..." or "SomeError: ..."
        text = ln.strip()
        if _TOOL_ERROR.match(text):
            reason = text
            break
    for ln in ([] if reason else reversed(lines[:upto])):
        text = ln.strip()
        if not text or _CWL_BRACKET.match(text) or text.startswith(("Traceback", "File \"", "^")):
            continue
        if re.search(r"(^|\b)(error|Error|ERROR)\b|Exception\b|No such file|not found|denied|No space left", text):
            reason = text
            break
    if not reason:
        for i, ln in enumerate(lines):
            if re.search(r"(Workflow error|Invalid job input record|Tool definition failed|Error collecting output)", ln):
                rest = [x.strip() for x in lines[i + 1:i + 4] if x.strip()]
                reason = " ".join([_CWL_BRACKET.sub("", ln).strip()] + rest)[:400]
                break
    if step is not None:
        name = re.sub(r"_\d+$", "", step.strip())
        return f"step '{name}' failed: {reason or 'see the job log'}"[:600]
    return reason[:600]


def _tail(path: Path, n: int = 15) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return "\n".join(_ANSI.sub("", ln) for ln in lines[-n:])


def _one_line(text: str, limit: int = 600) -> str:
    return " ".join(str(text).split())[:limit]


def run_inline(spec: dict[str, Any], job: Job, job_dir: Path) -> int:
    """Run an in-server process (echo) in this worker; write its result document."""
    from pygeoapi.plugin import load_plugin

    job.step(10, "running")
    definition = dict(spec["inline"].get("definition") or {})
    definition["name"] = spec["inline"]["processor"]
    processor = load_plugin("process", definition)
    mime, payload = processor.execute(spec["inputs"], spec.get("outputs"))
    from .api import payload_outputs

    doc = payload_outputs(processor.metadata, payload)
    loc = Path(spec["output_dir"]) / f"{spec['process_id']}-{job.id}"
    tmp = loc.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, loc)
    job.finish(status=SUCCESSFUL, progress=100, finished=get_current_datetime(),
               location=str(loc), mimetype="application/json", message="successful")
    return 0


def run(job_dir: Path) -> int:
    """Run the job of ``job_dir``; return the exit status."""
    spec = json.loads((job_dir / "job.json").read_text())
    job = Job(spec)
    child: subprocess.Popen | None = None
    from .fetch import FetchPolicy, install

    install(FetchPolicy.from_settings(spec.get("fetch")))

    stopping = False

    def on_term(signum: int, frame: Any) -> None:
        # Dismissed or shut down: stop the runner; never raise here, which could interrupt a store write.
        nonlocal stopping
        stopping = True
        job.stopped = True
        if child is not None and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, on_term)
    if not job.update(status=RUNNING, started=get_current_datetime(), progress=5,
                      message="running: starting"):
        return 0  # dismissed before it started
    try:
        if spec.get("inline"):
            return run_inline(spec, job, job_dir)
        for name, what in (spec.get("stage_in") or {}).items():
            url = what if isinstance(what, str) else what["url"]
            job.step(5, f"staging in {name} from {url}")
            _set_input(spec["cwl_inputs"], name, stage_in(name, what, job_dir / "stage-in"))
            if stopping:
                return 143
        (job_dir / "cwl-job.json").write_text(json.dumps(spec["cwl_inputs"], indent=2))
        (job_dir / "tmp").mkdir(exist_ok=True)
        env = dict(os.environ, PATH=runner_path(job_dir))
        log = job_dir / "job.log"
        with open(log, "wb") as logf, open(job_dir / "cwl-output.json", "wb") as outf:
            child = subprocess.Popen(runner_command(spec, job_dir), cwd=job_dir, stdout=outf, stderr=logf,
                                     stdin=subprocess.DEVNULL, env=env)
            pos = 0
            while True:
                rc = child.poll()
                with open(log, "rb") as fh:
                    fh.seek(pos)
                    chunk = fh.read().decode(errors="replace")
                    pos += len(chunk.encode())
                for m in STEP_RE.finditer(chunk):
                    name = TOOL_STEPS.get(m.group(3) or "") or (m.group(1) or m.group(2) or "").split("_")[0]
                    if name in STEP_PROGRESS:
                        pct, what = STEP_PROGRESS[name]
                        job.step(max(pct, job.progress), what)
                if rc is not None or stopping:
                    break
                try:  # returns as soon as the runner exits (no poll interval added to the job)
                    child.wait(0.3)
                except subprocess.TimeoutExpired:
                    pass
        if stopping:
            return 143  # the job is being dismissed: its record is removed by the server
        log_text = log.read_text(errors="replace") if log.is_file() else ""
        final = re.findall(r"Final process status is (\w+)", log_text)
        if rc != 0 or (final and final[-1] != "success"):
            cause = summarize_failure(log_text) or _one_line(_tail(log, 3)) or f"the CWL runner exited with status {rc}"
            raise RuntimeError(cause)
        result = json.loads((job_dir / "cwl-output.json").read_text() or "{}")
        out_dir = result.get("catalog") or result.get("stack")
        if not out_dir or not Path(out_dir["path"], "catalog.json").is_file():
            cause = summarize_failure(log_text)
            raise RuntimeError(cause or "the workflow finished without a STAC catalog (see the job log)")
        job.step(91, "validating the STAC catalog")
        stac_check = check_catalog(Path(out_dir["path"]), spec.get("stac_schemas"))
        staged = None
        if spec.get("stage_out"):
            from .staging import StagingError, stage_out

            job.step(92, f"staging out to {spec['stage_out']}/")
            try:
                staged = stage_out(Path(out_dir["path"]), spec["stage_out"])
            except StagingError as exc:
                raise RuntimeError(f"stage-out failed: {exc}") from None
        job.step(95, "publishing the catalog")
        try:
            outputs = publish(Path(out_dir["path"]), Path(spec["catalogs_dir"]) / job.id)
        except BaseException:
            if staged:
                from .staging import delete_prefix

                delete_prefix(spec["stage_out"])
            raise
        if staged:
            outputs["staged_catalog"] = {"href": staged, "type": "application/json"}
        outputs["stac_validation"] = {"value": stac_check}
        loc = Path(spec["output_dir"]) / f"{spec['process_id']}-{job.id}"
        tmp = loc.with_suffix(".tmp")
        tmp.write_text(json.dumps(outputs, indent=2))
        os.replace(tmp, loc)
        job.finish(status=SUCCESSFUL, progress=100, finished=get_current_datetime(),
                   location=str(loc), mimetype="application/json",
                   message=_one_line(f"successful: catalog published; {stac_check['message']}", 1000))
        for scratch in ("tmp", "toil-work"):
            shutil.rmtree(job_dir / scratch, ignore_errors=True)
        return 0
    except Exception as exc:  # every failure ends as a failed job with a one-line reason
        text = str(exc)
        if isinstance(exc, OSError) and exc.errno == 28:
            text = f"no space left on the server's disk ({exc.filename or ''})"
        msg = _one_line(f"failed: {text or type(exc).__name__}", 1000)
        print(f"job failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        job.finish(status=FAILED, finished=get_current_datetime(), message=msg)
        return 143 if stopping else 1


def check_catalog(catalog_dir: Path, schema_dir: str | None = None) -> dict[str, Any]:
    """Validate the job's catalog (:func:`..stac.validate.validate_catalog`, the service's
    ``stac_schemas`` setting else the defaults); raise when it fails what could be checked, else
    return the validation summary with a one-line ``message`` saying which schemas were used."""
    from ..stac.validate import validate_catalog

    report = validate_catalog(catalog_dir, schema_dir or None)
    if not report.ok:
        raise RuntimeError("the STAC catalog is invalid: " + "; ".join(report.errors[:5]))
    summary = report.summary()
    n_ext = sum(1 for where in report.used.values() if where != "pystac")
    msg = f"STAC valid against the core and {n_ext} extension schema(s) ({report.schemas})"
    if report.skipped:
        msg += "; WARNING: " + "; ".join(report.warnings)
    summary["message"] = msg
    return summary


def publish(catalog_dir: Path, dest: Path) -> dict[str, Any]:
    """Move the complete catalog directory to ``dest`` in one rename; return the result document."""
    from ..stac.psi import catalog_outputs

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.incoming")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        os.replace(catalog_dir, tmp)  # same file system: cheap; otherwise copy aside first
    except OSError:
        shutil.copytree(catalog_dir, tmp)
    os.replace(tmp, dest)
    return catalog_outputs(dest / "catalog.json")


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]).resolve()))
