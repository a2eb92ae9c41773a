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
each to ``submit(name)``: the service's queue, which runs ``snapstamps systematic tick NAME
--data-dir DATA`` as a job.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import SnapstampsError
from .model import NAME_RE, Subscription, SubscriptionError, load_subscription
from .store import LockHeld, SubscriptionStore

__all__ = ["Scheduler", "SubscriptionAPI", "openapi_paths", "register", "tick_command"]

log = logging.getLogger("snapstamps.systematic")

_EXC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
Reply = tuple[int, Any, dict[str, str]]


def _error(status: int, code: str, detail: str) -> Reply:
    uri = {"NotFound": "http://www.opengis.net/def/exceptions/ogcapi-common-1/1.0/not-found"}.get(
        code, f"{_EXC}{code}")
    return status, {"type": uri, "code": code, "status": status, "title": code, "detail": detail,
                    "description": detail}, {}


def tick_command(data_dir: Path | str, name: str) -> list[str]:
    """The command a queued tick job runs."""
    return ["snapstamps", "-q", "systematic", "tick", name, "--data-dir", str(data_dir)]


class SubscriptionAPI:
    """Handlers of the subscription routes over one data folder.

    Over HTTP a spec may only name server paths (``dem``, ``orbits``, a local ``destination``)
    under ``roots`` (default: the data folder): a client cannot make the service read or write
    elsewhere.  The STAC API URL is not restricted here; the service's fetch policy applies to it.
    """

    def __init__(self, data_dir: Path | str, base_url: str = "", roots: list[Path | str] | None = None) -> None:
        self.store = SubscriptionStore(data_dir)
        self.base_url = base_url.rstrip("/")
        self.roots = [Path(r).resolve() for r in (roots or [data_dir])]

    def _outside_roots(self, sub: Subscription) -> str | None:
        for field, value in (("dem", None if sub.dem.strip().lower() == "auto" else sub.dem), ("orbits", sub.orbits),
                             ("destination", None if (sub.destination or "s3://").startswith("s3://") else sub.destination)):
            if value is None:
                continue
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
        return 202, self._summary(name), {}


def register(app: Any, data_dir: Path | str, base_url: str = "", roots: list[Path | str] | None = None) -> SubscriptionAPI:
    """Install the subscription routes on a Flask ``app``; returns the handlers (``roots``: see :class:`SubscriptionAPI`)."""
    from flask import Response, request

    api = SubscriptionAPI(data_dir, base_url, roots)

    def reply(r: Reply) -> Any:
        status, doc, headers = r
        resp = Response("" if doc is None else json.dumps(doc, indent=2, default=str), status=status,
                        mimetype=None if doc is None else "application/json")
        for k, v in headers.items():
            resp.headers[k] = v
        return resp

    def collection() -> Any:
        if request.method == "POST":
            return reply(api.create(request.get_data(cache=True)))
        return reply(api.list())

    def one(name: str) -> Any:
        return reply(api.delete(name) if request.method == "DELETE" else api.get(name))

    app.add_url_rule("/subscriptions", "snapstamps_subscriptions", collection, methods=["GET", "POST"])
    app.add_url_rule("/subscriptions/<name>", "snapstamps_subscription", one, methods=["GET", "DELETE"])
    app.add_url_rule("/subscriptions/<name>/pause", "snapstamps_subscription_pause",
                     lambda name: reply(api.set_status(name, "paused")), methods=["POST"])
    app.add_url_rule("/subscriptions/<name>/resume", "snapstamps_subscription_resume",
                     lambda name: reply(api.set_status(name, "active")), methods=["POST"])
    app.add_url_rule("/subscriptions/<name>/tick", "snapstamps_subscription_tick",
                     lambda name: reply(api.request_tick(name)), methods=["POST"])
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
    """Every ``period_s``, hands each due subscription to ``submit(name)`` (the service's job queue).

    ``claim_due`` moves a claimed subscription's next tick one interval ahead in the same
    transaction, so a subscription is submitted once per interval even with several schedulers;
    a failure to submit is logged and retried at the next period.
    """

    def __init__(self, data_dir: Path | str, submit: Callable[[str], None], period_s: float = 60.0) -> None:
        self.store = SubscriptionStore(data_dir)
        self.submit, self.period_s = submit, float(period_s)
        self._stop = threading.Event()
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

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
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
        self._thread.join(10)
