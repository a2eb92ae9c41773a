"""Job manager of the service: jobs in a database, a bounded FIFO queue, workers in process groups.

:class:`SnapstampsManager` is the pygeoapi 0.21 process manager (``server.manager.name``) of
``snapstamps serve``; the routes of :mod:`.api` call it directly.

* **Store**: jobs live in :mod:`.store`: SQLite ``<data dir>/snapstamps.sqlite`` (WAL, one
  transaction per change) by default, PostgreSQL when ``connection`` is ``postgresql://...``.
* **Queue**: an execute request that passes validation becomes a job ``accepted`` and *queued*;
  the dispatcher (a thread of the server, :meth:`SnapstampsManager.start`) starts queued jobs
  oldest first while fewer than ``max_jobs`` (default: the number of CPU cores) hold a slot.
  Queued jobs survive a restart (they are rows in the store) and start afterwards.
* **Workers**: each job runs in ``python -m snapstamps.service.worker JOB_DIR``, started in a
  new session (its own process group): the CWL runner and every tool it starts share that
  group.  The dispatcher notices a worker that died (kill -9, out of memory) within about a
  second: it kills what is left of the group, marks the job failed with the reason and removes
  anything half-published (the job's catalog folder, its stage-out prefix).
* **Dismiss** (``DELETE /jobs/{id}``): SIGTERM then SIGKILL to the job's process group (whether
  or not the worker itself is alive), then the record, the job directory, the published catalog
  and the stage-out copy are removed.
* **Shutdown** of ``snapstamps serve`` (SIGTERM, Ctrl-C): :meth:`shutdown` stops the running
  jobs' process groups and puts those jobs back in the queue (``on_shutdown: requeue``, the
  default), so they run again after the restart; ``on_shutdown: keep`` leaves workers running
  (the next server adopts them).  A server that crashes leaves its workers running too.

Settings (``server.manager`` of the pygeoapi configuration): ``connection`` (SQLite file or
PostgreSQL URL), ``data_dir``, ``output_dir`` (result documents), ``jobs_dir``, ``catalogs_dir``
(published STAC catalogs), ``app_package_dir``, ``runner`` (the CWL runner: a mapping of
:class:`~snapstamps.workflows.cwl_runner.RunnerConfig` keys, or just its name; checked when the
server starts, see :func:`runner_config_from_settings`), ``public_url``,
``stage_out`` (``s3://bucket/prefix``, see :mod:`.staging`), ``max_jobs``, ``on_shutdown``,
``data_roots`` (folders local inputs may come from, besides the data dir) and ``fetch`` (the
fetch policy of :mod:`.fetch`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pygeoapi.process.base import JobNotFoundError, JobResultNotFoundError
from pygeoapi.process.manager.base import BaseManager
from pygeoapi.util import JobStatus, get_current_datetime

from .fetch import FetchPolicy
from .resources import resource_dir
from .store import ACTIVE, StoreError, open_store

LOG = logging.getLogger(__name__)

#: Seconds a dispatched job may go without a recorded worker pid before it counts as lost.
PID_GRACE_S = 60.0


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


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
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


def kill_group(pgid: int, grace: float = 3.0) -> None:
    """SIGTERM process group ``pgid`` (a worker's session), then SIGKILL what is left after ``grace`` s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            if not group_members(pgid):
                return
            time.sleep(0.05)


def worker_env() -> dict[str, str]:
    """Environment of a worker: the ``snapstamps`` of this Python first on PATH."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bindir, env.get("PATH", "")])
    env.pop("PYGEOAPI_CONFIG", None)
    env.pop("PYGEOAPI_OPENAPI", None)
    return env


def runner_config_from_settings(manager_def: dict[str, Any]) -> Any:
    """The CWL runner of the service (``server.manager.runner``): a mapping of
    :class:`~snapstamps.workflows.cwl_runner.RunnerConfig` keys (``runner``, ``batch_system``,
    ``job_store``, ``max_cores``, ``container``, ``extra_args``), a runner name, or nothing
    (cwltool).  Raises :class:`~snapstamps.errors.ParameterError` naming the setting when it is
    wrong or the runner is not installed, so that a typo fails the server start, not a job."""
    from ..errors import ParameterError, SnapstampsError
    from ..workflows.cwl_runner import RunnerConfig

    if manager_def.get("runner_args") is not None:
        raise ParameterError("server.manager.runner_args is no longer read: give further runner flags as "
                             "runner: {extra_args: [...]} (--no-container and --parallel are added by the service)")
    runner = manager_def.get("runner")
    if runner is None or isinstance(runner, str):
        runner = {"runner": runner or "cwltool"}
    if not isinstance(runner, dict):
        raise ParameterError(f"server.manager.runner: expected a mapping of runner options or a runner name (got {runner!r})")
    try:
        config = RunnerConfig.from_mapping(runner)
        config.check_installed()
    except SnapstampsError as exc:
        raise ParameterError(f"server.manager.runner: {exc}") from None
    return config


class JobFailed(Exception):
    """A job's results were asked for, but the job failed (message: the cause)."""


class SnapstampsManager(BaseManager):
    """Jobs in :mod:`.store`, run by worker processes under a bound; see the module documentation."""

    def __init__(self, manager_def: dict[str, Any]) -> None:
        super().__init__(manager_def)
        self.is_async = True
        self.supports_subscribing = False
        conn = manager_def.get("connection")
        data_dir = manager_def.get("data_dir")
        if not data_dir:
            local = conn and "://" not in str(conn) and "=" not in str(conn)
            data_dir = Path(str(conn)).parent if local else Path("snapstamps-service")
        self.data_dir = Path(data_dir).resolve()
        self.connection = str(conn or self.data_dir / "snapstamps.sqlite")
        self.store = open_store(self.connection)
        self.output_dir = Path(manager_def.get("output_dir") or self.data_dir / "results")
        self.jobs_dir = Path(manager_def.get("jobs_dir") or self.data_dir / "jobs")
        self.catalogs_dir = Path(manager_def.get("catalogs_dir") or self.data_dir / "catalogs")
        self.app_package_dir = Path(manager_def.get("app_package_dir") or resource_dir("app-package"))
        self.runner_config = runner_config_from_settings(manager_def)
        self.public_url = str(manager_def.get("public_url") or "").rstrip("/") or None
        self.stage_out = str(manager_def.get("stage_out") or "").rstrip("/") or None
        self.stac_schemas = manager_def.get("stac_schemas") or None  # STAC schema directory (issue 14)
        self.max_jobs = max(1, int(manager_def.get("max_jobs") or os.environ.get("SNAPSTAMPS_MAX_JOBS")
                                   or os.cpu_count() or 1))
        self.on_shutdown = str(manager_def.get("on_shutdown") or "requeue")
        roots = list(manager_def.get("data_roots") or [])
        roots += [r for r in os.environ.get("SNAPSTAMPS_DATA_ROOTS", "").split(os.pathsep) if r.strip()]
        self.data_roots = [self.data_dir] + [Path(r).resolve() for r in roots]
        self.fetch_policy = FetchPolicy.from_settings(manager_def.get("fetch"))
        self.host = socket.gethostname()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for d in (self.jobs_dir, self.catalogs_dir, self.output_dir):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                LOG.error("cannot create %s: %s", d, exc)

    # ------------------------------------------------------------------ submission
    def validate_request(self, process_id: str, body: Any, ctx: Any = None) -> tuple[Any, dict, dict | None, str]:
        """Check a whole execute request (the JSON body) before any job exists.

        Returns ``(processor, inputs, outputs, response)`` with the inputs' defaults filled in and
        this server's job URLs made local paths; raises :class:`.processes.InvalidInputError`
        (HTTP 400) naming the problem.  ``ctx`` (data roots, fetch policy) defaults to this
        manager's.  Other components that start jobs (subscriptions) go through here and
        :meth:`submit`, as the execution route does.
        """
        from .processes import InputContext, InvalidInputError, SnapstampsProcessor
        from .validation import validate_execute_inputs, validate_outputs

        if process_id not in self.processes:
            raise InvalidInputError(user_msg=f"no such process: {str(process_id)[:128]}")
        if not isinstance(body, dict):
            raise InvalidInputError(user_msg="the request body must be a JSON object (an execute request)")
        inputs = body.get("inputs", {})
        if inputs is None:
            inputs = {}
        if not isinstance(inputs, dict):
            raise InvalidInputError(user_msg="'inputs' must be an object")
        response = body.get("response", "raw")
        if response not in ("raw", "document"):
            raise InvalidInputError(user_msg="'response' must be 'raw' or 'document'")
        sub = body.get("subscriber")
        if sub is not None:
            if not isinstance(sub, dict):
                raise InvalidInputError(user_msg="'subscriber' must be an object")
            if any(sub.get(k) for k in ("successUri", "inProgressUri", "failedUri")):
                raise InvalidInputError(user_msg="callback subscribers are not supported by this service")
        processor = self.get_processor(process_id)
        desc = processor.metadata
        outputs = validate_outputs(desc, body.get("outputs"))
        data = validate_execute_inputs(desc, inputs)
        data = {k: self.local_ref(v) for k, v in data.items()}
        if isinstance(processor, SnapstampsProcessor):
            processor.check_inputs(data, ctx or InputContext(self.data_roots, self.fetch_policy))
        return processor, data, outputs, response

    def submit(self, processor: Any, data: dict[str, Any], outputs: dict[str, Any] | None = None,
               response: str = "document") -> dict[str, Any]:
        """Create a queued job for validated inputs; return its record.

        The job directory and its spec are written first, the record last, so a failure
        (disk full, store unavailable) leaves no job behind: the error goes to the client.
        """
        job_id = str(uuid.uuid1())
        pid = processor.metadata["id"]
        job_dir = self.jobs_dir / job_id
        spec: dict[str, Any] = {
            "job_id": job_id,
            "process_id": pid,
            "inputs": data,
            "outputs": outputs or None,
            "response": response,
            "db": self.connection,
            "output_dir": str(Path(self.output_dir).resolve()),
            "catalogs_dir": str(self.catalogs_dir.resolve()),
            "fetch": self.fetch_policy.to_settings(),
            "data_roots": [str(r) for r in self.data_roots],
            "stac_schemas": self.stac_schemas,
        }
        if getattr(processor, "runs_as_job", False):
            spec.update({
                "cwl_inputs": processor.cwl_inputs(data),
                "app_package": str(self.app_package_dir / processor.app_package),
                "runner": self.runner_config.to_mapping(),
                "stage_in": processor.stage_in(data),
                "stage_out": f"{self.stage_out}/{job_id}" if self.stage_out else None,
            })
        else:
            cls = type(processor)
            spec["inline"] = {"processor": f"{cls.__module__}.{cls.__qualname__}",
                              "definition": getattr(processor, "processor_def", {})}
        try:
            job_dir.mkdir(parents=True)
            tmp = job_dir / "job.json.tmp"
            tmp.write_text(json.dumps(spec, indent=2))
            os.replace(tmp, job_dir / "job.json")
        except OSError:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise
        now = get_current_datetime()
        record = {
            "type": "process", "identifier": job_id, "process_id": pid, "created": now, "started": None,
            "updated": now, "finished": None, "status": JobStatus.accepted.value, "location": None,
            "mimetype": "application/json", "message": "accepted: queued", "progress": 0,
            "queue_state": "queued",
        }
        try:
            self.store.add_job(record)
        except Exception:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise
        self._wake.set()
        return record

    # ------------------------------------------------------------------ pygeoapi interface
    def get_jobs(self, status: Any = None, limit: int | None = None, offset: int | None = None) -> dict:
        """pygeoapi's view of the job list (its HTML page): newest first, ``started`` never null."""
        wanted = None
        if status is not None:
            wanted = [getattr(s, "value", s) for s in (status if isinstance(status, (list, tuple)) else [status])]
        jobs, n = self.store.list_jobs(status=wanted, limit=limit, offset=offset or 0)
        for j in jobs:
            j["started"] = j.get("started") or j.get("created")  # its HTML template cannot show a null
            j["finished"] = j.get("finished") or j.get("updated")
        return {"jobs": jobs, "numberMatched": n}

    def get_job(self, job_id: str) -> dict:
        """The job record; raises pygeoapi's JobNotFoundError."""
        job = self.store.get_job(job_id)
        if job is None:
            raise JobNotFoundError(job_id)
        return job

    def add_job(self, job_metadata: dict) -> str:
        return self.store.add_job(job_metadata)

    def update_job(self, job_id: str, update_dict: dict) -> bool:
        return self.store.update_job(job_id, update_dict)

    def get_job_result(self, job_id: str) -> tuple:
        """``(mimetype, document)`` of a successful job, hrefs made ``http`` URLs of this server.

        Raises JobNotFoundError (no such job), JobResultNotFoundError (not finished) or
        :class:`JobFailed` (the cause as message).
        """
        job = self.get_job(job_id)
        if job["status"] == JobStatus.failed.value:
            raise JobFailed(job.get("message") or "the job failed")
        if job["status"] != JobStatus.successful.value or not job.get("location"):
            raise JobResultNotFoundError(job_id)
        try:
            doc = json.loads(Path(job["location"]).read_text())
        except (OSError, ValueError) as exc:
            raise JobResultNotFoundError(job_id) from exc
        spec = job.get("spec") or self._spec(job_id) or {}
        if isinstance(doc, dict) and spec.get("outputs"):
            doc = {k: v for k, v in doc.items() if k in spec["outputs"]}
        if isinstance(doc, dict) and self.public_url:
            doc = self.http_outputs(job_id, doc)
        return job.get("mimetype") or "application/json", doc

    def execute_process(self, *args: Any, **kwargs: Any) -> tuple:  # pragma: no cover - routed by .api
        raise NotImplementedError("execution is routed by snapstamps.service.api")

    def _spec(self, job_id: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.jobs_dir / job_id / "job.json").read_text())
        except (OSError, ValueError):
            return None

    # ------------------------------------------------------------------ own results as inputs
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
        try:
            root = (self.catalogs_dir / parts[1]).resolve()
            path = (root / parts[3]).resolve()
            if root.parent != self.catalogs_dir.resolve() or not path.is_relative_to(root) or not path.exists():
                return value
        except (OSError, ValueError):
            return value
        return str(path)

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

    # ------------------------------------------------------------------ dispatcher
    def start(self, poll: float = 1.0) -> None:
        """Start the dispatcher thread (once per process)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(poll,), name="snapstamps-dispatcher", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Ask the dispatcher to look at the queue now."""
        self._wake.set()

    def _run(self, poll: float) -> None:
        while not self._stop.is_set():
            try:
                self.dispatch_once()
            except StoreError as exc:  # store unavailable: try again later
                LOG.warning("dispatcher: %s", exc)
            except Exception:  # noqa: BLE001 - the dispatcher must not die
                LOG.exception("dispatcher")
            self._wake.wait(poll)
            self._wake.clear()

    def dispatch_once(self) -> int:
        """Reap lost workers, then start queued jobs while slots are free; return how many started."""
        self.reap()
        started = 0
        while not self._stop.is_set():
            job = self.store.claim_next(self.max_jobs, self.host, get_current_datetime())
            if job is None:
                break
            self._launch(job)
            started += 1
        return started

    def _launch(self, job: dict[str, Any]) -> None:
        job_id = job["identifier"]
        job_dir = self.jobs_dir / job_id
        try:
            if not (job_dir / "job.json").is_file():
                raise OSError(f"{job_dir / 'job.json'}: missing")
            log = open(job_dir / "worker.log", "ab")
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "snapstamps.service.worker", str(job_dir)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    cwd=job_dir, env=worker_env(),
                )
            finally:
                log.close()
        except OSError as exc:
            self._fail(job_id, f"failed: the worker could not be started ({exc.strerror or exc})")
            return
        try:
            (job_dir / "worker.pid").write_text(str(proc.pid))
        except OSError:
            pass
        self.store.update_job(job_id, {"worker_pid": proc.pid})

        def reap_child() -> None:
            proc.wait()
            self._wake.set()

        threading.Thread(target=reap_child, daemon=True).start()

    def _fail(self, job_id: str, message: str) -> bool:
        now = get_current_datetime()
        return self.store.update_job(job_id, {"status": JobStatus.failed.value, "message": message[:2000],
                                              "finished": now, "updated": now}, only_if_status=ACTIVE)

    def reap(self) -> int:
        """Fail the active jobs of this host whose worker is gone; kill what is left of their groups."""
        jobs, _ = self.store.list_jobs(status=list(ACTIVE), where_extra="queue_state = 'dispatched' AND worker_host = ?",
                                       params_extra=(self.host,), limit=10000)
        n = 0
        for job in jobs:
            job_id, pid = job["identifier"], job.get("worker_pid")
            if pid is None:
                since = job.get("dispatched") or job.get("created") or ""
                if _age_s(since) < PID_GRACE_S:
                    continue
                reason = "failed: the job's worker never started"
            elif pid_alive(int(pid), marker=str(self.jobs_dir / job_id)):
                continue
            else:
                reason = ("failed: the job's worker process ended unexpectedly (killed, out of memory, "
                          "or the machine restarted)")
            if pid is not None:
                kill_group(int(pid))  # its runner and tools, if any are left
            if self._fail(job_id, reason):
                self._unpublish(job_id)
                n += 1
        return n

    def _unpublish(self, job_id: str) -> None:
        """Remove whatever a failed or dismissed job may have published (local catalog, stage-out)."""
        for d in (self.catalogs_dir / job_id, self.catalogs_dir / f".{job_id}.incoming"):
            shutil.rmtree(d, ignore_errors=True)
        spec = self._spec(job_id) or {}
        if spec.get("stage_out"):
            try:
                from .staging import delete_prefix

                delete_prefix(spec["stage_out"])
            except Exception:  # noqa: BLE001 - best effort: the bucket may be unreachable
                LOG.warning("could not remove the stage-out copy of job %s", job_id)

    # ------------------------------------------------------------------ dismiss
    def delete_job(self, job_id: str) -> bool:
        """Stop the job's process group, then remove the job and everything it wrote."""
        job = self.get_job(job_id)  # raises JobNotFoundError
        pid = job.get("worker_pid")
        if pid is None:
            try:
                pid = int((self.jobs_dir / job_id / "worker.pid").read_text())
            except (OSError, ValueError):
                pid = None
        if pid is not None and (job.get("worker_host") in (None, self.host)):
            if pid_alive(int(pid), marker=str(self.jobs_dir / job_id)) or group_members(int(pid)):
                kill_group(int(pid))
        self.store.delete_job(job_id)
        self._unpublish(job_id)
        shutil.rmtree(self.jobs_dir / job_id, ignore_errors=True)
        location = job.get("location")
        if location:
            Path(location).unlink(missing_ok=True)
        self._wake.set()
        return True

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> int:
        """Stop the dispatcher; with ``on_shutdown: requeue`` stop this host's running jobs and queue them again."""
        self._stop.set()
        self._wake.set()
        if self.on_shutdown != "requeue":
            return 0
        try:
            jobs, _ = self.store.list_jobs(status=list(ACTIVE),
                                           where_extra="queue_state = 'dispatched' AND worker_host = ?",
                                           params_extra=(self.host,), limit=10000)
        except StoreError:
            jobs = []
        for job in jobs:
            if job.get("worker_pid"):
                kill_group(int(job["worker_pid"]), grace=2.0)
            job_dir = self.jobs_dir / job["identifier"]
            for name in ("out", "tmp", "stage-in", "cwl-output.json", "worker.pid"):
                p = job_dir / name
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            shutil.rmtree(self.catalogs_dir / f".{job['identifier']}.incoming", ignore_errors=True)
            try:
                self.store.update_job(job["identifier"], {
                    "status": JobStatus.accepted.value, "queue_state": "queued", "worker_pid": None,
                    "worker_host": None, "started": None, "progress": 0, "updated": get_current_datetime(),
                    "message": "accepted: queued again (the server shut down while it ran)"},
                    only_if_status=ACTIVE)
            except StoreError:
                pass
        return len(jobs)


def _age_s(iso: str) -> float:
    import datetime as dt

    try:
        t = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return 1e9
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return (dt.datetime.now(dt.timezone.utc) - t).total_seconds()
