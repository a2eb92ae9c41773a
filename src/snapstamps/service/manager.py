"""Job manager of the service: pygeoapi's TinyDB manager, with jobs run outside the web server.

What it adds to pygeoapi 0.21's ``TinyDBManager``:

* **input validation** of every execute request against the process description (JSON schema of
  each input, ``minOccurs``/``maxOccurs``, unknown inputs), before any job is created: a
  violation is HTTP 400 ``InvalidParameterValue`` with the reason;
* **CWL jobs in worker processes**: a process with ``runs_as_job`` (psi) is always run
  asynchronously by ``python -m snapstamps.service.worker JOB_DIR`` in a new session (its own
  process group), which runs the CWL application package with the configured runner (cwltool
  by default, ``toil-cwl-runner`` selectable) in the job's own directory and records status,
  progress (percent and current step) and the runner's log (``JOB_DIR/job.log``) in the job
  store; the 201 response carries a statusInfo body (pygeoapi 0.21 sends ``null``);
* **own results as inputs**: a URL of this server's job files (``{public_url}/jobs/<id>/files/...``,
  e.g. the catalog an interferogram-stack job returns) is read as the local file it serves, so it
  can be given to psi as ``stack`` as is;
* **dismiss**: ``DELETE /jobs/{id}`` kills the worker's process group (the runner and the
  snapstamps processes it started), then removes the job, its directory and its result;
* **restart safety**: a job whose worker is gone while the job is still ``accepted`` or
  ``running`` (the server or machine restarted, the worker was killed) is marked ``failed`` with
  a message when it is next read; workers outlive a server restart, so a job still running
  then goes on and finishes normally.

Settings (``server.manager`` in the pygeoapi configuration): ``connection`` (TinyDB file),
``output_dir`` (result documents), ``jobs_dir``, ``catalogs_dir`` (published STAC catalogs),
``app_package_dir``, ``runner`` and ``runner_args``, ``public_url`` (base of the ``http`` hrefs
of job results, set by ``snapstamps serve``) and ``stage_out`` (``s3://bucket/prefix``: results
are also uploaded to ``prefix/<job id>/``, see :mod:`.staging`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pygeoapi.process.base import JobNotFoundError
from pygeoapi.process.manager.tinydb_ import TinyDBManager
from pygeoapi.util import JobStatus, get_current_datetime

from .processes import InvalidInputError, SnapstampsProcessor
from .validation import validate_execute_inputs

ACTIVE = (JobStatus.accepted.value, JobStatus.running.value)


def pid_alive(pid: int, marker: str | None = None) -> bool:
    """True if process ``pid`` runs (not a zombie) and, when given, its command line contains ``marker``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False
            if marker is not None and marker not in (proc / "cmdline").read_bytes().decode(errors="replace"):
                return False
        except OSError:
            return False
    return True


class SnapstampsManager(TinyDBManager):
    """TinyDB job store; CWL jobs in worker processes; validation, dismiss and restart safety."""

    def __init__(self, manager_def: dict[str, Any]) -> None:
        super().__init__(manager_def)
        base = Path(self.connection).parent
        self.jobs_dir = Path(manager_def.get("jobs_dir") or base / "jobs")
        self.catalogs_dir = Path(manager_def.get("catalogs_dir") or base / "catalogs")
        default_pkg = Path(__file__).resolve().parents[3] / "app-package"
        self.app_package_dir = Path(manager_def.get("app_package_dir") or default_pkg)
        self.runner = manager_def.get("runner") or "cwltool"
        self.runner_args = list(manager_def.get("runner_args") or ["--no-container"])
        self.public_url = str(manager_def.get("public_url") or "").rstrip("/") or None
        self.stage_out = str(manager_def.get("stage_out") or "").rstrip("/") or None
        self.stac_schemas = manager_def.get("stac_schemas") or None  # STAC schema directory (issue 14)
        for d in (self.jobs_dir, self.catalogs_dir, self.output_dir):
            if d is not None:
                Path(d).mkdir(parents=True, exist_ok=True)
        Path(self.connection).parent.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ execute
    def execute_process(self, process_id: str, data_dict: dict, execution_mode: Any = None,
                        requested_outputs: dict | None = None, subscriber: Any = None,
                        requested_response: Any = "raw") -> tuple:
        """Validate, then run echo in-process or start a CWL job in a worker process."""
        processor = self.get_processor(process_id)
        if subscriber is not None and any(
            getattr(subscriber, a, None) for a in ("success_uri", "in_progress_uri", "failed_uri")
        ):
            # pygeoapi 0.21 would POST to any URL given here (server-side request forgery): refuse
            raise InvalidInputError(user_msg="callback subscribers are not supported by this service")
        if not isinstance(data_dict, dict):
            raise InvalidInputError(user_msg="'inputs' must be an object")
        data = validate_execute_inputs(processor.metadata, data_dict)
        data = {k: self.local_ref(v) for k, v in data.items()}
        if isinstance(processor, SnapstampsProcessor):
            processor.check_inputs(data)
            if processor.runs_as_job:
                return self._start_job(processor, data)
        return super().execute_process(process_id, data, execution_mode, requested_outputs, subscriber,
                                       requested_response)

    def _start_job(self, processor: SnapstampsProcessor, data: dict) -> tuple:
        job_id = str(uuid.uuid1())
        pid = processor.metadata["id"]
        job_dir = self.jobs_dir / job_id
        job_dir.mkdir(parents=True)
        spec = {
            "job_id": job_id,
            "process_id": pid,
            "inputs": data,
            "cwl_inputs": processor.cwl_inputs(data),
            "app_package": str(self.app_package_dir / processor.app_package),
            "runner": self.runner,
            "runner_args": self.runner_args,
            "db": str(Path(self.connection).resolve()),
            "output_dir": str(Path(self.output_dir).resolve()),
            "catalogs_dir": str(self.catalogs_dir.resolve()),
            "stage_in": processor.stage_in(data),
            "stage_out": f"{self.stage_out}/{job_id}" if self.stage_out else None,
            "stac_schemas": self.stac_schemas,
        }
        (job_dir / "job.json").write_text(json.dumps(spec, indent=2))
        now = get_current_datetime()
        self.add_job({
            "type": "process", "identifier": job_id, "process_id": pid, "created": now, "started": None,
            "updated": now, "finished": None, "status": JobStatus.accepted.value, "location": None,
            "mimetype": "application/json", "message": "accepted: starting the worker", "progress": 0,
        })
        log = open(job_dir / "worker.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "snapstamps.service.worker", str(job_dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=job_dir, env=worker_env(),
        )
        log.close()
        (job_dir / "worker.pid").write_text(str(proc.pid))
        threading.Thread(target=proc.wait, daemon=True).start()  # reap it when it ends
        body = {"jobID": job_id, "processID": pid, "type": "process", "status": JobStatus.accepted.value,
                "message": "accepted", "progress": 0, "created": now}
        return job_id, "application/json", body, JobStatus.accepted, {"Preference-Applied": "respond-async"}

    def local_ref(self, value: Any) -> Any:
        """``value`` with this server's job-file URLs (``{public_url}/jobs/<id>/files/<path>``) made local paths.

        So that the catalog URL an interferogram-stack job returns can be given to psi as its
        ``stack`` as is.  Applies to strings and lists of strings; a URL naming a file outside the
        job's published catalog is left unchanged (and then refused by the process's checks).
        """
        from urllib.parse import unquote, urlparse

        if isinstance(value, list):
            return [self.local_ref(v) for v in value]
        if not isinstance(value, str) or not self.public_url or not value.startswith(f"{self.public_url}/jobs/"):
            return value
        rest = unquote(urlparse(value).path)
        base_path = urlparse(self.public_url).path.rstrip("/")
        parts = rest[len(base_path):].lstrip("/").split("/", 3)  # jobs, <id>, files, <path>
        if len(parts) < 4 or parts[0] != "jobs" or parts[2] != "files" or not parts[1] or parts[1] in (".", ".."):
            return value
        root = (self.catalogs_dir / parts[1]).resolve()
        path = (root / parts[3]).resolve()
        if root.parent != self.catalogs_dir.resolve() or not path.is_relative_to(root) or not path.exists():
            return value
        return str(path)

    # ------------------------------------------------------------------ results
    def get_job_result(self, job_id: str) -> tuple:
        """The result document, its ``file://`` hrefs into the job's catalog turned into ``http`` URLs.

        The stored document keeps local ``file://`` hrefs (valid whatever the server's address);
        what clients get points at the read-only routes of :mod:`.files`:
        ``{public_url}/jobs/<id>/files/<path>`` and ``{public_url}/jobs/<id>/viewer/...``.
        """
        res = super().get_job_result(job_id)
        if len(res) == 2 and isinstance(res[1], dict) and self.public_url:
            return res[0], self.http_outputs(job_id, res[1])
        return res

    def http_outputs(self, job_id: str, outputs: dict[str, Any]) -> dict[str, Any]:
        """``outputs`` with hrefs of files in ``catalogs_dir/<job_id>`` replaced by the server's URLs."""
        from urllib.parse import quote, unquote, urlparse

        base = (self.catalogs_dir / job_id).resolve()
        out: dict[str, Any] = {}
        for key, val in outputs.items():
            if isinstance(val, dict) and str(val.get("href", "")).startswith("file://"):
                path = Path(unquote(urlparse(val["href"]).path))
                try:
                    rel = path.resolve().relative_to(base).as_posix()
                except ValueError:
                    out[key] = val
                    continue
                root = f"{self.public_url}/jobs/{quote(job_id)}"
                href = f"{root}/viewer/{quote(rel[7:])}" if rel.startswith("viewer/") else f"{root}/files/{quote(rel)}"
                out[key] = {**val, "href": href}
            else:
                out[key] = val
        return out

    # ------------------------------------------------------------------ restart safety
    def _worker_pid(self, job_id: str) -> int | None:
        f = self.jobs_dir / job_id / "worker.pid"
        try:
            return int(f.read_text())
        except (OSError, ValueError):
            return None

    def _reap(self, job: dict) -> dict:
        """Mark an active job failed when its worker is gone."""
        if job.get("status") not in ACTIVE:
            return job
        job_dir = self.jobs_dir / job["identifier"]
        if not (job_dir / "job.json").exists():
            return job  # not one of ours (e.g. an in-process echo job)
        pid = self._worker_pid(job["identifier"])
        if pid is None:
            # the pid file is written right after the worker starts: give it a moment
            if time.time() - (job_dir / "job.json").stat().st_mtime < 30:
                return job
        elif pid_alive(pid, marker=str(job_dir)):
            return job
        # re-read: the worker may have finished between the two reads
        with self._db() as db:
            import tinydb

            fresh = db.search(tinydb.where("identifier") == job["identifier"])
        if fresh and fresh[0].get("status") not in ACTIVE:
            return fresh[0]
        msg = "failed: the job's worker process is gone (server or machine restarted, or the worker was killed)"
        update = {"status": JobStatus.failed.value, "message": msg, "finished": get_current_datetime(),
                  "updated": get_current_datetime()}
        self.update_job(job["identifier"], update)
        return {**job, **update}

    def get_job(self, job_id: str) -> dict:
        """The job, with a dead worker's job marked failed."""
        return self._reap(super().get_job(job_id))

    def get_jobs(self, status: Any = None, limit: int | None = None, offset: int | None = None) -> dict:
        """All jobs (dead workers' jobs marked failed), optionally filtered by ``status``."""
        res = super().get_jobs(None, None, None)
        jobs = [self._reap(j) for j in res["jobs"]]
        if status is not None:
            wanted = {getattr(s, "value", s) for s in (status if isinstance(status, (list, tuple)) else [status])}
            jobs = [j for j in jobs if j.get("status") in wanted]
        n = len(jobs)
        if offset:
            jobs = jobs[offset:]
        if limit:
            jobs = jobs[:limit]
        return {"jobs": jobs, "numberMatched": n}

    # ------------------------------------------------------------------ dismiss
    def delete_job(self, job_id: str) -> bool:
        """Stop the job's worker and its children, then remove the job and what it wrote."""
        job = super().get_job(job_id)  # raises JobNotFoundError
        pid = self._worker_pid(job_id)
        job_dir = self.jobs_dir / job_id
        if pid is not None and pid_alive(pid, marker=str(job_dir)):
            kill_group(pid)
        staged = None
        try:
            staged = json.loads((job_dir / "job.json").read_text()).get("stage_out")
        except (OSError, ValueError):
            pass
        shutil.rmtree(job_dir, ignore_errors=True)
        shutil.rmtree(self.catalogs_dir / job_id, ignore_errors=True)
        if staged:  # the job's copy in the stage-out bucket goes too (best effort)
            try:
                from .staging import delete_prefix

                delete_prefix(staged)
            except Exception:  # noqa: BLE001 - never fail a dismiss on the bucket
                pass
        location = job.get("location")
        if location and not Path(location).exists():
            self.update_job(job_id, {"location": None})
        try:
            return super().delete_job(job_id)
        except JobNotFoundError:
            raise
        except FileNotFoundError:
            return True


def kill_group(pid: int, grace: float = 5.0) -> None:
    """SIGTERM the process group led by ``pid`` (a worker started in its own session), then SIGKILL."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + grace
        while time.time() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            if not pid_alive(pid) and not _group_members(pgid):
                return
            time.sleep(0.1)


def _group_members(pgid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[2]) == pgid and stat[0] not in ("Z", "X"):
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def worker_env() -> dict[str, str]:
    """Environment of a worker: the ``snapstamps`` of this Python first on PATH."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    env.pop("PYGEOAPI_CONFIG", None)
    env.pop("PYGEOAPI_OPENAPI", None)
    return env
