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
to ``prefix/<job id>/``; default ``$SNAPSTAMPS_STAGE_OUT``, unset = no stage-out).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "processes" / "pygeoapi-config.yml"


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
    for key in ("connection", "output_dir", "jobs_dir", "catalogs_dir", "app_package_dir"):
        if mgr.get(key) and not Path(mgr[key]).is_absolute():
            mgr[key] = str((base / mgr[key]).resolve())
    for res in cfg.get("resources", {}).values():
        proc = res.get("processor", {}) if res.get("type") == "process" else {}
        if proc.get("description") and not Path(proc["description"]).is_absolute():
            proc["description"] = str((base / proc["description"]).resolve())
    mgr.setdefault("catalogs_dir", str(Path(mgr["connection"]).parent / "catalogs"))
    mgr["public_url"] = str(cfg["server"]["url"]).rstrip("/")
    if not mgr.get("stage_out") and os.environ.get("SNAPSTAMPS_STAGE_OUT"):
        mgr["stage_out"] = os.environ["SNAPSTAMPS_STAGE_OUT"]
    if mgr.get("stage_out") and not str(mgr["stage_out"]).startswith("s3://"):
        raise ValueError(f"server.manager.stage_out: {mgr['stage_out']}: expected s3://bucket/prefix")
    cfg["server"]["bind"]["port"] = int(cfg["server"]["bind"]["port"])
    cfg_path = data_dir / "pygeoapi-config.yml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    oas_path = data_dir / "openapi.yml"
    oas = get_oas(cfg)
    oas.setdefault("paths", {}).update(files_openapi_paths())
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


def serve(host: str = "127.0.0.1", port: int = 5000, config: Path | None = None,
          data_dir: Path | None = None) -> None:
    """Prepare the configuration and serve until interrupted."""
    prepare(host, port, config, data_dir)
    from werkzeug.serving import run_simple

    from .wsgi import application as APP

    print(f"snapstamps service on http://{host}:{port} (config {os.environ['PYGEOAPI_CONFIG']})", flush=True)
    run_simple(host, port, APP, threaded=True, use_reloader=False, use_debugger=False)
