"""The service's OGC API - Processes 1.0 routes for execution and jobs, over pygeoapi's Flask app.

pygeoapi 0.21 serves the landing page, the OpenAPI document and the process descriptions;
:func:`register` replaces its execution, job and conformance views (JSON; HTML requests still
get pygeoapi's pages) and adds:

* ``POST /processes/{id}/execution``: the whole request is validated first (inputs, output
  selection, ``response``, ``subscriber``; paths under the data roots, URLs under the fetch
  policy); async execution (``Prefer: respond-async``, or a process without ``sync-execute``)
  answers **201** with a statusInfo document and ``Location`` whatever ``response`` is; a
  process offering ``sync-execute`` (echo) runs synchronously otherwise.
* ``GET /jobs``: newest first; ``limit`` (1..1000, default 10), ``offset``, ``status``,
  ``processID``, ``type`` and ``datetime`` (on ``created``) filters; ``numberMatched``; ``next``
  and ``prev`` links.
* ``GET /jobs/{id}`` (statusInfo with ``self``, ``results`` and ``log`` links), ``DELETE
  /jobs/{id}`` (dismiss), ``GET /jobs/{id}/results`` (a failed job: an exception with its
  cause), ``GET /jobs/{id}/log`` (the job's log as text), ``GET /processes/{id}/package`` (the
  CWL application package, the execution unit).
* ``GET /conformance``: only the classes this service implements (no ``callback``).

Around every request: bodies are limited in size (``max_body_bytes``, 413) and JSON depth
(``max_json_depth``, 400); every error is JSON (RFC 7807 shape with an OGC exception ``type``
URI, ``code`` and ``detail``), never an HTML page or a traceback; an unavailable store or a
full disk is **503** with ``Retry-After``.  Optional, off by default: an API token for POST and
DELETE (``api_token``; ``Authorization: Bearer TOKEN``) and CORS (``cors_origins``).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import re
from pathlib import Path
from typing import Any, Callable

from pygeoapi.process.base import JobNotFoundError, JobResultNotFoundError, ProcessorExecuteError

from .manager import JobFailed, SnapstampsManager
from .processes import InputContext, InvalidInputError
from .store import StoreError, StoreUnavailable

LOG = logging.getLogger(__name__)

PROCESSES_EXC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
#: exception code -> type URI (the first three are defined by OGC API - Processes 1.0)
EXCEPTION_TYPES = {
    "NoSuchProcess": PROCESSES_EXC + "no-such-process",
    "NoSuchJob": PROCESSES_EXC + "no-such-job",
    "ResultNotReady": PROCESSES_EXC + "result-not-ready",
}
STATUSES = ("accepted", "running", "successful", "failed", "dismissed")
JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
CONF = "http://www.opengis.net/spec/"
CONFORMANCE = [
    CONF + "ogcapi-common-1/1.0/conf/core",
    CONF + "ogcapi-common-1/1.0/conf/landing-page",
    CONF + "ogcapi-common-1/1.0/conf/json",
    CONF + "ogcapi-common-1/1.0/conf/html",
    CONF + "ogcapi-common-1/1.0/conf/oas30",
    CONF + "ogcapi-processes-1/1.0/conf/core",
    CONF + "ogcapi-processes-1/1.0/conf/ogc-process-description",
    CONF + "ogcapi-processes-1/1.0/conf/json",
    CONF + "ogcapi-processes-1/1.0/conf/html",
    CONF + "ogcapi-processes-1/1.0/conf/oas30",
    CONF + "ogcapi-processes-1/1.0/conf/job-list",
    CONF + "ogcapi-processes-1/1.0/conf/dismiss",
]
MAX_LIMIT = 1000
DEFAULT_LIMIT = 10
LOG_TAIL_BYTES = 2 * 1024 * 1024


def exception_type(code: str) -> str:
    """The type URI of an exception ``code`` (``InvalidParameterValue`` -> ``.../invalid-parameter-value``)."""
    if code in EXCEPTION_TYPES:
        return EXCEPTION_TYPES[code]
    kebab = re.sub(r"(?<!^)(?=[A-Z])", "-", code).lower().replace("_", "-")
    return PROCESSES_EXC + kebab


def error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Any:
    """A JSON exception response (RFC 7807 fields, OGC type URI, pygeoapi's ``code``/``description``)."""
    from flask import Response
    from werkzeug.http import HTTP_STATUS_CODES

    body = {"type": exception_type(code), "title": HTTP_STATUS_CODES.get(status, "Error"), "status": status,
            "detail": detail, "code": code, "description": detail}
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def json_depth_ok(text: str, limit: int) -> bool:
    """True when the JSON text nests arrays/objects at most ``limit`` deep (scanned, not parsed)."""
    depth, in_str, esc = 0, False, False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _iso(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _stamp(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_datetime_filter(value: str) -> tuple[str | None, str | None]:
    """``datetime`` (an instant or ``start/end`` with ``..`` open ends) as bounds on ``created``."""
    if "/" in value:
        a, _, b = value.partition("/")
        lo = None if a.strip() in ("", "..") else _stamp(_iso(a))
        hi = None if b.strip() in ("", "..") else _stamp(_iso(b))
        return lo, hi
    t = _iso(value)
    if t.microsecond == 0 and "." not in value:  # a whole second: that second
        return _stamp(t), _stamp(t + dt.timedelta(seconds=1) - dt.timedelta(microseconds=1))
    return _stamp(t), _stamp(t)


class ServiceAPI:
    """The routes of this module, bound to one manager and the server's settings."""

    def __init__(self, manager: SnapstampsManager, settings: dict[str, Any], base_url: str) -> None:
        self.manager = manager
        self.base_url = base_url.rstrip("/")
        self.api_token = str(settings.get("api_token") or "") or None
        origins = settings.get("cors_origins") or []
        self.cors_origins = [origins] if isinstance(origins, str) else list(origins)
        self.max_body = int(settings.get("max_body_bytes") or 1024 * 1024)
        self.max_depth = int(settings.get("max_json_depth") or 32)
        self.ctx = InputContext(manager.data_roots, manager.fetch_policy)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def wants_html() -> bool:
        from flask import request

        f = request.args.get("f")
        if f is not None:
            return f.lower() == "html"
        accept = request.accept_mimetypes
        return accept.best_match(["application/json", "text/html"]) == "text/html" and \
            accept["text/html"] > accept["application/json"]

    @staticmethod
    def json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
        from flask import Response

        resp = Response(json.dumps(doc, indent=2), status=status, mimetype="application/json")
        for k, v in (headers or {}).items():
            resp.headers[k] = v
        return resp

    def status_info(self, job: dict[str, Any]) -> dict[str, Any]:
        """The OGC statusInfo document of a job record (null times left out)."""
        jid = job["identifier"]
        info: dict[str, Any] = {"jobID": jid, "processID": job.get("process_id"), "type": job.get("type") or "process",
                                "status": job["status"], "message": job.get("message") or "",
                                "progress": int(job.get("progress") or 0)}
        for key in ("created", "started", "finished", "updated"):
            if job.get(key):
                info[key] = job[key]
        base = f"{self.base_url}/jobs/{jid}"
        links = [{"href": f"{base}?f=json", "rel": "self", "type": "application/json", "title": "this document"},
                 {"href": f"{base}?f=html", "rel": "alternate", "type": "text/html", "title": "this document as HTML"},
                 {"href": f"{base}/log", "rel": "log", "type": "text/plain", "title": "the job's log"}]
        if job["status"] in ("successful", "failed"):
            links.append({"href": f"{base}/results?f=json", "rel": "http://www.opengis.net/def/rel/ogc/1.0/results",
                          "type": "application/json", "title": "results (or the cause of the failure)"})
        info["links"] = links
        return info

    def _job_or_404(self, job_id: str) -> dict[str, Any] | Any:
        if not JOB_ID_RE.match(job_id or ""):
            return None
        return self.manager.store.get_job(job_id)

    # ------------------------------------------------------------------ descriptions
    def fix_descriptions(self, resp: Any) -> Any:
        """pygeoapi 0.21 advertises ``sync-execute`` and ``value`` for every process: restore each
        description's own ``jobControlOptions`` and ``outputTransmission``."""
        if resp.status_code != 200 or not is_json(resp):
            return resp
        try:
            doc = json.loads(resp.get_data())
        except ValueError:
            return resp
        summaries = doc.get("processes") if isinstance(doc.get("processes"), list) else [doc]
        for summary in summaries:
            pid = summary.get("id") if isinstance(summary, dict) else None
            if pid in self.manager.processes:
                meta = self.manager.get_processor(pid).metadata
                for key in ("jobControlOptions", "outputTransmission"):
                    if key in meta:
                        summary[key] = meta[key]
        resp.set_data(json.dumps(doc, indent=2))
        return resp

    # ------------------------------------------------------------------ conformance
    def conformance(self, fallback: Callable[..., Any]) -> Any:
        if self.wants_html():
            return fallback()
        return self.json({"conformsTo": CONFORMANCE})

    # ------------------------------------------------------------------ execute
    def execute(self, process_id: str) -> Any:
        from flask import request

        mgr = self.manager
        if process_id not in mgr.processes:
            return error(404, "NoSuchProcess", f"no such process: {process_id[:128]}")
        raw = request.get_data(cache=True) or b"{}"
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return error(400, "InvalidParameterValue", "the request body is not a JSON object")
        try:
            processor, data, outputs, response = mgr.validate_request(process_id, body, self.ctx)
        except InvalidInputError as exc:
            return error(400, "InvalidParameterValue", str(exc.message))
        except ProcessorExecuteError as exc:
            return error(int(getattr(exc, "http_status_code", 400)), getattr(exc, "ogc_exception_code", "InvalidParameterValue"),
                         str(getattr(exc, "message", exc)))
        desc = processor.metadata
        jco = desc.get("jobControlOptions") or []
        prefer = request.headers.get("Prefer", "")
        want_async = "respond-async" in prefer
        if "async-execute" in jco and (want_async or "sync-execute" not in jco):
            job = mgr.submit(processor, data, outputs, response)
            headers = {"Location": f"{self.base_url}/jobs/{job['identifier']}"}
            if want_async:
                headers["Preference-Applied"] = "respond-async"
            return self.json(self.status_info(job), 201, headers)
        # synchronous (a process that offers sync-execute: echo)
        try:
            mime, payload = processor.execute(data, outputs)
        except ProcessorExecuteError as exc:
            return error(int(getattr(exc, "http_status_code", 500)), getattr(exc, "ogc_exception_code", "NoApplicableCode"),
                         str(getattr(exc, "message", exc)))
        values = payload_outputs(desc, payload)
        if outputs:
            values = {k: v for k, v in values.items() if k in outputs}
        if response == "document" or len(values) != 1:
            return self.json(values)
        value = next(iter(values.values()))
        if isinstance(value, str):
            from flask import Response

            return Response(value, mimetype="text/plain")
        return self.json(value)

    # ------------------------------------------------------------------ jobs
    @staticmethod
    def html_page(title: str, rows: list[dict[str, Any]]) -> Any:
        """A plain HTML table of statusInfo documents (every value escaped)."""
        from html import escape

        from flask import Response

        cols = ("jobID", "processID", "status", "progress", "message", "created", "started", "finished")
        head = "".join(f"<th>{c}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(
                f"<td><a href='{escape(str(r['links'][0]['href']).replace('f=json', 'f=html'))}'>{escape(str(r[c]))}</a></td>"
                if c == "jobID" else f"<td>{escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>"
            for r in rows)
        page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head><body>"
                f"<h1>{escape(title)}</h1><table border='1'><tr>{head}</tr>{body}</table></body></html>")
        return Response(page, mimetype="text/html")

    def jobs(self, fallback: Callable[..., Any]) -> Any:
        from flask import request

        html = self.wants_html()
        args = request.args
        try:
            limit = int(args.get("limit", DEFAULT_LIMIT))
            offset = int(args.get("offset", 0))
        except ValueError:
            return error(400, "InvalidParameterValue", "limit and offset must be integers")
        if limit < 1 or offset < 0:
            return error(400, "InvalidParameterValue", "limit must be at least 1 and offset at least 0")
        limit = min(limit, MAX_LIMIT)

        def multi(name: str) -> list[str]:
            return [v.strip() for raw in args.getlist(name) for v in raw.split(",") if v.strip()]

        status, pids, types = multi("status"), multi("processID"), multi("type")
        bad = [s for s in status if s not in STATUSES]
        if bad:
            return error(400, "InvalidParameterValue", f"status must be among {', '.join(STATUSES)}")
        if any(t != "process" for t in types):
            return error(400, "InvalidParameterValue", "type must be 'process'")
        lo = hi = None
        if args.get("datetime"):
            try:
                lo, hi = parse_datetime_filter(args["datetime"])
            except (ValueError, OverflowError):
                return error(400, "InvalidParameterValue", "datetime must be an RFC 3339 instant or interval (a/b, ../b, a/..)")
        jobs, n = self.manager.store.list_jobs(status=status or None, process_ids=pids or None, types=types or None,
                                               created_min=lo, created_max=hi, limit=limit, offset=offset)
        keep = {k: v for k, v in args.items(multi=True) if k not in ("offset", "f")}
        from urllib.parse import urlencode

        def page(off: int) -> str:
            items = [(k, v) for k, v in keep.items()] + [("offset", str(off)), ("f", "json")]
            return f"{self.base_url}/jobs?{urlencode(items)}"

        links = [{"href": page(offset), "rel": "self", "type": "application/json", "title": "this page"}]
        if offset + limit < n:
            links.append({"href": page(offset + limit), "rel": "next", "type": "application/json", "title": "next page"})
        if offset > 0:
            links.append({"href": page(max(0, offset - limit)), "rel": "prev", "type": "application/json",
                          "title": "previous page"})
        infos = [self.status_info(j) for j in jobs]
        if html:
            return self.html_page(f"Jobs {offset + 1}-{offset + len(jobs)} of {n}", infos)
        return self.json({"jobs": infos, "links": links, "numberMatched": n, "numberReturned": len(jobs)})

    def job(self, job_id: str, fallback: Callable[..., Any]) -> Any:
        from flask import request

        job = self._job_or_404(job_id)
        if job is None:
            return error(404, "NoSuchJob", f"no such job: {job_id[:128]}")
        if request.method == "DELETE":
            try:
                self.manager.delete_job(job_id)
            except JobNotFoundError:
                return error(404, "NoSuchJob", f"no such job: {job_id[:128]}")
            info = self.status_info({**job, "status": "dismissed", "message": "dismissed: the job was stopped and removed"})
            info["links"] = [ln for ln in info["links"] if ln["rel"] not in ("log", "alternate", "self")
                             and "results" not in ln["rel"]]
            return self.json(info)
        if self.wants_html():
            return self.html_page(f"Job {job_id}", [self.status_info(job)])
        return self.json(self.status_info(job))

    def results(self, job_id: str) -> Any:
        if self._job_or_404(job_id) is None:
            return error(404, "NoSuchJob", f"no such job: {job_id[:128]}")
        try:
            mime, doc = self.manager.get_job_result(job_id)
        except JobNotFoundError:
            return error(404, "NoSuchJob", f"no such job: {job_id[:128]}")
        except JobResultNotFoundError:
            return error(404, "ResultNotReady", f"job {job_id} has no results yet")
        except JobFailed as exc:
            return error(500, "JobFailed", str(exc))
        return self.json(doc)

    def log(self, job_id: str) -> Any:
        from flask import Response

        job = self._job_or_404(job_id)
        if job is None:
            return error(404, "NoSuchJob", f"no such job: {job_id[:128]}")
        job_dir = self.manager.jobs_dir / job_id
        parts = [f"job {job_id} ({job.get('process_id')}): {job['status']}: {job.get('message') or ''}\n"]
        for name, title in (("worker.log", "worker"), ("job.log", "CWL runner")):
            p = job_dir / name
            try:
                size = p.stat().st_size
                with open(p, "rb") as fh:
                    if size > LOG_TAIL_BYTES:
                        fh.seek(size - LOG_TAIL_BYTES)
                    text = fh.read().decode("utf-8", errors="replace")
            except OSError:
                continue
            parts.append(f"\n===== {title} log ({name}) =====\n{text}")
        return Response("".join(parts), mimetype="text/plain")

    def package(self, process_id: str) -> Any:
        from flask import Response

        if process_id not in self.manager.processes:
            return error(404, "NoSuchProcess", f"no such process: {process_id[:128]}")
        processor = self.manager.get_processor(process_id)
        pkg = getattr(processor, "app_package", "")
        if not pkg:
            return error(404, "NotFound", f"process {process_id} has no CWL application package (it runs in the server)")
        path = Path(self.manager.app_package_dir) / pkg.split("#", 1)[0]
        return Response(path.read_text(), mimetype="application/cwl+yaml")


def is_json(resp: Any) -> bool:
    """True for a JSON response (pygeoapi replaces the headers wholesale, so ``mimetype`` may be unset)."""
    ctype = str(resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    return ctype in ("application/json", "application/problem+json") or ctype.endswith("+json")


def payload_outputs(desc: dict[str, Any], payload: Any) -> dict[str, Any]:
    """A processor's sync payload as ``{output id: value}``."""
    if isinstance(payload, dict) and "id" in payload and "value" in payload and payload["id"] in desc.get("outputs", {}):
        return {payload["id"]: payload["value"]}
    if isinstance(payload, dict) and set(payload) <= set(desc.get("outputs", {})):
        return payload
    only = next(iter(desc.get("outputs", {})), "result")
    return {only: payload}


# ---------------------------------------------------------------------- wiring
def register(app: Any, manager: SnapstampsManager, settings: dict[str, Any], base_url: str) -> ServiceAPI:
    """Install the routes, guards and error handlers of this module on pygeoapi's Flask ``app``."""
    from flask import request
    from werkzeug.exceptions import HTTPException

    api = ServiceAPI(manager, settings, base_url)
    app.config["MAX_CONTENT_LENGTH"] = api.max_body
    views = app.view_functions
    orig = {name: views.get(f"pygeoapi.{name}") for name in ("get_jobs", "conformance")}

    def conformance() -> Any:
        return api.conformance(orig["conformance"])

    def get_jobs(job_id: str | None = None) -> Any:
        if job_id is None:
            return api.jobs(lambda: orig["get_jobs"]())
        return api.job(job_id, lambda jid: orig["get_jobs"](jid))

    orig["get_processes"] = views.get("pygeoapi.get_processes")

    def get_processes(process_id: str | None = None) -> Any:
        resp = orig["get_processes"](process_id) if process_id is not None else orig["get_processes"]()
        return api.fix_descriptions(resp)

    views["pygeoapi.get_processes"] = get_processes
    views["pygeoapi.conformance"] = conformance
    views["pygeoapi.get_jobs"] = get_jobs
    views["pygeoapi.execute_process_jobs"] = api.execute
    views["pygeoapi.get_job_result"] = api.results
    app.add_url_rule("/jobs/<job_id>/log", "snapstamps_job_log", api.log, methods=["GET"])
    app.add_url_rule("/processes/<process_id>/package", "snapstamps_package", api.package, methods=["GET"])

    @app.before_request
    def _guards() -> Any:
        if request.method == "OPTIONS" and api.cors_origins:
            return app.make_default_options_response()
        f = request.args.get("f")
        if f is not None and f.lower() not in ("json", "html", "jsonld"):
            return error(400, "InvalidParameterValue", "f must be json, html or jsonld")
        if api.api_token and request.method in ("POST", "PUT", "PATCH", "DELETE"):
            import hmac

            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api.api_token}".encode()):
                return error(401, "Unauthorized", "this service needs 'Authorization: Bearer <token>' for POST and DELETE",
                             {"WWW-Authenticate": "Bearer"})
        if request.method == "POST":
            length = request.content_length
            if length is not None and length > api.max_body:
                return error(413, "PayloadTooLarge", f"the request body is larger than {api.max_body} bytes")
            raw = request.get_data(cache=True)  # bounded by MAX_CONTENT_LENGTH (413)
            if raw:
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    return error(400, "InvalidParameterValue", "the request body is not UTF-8 text")
                if not json_depth_ok(text, api.max_depth):
                    return error(400, "InvalidParameterValue", f"the request body nests deeper than {api.max_depth} levels")
        return None

    @app.after_request
    def _after(resp: Any) -> Any:
        if resp.status_code >= 400 and is_json(resp):
            try:
                body = json.loads(resp.get_data())
            except ValueError:
                body = None
            if isinstance(body, dict) and not str(body.get("type", "")).startswith("http"):
                code = str(body.get("code") or body.get("type") or "NoApplicableCode")
                detail = str(body.get("description") or body.get("detail") or "")
                body.update({"type": exception_type(code), "code": code, "status": resp.status_code, "detail": detail})
                resp.set_data(json.dumps(body))
        if api.cors_origins:
            origin = request.headers.get("Origin")
            if origin and ("*" in api.cors_origins or origin in api.cors_origins):
                resp.headers["Access-Control-Allow-Origin"] = "*" if "*" in api.cors_origins else origin
                resp.headers["Access-Control-Allow-Methods"] = "GET, HEAD, POST, DELETE, OPTIONS"
                resp.headers["Access-Control-Allow-Headers"] = "Content-Type, Prefer, Authorization"
                resp.headers["Access-Control-Expose-Headers"] = "Location, Preference-Applied"
                resp.headers["Vary"] = "Origin"
        return resp

    def on_http(exc: HTTPException) -> Any:
        code = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge", 400: "InvalidParameterValue"}.get(
            exc.code or 500, "NoApplicableCode")
        return error(exc.code or 500, code, exc.description or exc.name)

    def on_store(exc: StoreError) -> Any:
        if isinstance(exc, StoreUnavailable):
            return error(503, "ServiceUnavailable", f"{exc}; try again later", {"Retry-After": "30"})
        return error(500, "NoApplicableCode", "the job store refused the operation")

    def on_other(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return on_http(exc)
        if isinstance(exc, StoreError):
            return on_store(exc)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            what = "the server's disk is full" if exc.errno != errno.EROFS else "the server's disk is read-only"
            return error(503, "ServiceUnavailable", f"{what}; try again later", {"Retry-After": "60"})
        if isinstance(exc, RecursionError):
            return error(400, "InvalidParameterValue", "the request is nested too deeply")
        LOG.error("unhandled %s on %s %s: %s", type(exc).__name__, request.method, request.path[:200], str(exc)[:300])
        return error(500, "NoApplicableCode", "internal error (logged on the server)")

    app.register_error_handler(HTTPException, on_http)
    app.register_error_handler(Exception, on_other)
    return api
