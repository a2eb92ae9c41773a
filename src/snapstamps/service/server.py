"""``snapstamps serve``: pygeoapi 0.21 with the snapstamps processes, on Flask/Werkzeug.

:func:`prepare` renders the configuration (``processes/pygeoapi-config.yml`` by default: the
``${SNAPSTAMPS_*}`` variables filled in, relative paths made absolute) into the data directory,
writes the OpenAPI document next to it and sets ``PYGEOAPI_CONFIG`` / ``PYGEOAPI_OPENAPI``;
:func:`serve` then runs pygeoapi's Flask application with a threaded Werkzeug server (no debugger,
no reloader; pygeoapi's own ``serve`` command forces ``debug=True``), with the read-only routes of
:mod:`.files` (each job's catalog files, report and viewer) added.  For production, run
``gunicorn snapstamps.service.wsgi:application`` with the same two variables (one worker process
is enough: jobs run in their own processes).

Settings added to ``server.manager``: ``public_url`` (the server's ``url``, for the ``http`` hrefs
of job results) and ``stage_out`` (``s3://bucket/prefix``: every job's catalog is also uploaded
to ``prefix/<job id>/``; default ``$SNAPSTAMPS_STAGE_OUT``, unset = no stage-out) and ``runner``
(the CWL runner and its options, checked before the server starts: see
:func:`.manager.runner_config_from_settings`).  Environment
variables override the configuration: ``SNAPSTAMPS_DB`` (the job store: a PostgreSQL URL such as
``postgresql://user:pass@host/db``, or an SQLite file), ``SNAPSTAMPS_MAX_JOBS``,
``SNAPSTAMPS_DATA_ROOTS`` (folders local inputs may come from, ``:``-separated),
``SNAPSTAMPS_API_TOKEN``, ``SNAPSTAMPS_CORS_ORIGINS`` (comma-separated) and the
``SNAPSTAMPS_FETCH_*`` settings of :mod:`.fetch`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .resources import resource_dir

DEFAULT_CONFIG = resource_dir("processes") / "pygeoapi-config.yml"


def _render(text: str, values: dict[str, str]) -> str:
    for k, v in values.items():
        text = text.replace("${" + k + "}", v)
    return text


def prepare(host: str = "127.0.0.1", port: int = 5000, config: Path | None = None,
            data_dir: Path | None = None) -> tuple[Path, Path]:
    """Write the effective configuration and OpenAPI document; return their paths."""
    from pygeoapi.openapi import get_oas

    config = Path(config or DEFAULT_CONFIG).resolve()
    if not config.is_file():
        raise FileNotFoundError(f"{config}: no such pygeoapi configuration (give --config)")
    data_dir = Path(data_dir or os.environ.get("SNAPSTAMPS_DATA_DIR") or "snapstamps-service").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("SNAPSTAMPS_URL") or f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    text = _render(config.read_text(), {
        "SNAPSTAMPS_HOST": host, "SNAPSTAMPS_PORT": str(port), "SNAPSTAMPS_URL": url,
        "SNAPSTAMPS_DATA_DIR": str(data_dir),
    })
    cfg: dict[str, Any] = yaml.safe_load(text)
    base = config.parent
    mgr = cfg["server"]["manager"]
    if os.environ.get("SNAPSTAMPS_DB"):
        mgr["connection"] = os.environ["SNAPSTAMPS_DB"]
    mgr.setdefault("data_dir", str(data_dir))
    keys = ["output_dir", "jobs_dir", "catalogs_dir", "app_package_dir"]
    if mgr.get("connection") and "://" not in str(mgr["connection"]) and "=" not in str(mgr["connection"]):
        keys.append("connection")
    for key in keys:
        if mgr.get(key) and not Path(mgr[key]).is_absolute():
            mgr[key] = str((base / mgr[key]).resolve())
    for res in cfg.get("resources", {}).values():
        proc = res.get("processor", {}) if res.get("type") == "process" else {}
        if proc.get("description") and not Path(proc["description"]).is_absolute():
            proc["description"] = str((base / proc["description"]).resolve())
        if proc:
            proc["public_url"] = str(cfg["server"]["url"]).rstrip("/")
    mgr.setdefault("catalogs_dir", str(data_dir / "catalogs"))
    mgr["public_url"] = str(cfg["server"]["url"]).rstrip("/")
    if os.environ.get("SNAPSTAMPS_API_TOKEN"):
        mgr["api_token"] = os.environ["SNAPSTAMPS_API_TOKEN"]
    if os.environ.get("SNAPSTAMPS_CORS_ORIGINS"):
        mgr["cors_origins"] = [o.strip() for o in os.environ["SNAPSTAMPS_CORS_ORIGINS"].split(",") if o.strip()]
    if not mgr.get("stage_out") and os.environ.get("SNAPSTAMPS_STAGE_OUT"):
        mgr["stage_out"] = os.environ["SNAPSTAMPS_STAGE_OUT"]
    if mgr.get("stage_out") and not str(mgr["stage_out"]).startswith("s3://"):
        raise ValueError(f"server.manager.stage_out: {mgr['stage_out']}: expected s3://bucket/prefix")
    from .manager import runner_config_from_settings

    runner_config_from_settings(mgr)  # a wrong runner setting stops the start here, in one line
    cfg["server"]["bind"]["port"] = int(cfg["server"]["bind"]["port"])
    cfg_path = data_dir / "pygeoapi-config.yml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    oas_path = data_dir / "openapi.yml"
    oas = get_oas(cfg)
    oas.setdefault("paths", {}).update(files_openapi_paths())
    from ..systematic.http import openapi_paths as subscription_paths

    oas["paths"].update(subscription_paths())
    tags = oas.setdefault("tags", [])
    if not any(t.get("name") == "subscriptions" for t in tags):
        tags.append({"name": "subscriptions", "description": "Systematic processing: subscriptions whose stack and "
                                                              "psi results are kept current (ticks run as jobs)"})
    _tidy_openapi(oas)
    oas_path.write_text(yaml.safe_dump(oas, sort_keys=False))
    os.environ["PYGEOAPI_CONFIG"] = str(cfg_path)
    os.environ["PYGEOAPI_OPENAPI"] = str(oas_path)
    return cfg_path, oas_path


def files_openapi_paths() -> dict[str, Any]:
    """OpenAPI paths of the read-only job file and viewer routes (:mod:`.files`)."""
    params = [{"name": "jobId", "in": "path", "required": True, "schema": {"type": "string"}},
              {"name": "path", "in": "path", "required": True, "schema": {"type": "string"},
               "description": "file path inside the job's published catalog (or its viewer/ folder)"}]
    responses = {"200": {"description": "the file"}, "404": {"description": "no such job or file"}}
    return {
        "/jobs/{jobId}/files/{path}": {"get": {
            "summary": "A file of the job's published STAC catalog (catalog.json, items, products, report.html)",
            "tags": ["server"], "operationId": "getJobFile", "parameters": params, "responses": responses}},
        "/jobs/{jobId}/viewer/{path}": {"get": {
            "summary": "The job's web viewer (index.html) and its files",
            "tags": ["server"], "operationId": "getJobViewer", "parameters": params, "responses": responses}},
    }


def _tidy_openapi(oas: dict[str, Any]) -> None:
    """Make the OpenAPI document say what the routes of :mod:`.api` do (job-list parameters, log, package)."""
    ident = {"name": "jobId", "in": "path", "required": True, "schema": {"type": "string"}}
    jobs = oas.get("paths", {}).get("/jobs", {}).get("get")
    if jobs is not None:
        jobs["parameters"] = [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10}},
            {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
            {"name": "status", "in": "query", "schema": {"type": "array", "items": {
                "type": "string", "enum": ["accepted", "running", "successful", "failed", "dismissed"]}},
             "style": "form", "explode": False},
            {"name": "processID", "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
             "style": "form", "explode": False},
            {"name": "type", "in": "query", "schema": {"type": "array", "items": {"type": "string", "enum": ["process"]}},
             "style": "form", "explode": False},
            {"name": "datetime", "in": "query", "schema": {"type": "string"}},
            {"name": "f", "in": "query", "schema": {"type": "string", "enum": ["json", "html"]}},
        ]
    for path, item in oas.get("paths", {}).items():
        if path.startswith("/processes/") and path.endswith("/execution") and "post" in item:
            ok = item["post"].setdefault("responses", {}).setdefault("200", {"description": "the results"})
            # raw response of one string output (echo): the value itself, as text
            ok.setdefault("content", {"application/json": {}})["text/plain"] = {"schema": {"type": "string"}}
    oas["paths"]["/jobs/{jobId}/log"] = {"get": {
        "summary": "The job's log (worker and CWL runner), as text", "tags": ["server"], "operationId": "getJobLog",
        "parameters": [ident], "responses": {"200": {"description": "the log", "content": {"text/plain": {}}},
                                             "404": {"description": "no such job"}}}}
    oas["paths"]["/processes/{processId}/package"] = {"get": {
        "summary": "The process's CWL application package (its execution unit)", "tags": ["server"],
        "operationId": "getProcessPackage",
        "parameters": [{"name": "processId", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "the CWL document", "content": {"application/cwl+yaml": {}}},
                      "404": {"description": "no such process, or it has no package"}}}}


def serve(host: str = "127.0.0.1", port: int = 5000, config: Path | None = None,
          data_dir: Path | None = None) -> None:
    """Prepare the configuration and serve until interrupted (SIGINT or SIGTERM).

    On the way out the dispatcher stops and, with ``on_shutdown: requeue`` (the default), the
    running jobs' process groups are stopped and the jobs queued again for the next start.
    """
    import signal

    prepare(host, port, config, data_dir)
    from werkzeug.serving import run_simple

    from . import wsgi
    from .wsgi import application as APP
    from .wsgi import manager

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    print(f"snapstamps service on http://{host}:{port} (config {os.environ['PYGEOAPI_CONFIG']}, "
          f"store {manager.store.dialect}, at most {manager.max_jobs} jobs at once)", flush=True)
    try:
        run_simple(host, port, APP, threaded=True, use_reloader=False, use_debugger=False)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if wsgi.scheduler is not None:
            wsgi.scheduler.stop()
        n = manager.shutdown()
        print(f"snapstamps service stopped ({n} running job(s) queued again)", flush=True)
