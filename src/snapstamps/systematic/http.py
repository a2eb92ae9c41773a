"""Subscriptions over HTTP: JSON routes for the service's Flask app, their OpenAPI paths, the scheduler.

Routes (installed by :func:`register` on the service's Flask app, next to its job routes)::

    GET    /subscriptions                  the subscriptions and their state
    POST   /subscriptions                  create one (body: the subscription JSON)  -> 201, Location
    GET    /subscriptions/{name}           its state: dates (done, failed with error and retry time), versions, last ticks
    DELETE /subscriptions/{name}           delete it and its records (published results stay)    -> 204
    POST   /subscriptions/{name}/pause     no more scheduled ticks
    POST   /subscriptions/{name}/resume    scheduled ticks again
    POST   /subscriptions/{name}/tick      ask for a tick as soon as possible (the scheduler runs it) -> 202

:class:`SubscriptionAPI` holds the handlers as plain functions returning ``(status, document,
headers)``, so they are tested without a server; errors are JSON in the service's exception shape
(``type``, ``code``, ``status``, ``detail``; one line).  :func:`openapi_paths` documents the routes
for the service's OpenAPI document.  :class:`Scheduler` claims the due subscriptions
(:meth:`SubscriptionStore.claim_due`: each one once, whatever the number of schedulers) and hands
each to ``submit(name)``.

:func:`install` wires all this into ``snapstamps serve`` (called by :mod:`snapstamps.service.wsgi`):
the routes behind the service's guards (token, body limits, CORS, JSON errors), specs confined to
the data roots and the fetch policy, and a scheduler whose ``submit`` queues a ``systematic-tick``
job (:class:`TickProcessor`, run in a worker process like every job, bounded by ``max_jobs``).
The subscription tables live in the service's store (SQLite file or PostgreSQL), next to the jobs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from ..errors import SnapstampsError
from .model import NAME_RE, Subscription, SubscriptionError, load_subscription
from .store import LockHeld, SubscriptionStore

__all__ = ["TICK_PROCESS_ID", "Scheduler", "SubscriptionAPI", "TickProcessor", "install", "openapi_paths", "register", "tick_command"]

log = logging.getLogger("snapstamps.systematic")

_EXC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
Reply = tuple[int, Any, dict[str, str]]


def _error(status: int, code: str, detail: str) -> Reply:
    """An error in the service's shape (RFC 7807 fields, OGC exception type URI, ``code``, one-line ``detail``)."""
    from http import HTTPStatus

    kebab = re.sub(r"(?<!^)(?=[A-Z])", "-", code).lower()
    detail = " ".join(str(detail).split())
    return status, {"type": f"{_EXC}{kebab}", "title": HTTPStatus(status).phrase, "status": status,
                    "detail": detail, "code": code, "description": detail}, {}


def tick_command(data_dir: Path | str, name: str) -> list[str]:
    """The command a queued tick job runs."""
    return ["snapstamps", "-q", "systematic", "tick", name, "--data-dir", str(data_dir)]


class SubscriptionAPI:
    """Handlers of the subscription routes over one data folder.

    Over HTTP a spec may only name server paths (``dem``, ``orbits``, a local ``destination``)
    under ``roots`` (default: the data folder): a client cannot make the service read or write
    elsewhere.  The STAC API URL is not restricted here; the service's fetch policy applies to it.
    """

    def __init__(self, data_dir: Path | str, base_url: str = "", roots: list[Path | str] | None = None,
                 check_url: Callable[[str], None] | None = None, on_tick: Callable[[], None] | None = None,
                 connection: str | None = None) -> None:
        self.store = SubscriptionStore(data_dir, connection=connection, lazy=True)
        self.base_url = base_url.rstrip("/")
        self.roots = [Path(r).resolve() for r in (roots or [data_dir])]
        self.check_url = check_url
        self.on_tick = on_tick

    def _outside_roots(self, sub: Subscription) -> str | None:
        tropo = str((sub.psi_params or {}).get("tropo_delay_dir") or "") or None
        for field, value in (("dem", None if sub.dem.strip().lower() == "auto" else sub.dem), ("orbits", sub.orbits),
                             ("destination", None if (sub.destination or "s3://").startswith("s3://") else sub.destination),
                             ("psi_params.tropo_delay_dir", tropo)):
            if value is None:
                continue
            if "://" in value:
                return f"subscription: {field}: give a folder or file on the server (an absolute path), not a URL"
            p = Path(value)
            if not p.is_absolute():
                return f"subscription: {field}: an absolute path on the server is needed"
            real = p.resolve()
            if not any(real == r or r in real.parents for r in self.roots):
                return f"subscription: {field}: {value} is outside the folders this service may use"
        return None

    def _url(self, name: str) -> str:
        return f"{self.base_url}/subscriptions/{name}"

    def _summary(self, name: str) -> dict[str, Any]:
        r = self.store.row(name)
        dates = self.store.dates(name)
        versions = self.store.versions(name)
        return {"name": name, "status": r["status"], "reference_date": r["reference_date"],
                "dates": len(dates), "failed_dates": sum(d["status"] in ("failed", "given_up") for d in dates),
                "latest_version": versions[-1]["version"] if versions else None,
                "next_tick": r["next_tick"], "last_error": r["last_error"],
                "links": [{"rel": "self", "href": self._url(name), "type": "application/json"}]}

    def _known(self, name: str) -> Reply | None:
        if not NAME_RE.match(name or "") or name not in self.store.names():
            return _error(404, "NotFound", f"no subscription named {name!r}")
        return None

    def list(self) -> Reply:
        return 200, {"subscriptions": [self._summary(n) for n in self.store.names()],
                     "links": [{"rel": "self", "href": f"{self.base_url}/subscriptions", "type": "application/json"}]}, {}

    def create(self, body: bytes | str) -> Reply:
        if isinstance(body, bytes):
            try:
                body = body.decode("utf-8")
            except UnicodeDecodeError:
                return _error(400, "InvalidParameterValue", "the request body is not UTF-8 text")
        try:
            sub: Subscription = load_subscription(body or "")
            outside = self._outside_roots(sub)
            if outside:
                return _error(400, "InvalidParameterValue", outside)
            if self.check_url is not None:
                try:
                    self.check_url(sub.stac_api)
                except OSError as exc:  # the service's FetchRefused
                    return _error(400, "InvalidParameterValue", f"subscription: stac_api: {exc}")
            self.store.add(sub)
        except SubscriptionError as exc:
            status = 409 if "exists" in str(exc) else 400
            return _error(status, "InvalidParameterValue" if status == 400 else "Conflict", str(exc))
        doc = self._summary(sub.name) | {"spec": sub.model_dump(mode="json")}
        return 201, doc, {"Location": self._url(sub.name)}

    def get(self, name: str) -> Reply:
        return self._known(name) or (200, self.store.describe(name)
                                     | {"links": [{"rel": "self", "href": self._url(name), "type": "application/json"}]}, {})

    def delete(self, name: str) -> Reply:
        missing = self._known(name)
        if missing:
            return missing
        try:
            self.store.remove(name)
        except LockHeld as exc:
            return _error(409, "Conflict", str(exc))
        return 204, None, {}

    def set_status(self, name: str, status: str) -> Reply:
        missing = self._known(name)
        if missing:
            return missing
        self.store.set_status(name, status)
        return 200, self._summary(name), {}

    def request_tick(self, name: str) -> Reply:
        missing = self._known(name)
        if missing:
            return missing
        if self.store.row(name)["status"] != "active":
            return _error(409, "Conflict", f"subscription {name!r} is paused (resume it first)")
        self.store.request_tick(name)
        if self.on_tick is not None:
            self.on_tick()
        return 202, self._summary(name), {}


def register(app: Any, data_dir: Path | str, base_url: str = "", roots: list[Path | str] | None = None,
             check_url: Callable[[str], None] | None = None, on_tick: Callable[[], None] | None = None,
             connection: str | None = None) -> SubscriptionAPI:
    """Install the subscription routes on a Flask ``app``; returns the handlers (arguments: see :class:`SubscriptionAPI`)."""
    from flask import Response, request

    api = SubscriptionAPI(data_dir, base_url, roots, check_url, on_tick, connection)

    def reply(r: Reply) -> Any:
        status, doc, headers = r
        resp = Response("" if doc is None else json.dumps(doc, indent=2, default=str), status=status,
                        mimetype=None if doc is None else "application/json")
        for k, v in headers.items():
            resp.headers[k] = v
        return resp

    def db_errors(view: Callable[..., Any]) -> Callable[..., Any]:
        """A database that cannot be reached or written (disk full, server down) is 503, as for jobs."""
        def wrapped(**kw: Any) -> Any:
            import sqlite3

            try:
                return view(**kw)
            except Exception as exc:  # noqa: BLE001 - only database errors are answered here
                if not (isinstance(exc, sqlite3.Error) or type(exc).__module__.startswith("psycopg")):
                    raise
                log.error("subscriptions: store unavailable: %s", str(exc).splitlines()[0][:200] if str(exc) else exc)
                r = reply(_error(503, "ServiceUnavailable", "the subscription store is unavailable; try again later"))
                r.headers["Retry-After"] = "30"
                return r
        return wrapped

    def collection() -> Any:
        if request.method == "POST":
            return reply(api.create(request.get_data(cache=True)))
        return reply(api.list())

    def one(name: str) -> Any:
        return reply(api.delete(name) if request.method == "DELETE" else api.get(name))

    def pause(name: str) -> Any:
        return reply(api.set_status(name, "paused"))

    def resume(name: str) -> Any:
        return reply(api.set_status(name, "active"))

    def tick_now(name: str) -> Any:
        return reply(api.request_tick(name))

    for rule, endpoint, view, methods in [
            ("/subscriptions", "snapstamps_subscriptions", collection, ["GET", "POST"]),
            ("/subscriptions/<name>", "snapstamps_subscription", one, ["GET", "DELETE"]),
            ("/subscriptions/<name>/pause", "snapstamps_subscription_pause", pause, ["POST"]),
            ("/subscriptions/<name>/resume", "snapstamps_subscription_resume", resume, ["POST"]),
            ("/subscriptions/<name>/tick", "snapstamps_subscription_tick", tick_now, ["POST"])]:
        app.add_url_rule(rule, endpoint, db_errors(view), methods=methods)
    return api


def openapi_paths() -> dict[str, Any]:
    """OpenAPI 3.0 paths (and the ``Subscription`` schema under ``x-components``) of the routes."""
    name = {"name": "name", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": NAME_RE.pattern}, "description": "subscription name"}
    err = {"description": "one-line error (type, code, status, detail)", "content": {"application/json": {
        "schema": {"type": "object", "properties": {"type": {"type": "string"}, "code": {"type": "string"},
                                                    "status": {"type": "integer"}, "detail": {"type": "string"}}}}}}
    state = {"description": "the subscription's state", "content": {"application/json": {"schema": {"type": "object"}}}}
    schema = _openapi_schema()
    tag = ["subscriptions"]
    return {
        "/subscriptions": {
            "get": {"summary": "The subscriptions (systematic processing) and their state", "tags": tag,
                    "operationId": "getSubscriptions", "responses": {"200": state}},
            "post": {"summary": "Create a subscription: an AOI and a track kept up to date as acquisitions arrive",
                     "tags": tag, "operationId": "createSubscription",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
                     "responses": {"201": {**state, "headers": {"Location": {"schema": {"type": "string"}}}},
                                   "400": err, "409": err}},
        },
        "/subscriptions/{name}": {
            "get": {"summary": "A subscription: dates (done, failed with error and retry time), versions, last ticks",
                    "tags": tag, "operationId": "getSubscription", "parameters": [name],
                    "responses": {"200": state, "404": err}},
            "delete": {"summary": "Delete a subscription and its records (published results stay)", "tags": tag,
                       "operationId": "deleteSubscription", "parameters": [name],
                       "responses": {"204": {"description": "deleted"}, "404": err, "409": err}},
        },
        "/subscriptions/{name}/pause": {"post": {
            "summary": "Pause the scheduled ticks", "tags": tag, "operationId": "pauseSubscription",
            "parameters": [name], "responses": {"200": state, "404": err}}},
        "/subscriptions/{name}/resume": {"post": {
            "summary": "Resume the scheduled ticks", "tags": tag, "operationId": "resumeSubscription",
            "parameters": [name], "responses": {"200": state, "404": err}}},
        "/subscriptions/{name}/tick": {"post": {
            "summary": "Ask for a tick as soon as possible (run as a job by the scheduler)", "tags": tag,
            "operationId": "tickSubscription", "parameters": [name],
            "responses": {"202": state, "404": err, "409": err}}},
    }


def _openapi_schema() -> dict[str, Any]:
    """The subscription's JSON schema in OpenAPI 3.0 form (``$defs`` inlined, ``null`` as ``nullable``)."""
    schema = Subscription.model_json_schema()
    defs = schema.pop("$defs", {})

    def fix(node: Any) -> Any:
        if isinstance(node, list):
            return [fix(x) for x in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return fix(defs[node["$ref"].rsplit("/", 1)[1]])
        node = {k: fix(v) for k, v in node.items() if k not in ("title",)}
        if "anyOf" in node:
            opts = [o for o in node["anyOf"] if o.get("type") != "null"]
            if len(opts) < len(node["anyOf"]):
                node["nullable"] = True
                node["anyOf"] = opts
                if len(opts) == 1:
                    node.update(opts[0])
                    del node["anyOf"]
        if node.get("type") == "null":
            return {"nullable": True}
        if "const" in node:
            node["enum"] = [node.pop("const")]
        if node.get("default") is None and "default" in node:
            del node["default"]
        return node

    out = fix(schema)
    out["additionalProperties"] = False
    return out


class Scheduler:
    """Every ``period_s`` (or at once after :meth:`wake`), hands each due subscription to ``submit(name)``.

    ``submit`` is the service's job queue.  ``claim_due`` moves a claimed subscription's next tick
    one interval ahead in the same transaction, so a subscription is submitted once per interval
    even with several schedulers; a failure to submit is logged and retried at the next period.
    """

    def __init__(self, data_dir: Path | str, submit: Callable[[str], None], period_s: float = 60.0,
                 connection: str | None = None) -> None:
        self.store = SubscriptionStore(data_dir, connection=connection, lazy=True)
        self.submit, self.period_s = submit, float(period_s)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="subscription-scheduler")

    def run_once(self) -> list[str]:
        names = self.store.claim_due()
        for n in names:
            try:
                self.submit(n)
            except Exception as exc:  # noqa: BLE001 - the queue refused: try again at the next period
                log.error("subscription %s: tick not submitted (%s)", n, exc)
                self.store.request_tick(n)
        return names

    def wake(self) -> None:
        """Look for due subscriptions now (a tick was asked for)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.period_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.run_once()
            except SnapstampsError as exc:
                log.error("subscription scheduler: %s", exc)
            except Exception as exc:  # noqa: BLE001 - a busy database: next period
                log.error("subscription scheduler: %s: %s", type(exc).__name__, exc)

    def start(self) -> "Scheduler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)


# ---------------------------------------------------------------------- the service's side
#: processID of the jobs that run ticks (``GET /jobs?processID=systematic-tick``)
TICK_PROCESS_ID = "systematic-tick"


def tick_process_metadata() -> dict[str, Any]:
    """Description of the tick jobs (not listed under /processes: ticks are asked for through /subscriptions)."""
    return {"id": TICK_PROCESS_ID, "version": "1.0.0", "title": "Tick of a subscription",
            "description": "Makes a subscription's stack and psi results current with its catalog (systematic processing).",
            "jobControlOptions": ["async-execute"], "outputTransmission": ["value"],
            "inputs": {"subscription": {"title": "subscription name", "schema": {"type": "string"},
                                        "minOccurs": 1, "maxOccurs": 1}},
            "outputs": {"summary": {"title": "what the tick found, ran, failed and published",
                                    "schema": {"type": "object", "contentMediaType": "application/json"}}}}


class TickStopped(BaseException):
    """SIGTERM reached a tick job's worker (a BaseException, like KeyboardInterrupt: no step of the
    tick takes it for a failure of a date; the tick records itself stopped and ends)."""


class TickProcessor(BaseProcessor):
    """Runs one tick in a job's worker process (the service's queue bounds how many jobs run at once).

    ``processor_def``: ``data_dir`` (where the subscription's files live) and ``db`` (the service's
    store, which holds the subscription tables).  The STAC API URL is checked against the worker's
    fetch policy before the tick searches it.
    """

    runs_as_job = False

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, tick_process_metadata())
        self.processor_def = dict(processor_def)

    def execute(self, data: dict[str, Any], outputs: dict | None = None) -> tuple[str, Any]:
        """Tick subscription ``data['subscription']``; its summary is the job's result."""
        from ..service.fetch import current
        from .tick import tick

        name = str(data.get("subscription") or "")
        data_dir = self.processor_def["data_dir"]
        if self.processor_def.get("db"):
            os.environ["SNAPSTAMPS_DB"] = str(self.processor_def["db"])  # this worker's tick and its store
        main = threading.current_thread() is threading.main_thread()
        prev = signal.getsignal(signal.SIGTERM) if main else None

        def on_term(signum: int, frame: Any) -> None:
            # the job is dismissed or the service shuts down: stop now (every step of a tick is
            # atomic and idempotent), after the worker's own handler has marked the job stopped
            if callable(prev):
                prev(signum, frame)
            raise TickStopped("the tick was stopped (the service shut down or the job was dismissed); "
                              "the next tick resumes it")

        if main:
            signal.signal(signal.SIGTERM, on_term)
        try:
            policy = current()
            if policy is not None:
                policy.check_url(SubscriptionStore(data_dir).get(name).stac_api)  # refused: the job fails, saying why
            summary = tick(data_dir, name)
        except TickStopped as exc:
            raise ProcessorExecuteError(user_msg=str(exc)) from None
        except SnapstampsError as exc:
            raise ProcessorExecuteError(user_msg=f"subscription {name}: {exc}") from None
        finally:
            if main:
                signal.signal(signal.SIGTERM, prev if prev is not None else signal.SIG_DFL)
        return "application/json", {"id": "summary", "value": summary}


def install(app: Any, manager: Any, base_url: str, period_s: float = 60.0) -> tuple[SubscriptionAPI, Scheduler]:
    """Wire subscriptions into the service: routes on ``app``, ticks as jobs of ``manager``'s queue.

    The routes sit behind the service's guards (API token, body limits, CORS, JSON errors); specs
    may only name server paths under ``manager.data_roots`` and a STAC API the fetch policy
    allows.  The scheduler submits a ``systematic-tick`` job per due subscription unless one of
    that subscription is already queued or running (the subscription's lock is the last word:
    two ticks never run at once).  The subscription tables live in the service's store (its SQLite
    file or its PostgreSQL database), next to the jobs.
    """
    from ..service.store import ACTIVE

    data_dir = Path(manager.data_dir)
    processor = TickProcessor({"name": f"{__name__}.TickProcessor", "data_dir": str(data_dir), "db": manager.connection})

    def queued_or_running(name: str) -> bool:
        jobs, _ = manager.store.list_jobs(status=list(ACTIVE), process_ids=[TICK_PROCESS_ID], limit=10000)
        return any(((manager._spec(j["identifier"]) or {}).get("inputs") or {}).get("subscription") == name for j in jobs)

    def submit(name: str) -> None:
        if queued_or_running(name):
            log.info("subscription %s: a tick is already queued or running", name)
            return
        job = manager.submit(processor, {"subscription": name}, None, "document")
        log.info("subscription %s: tick queued as job %s", name, job["identifier"])

    scheduler = Scheduler(data_dir, submit, period_s, connection=manager.connection)
    api = register(app, data_dir, base_url, roots=list(manager.data_roots),
                   check_url=lambda url: manager.fetch_policy.check_url(url), on_tick=scheduler.wake,
                   connection=manager.connection)
    scheduler.start()
    scheduler.wake()  # subscriptions due while the service was down
    return api, scheduler
