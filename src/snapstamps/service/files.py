"""Read-only HTTP access to each job's published results: catalog files, report and web viewer.

:func:`register_routes` adds to pygeoapi's Flask application::

    GET /jobs/<job id>/files/               the job's catalog.json
    GET /jobs/<job id>/files/<path>         any file of the published catalog (items, products, report.html)
    GET /jobs/<job id>/viewer/              the web viewer (viewer/index.html of the catalog)
    GET /jobs/<job id>/viewer/<path>        its scripts and data

Files are served from ``catalogs_dir/<job id>/`` only: the job id must look like one, the path
is joined with :func:`werkzeug.security.safe_join` (no ``..``, no absolute paths) and the
resolved file must still lie inside the job's catalog (no symlink escapes); anything else is a
404.  Only GET and HEAD are routed.  The root ``catalog.json`` is served with a ``self`` link and
absolute ``http`` hrefs for its report and viewer links, so a client that fetched it has working
links; the file on disk keeps its relative hrefs.
"""

from __future__ import annotations

import json
import mimetypes
import re
from pathlib import Path
from typing import Any

JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MEDIA = {".js": "text/javascript", ".json": "application/json", ".xy": "text/plain", ".parquet": "application/vnd.apache.parquet",
         ".tif": "image/tiff; application=geotiff", ".csv": "text/csv", ".html": "text/html"}


def _not_found(what: str) -> Any:
    from flask import jsonify

    resp = jsonify({"type": "NotFound", "code": "NotFound", "description": what})
    resp.status_code = 404
    return resp


def job_file(catalogs_dir: Path, job_id: str, path: str) -> Path | None:
    """The file ``path`` of job ``job_id``'s published catalog, or None (unsafe or absent)."""
    from werkzeug.security import safe_join

    if not JOB_ID_RE.match(job_id) or job_id in (".", ".."):
        return None
    try:  # NUL bytes, names over 255 bytes...: no such file
        base = (Path(catalogs_dir) / job_id).resolve()
        if not base.is_dir():
            return None
        joined = safe_join(str(base), path) if path else str(base / "catalog.json")
        if joined is None:
            return None
        target = Path(joined).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(base) or not target.is_file():
            return None
    except (OSError, ValueError):
        return None
    return target


def register_routes(app: Any, catalogs_dir: str | Path, public_url: str | None = None) -> None:
    """Add the read-only ``/jobs/<id>/files/...`` and ``/jobs/<id>/viewer/...`` routes to ``app``."""
    from flask import Response, redirect, request, send_file

    catalogs = Path(catalogs_dir)

    def base_url() -> str:
        return (public_url or request.host_url).rstrip("/")

    def send(job_id: str, path: str) -> Any:
        target = job_file(catalogs, job_id, path)
        if target is None:
            return _not_found(f"no such file of job {job_id}: {path}")
        if target == (catalogs / job_id).resolve() / "catalog.json":
            doc = json.loads(target.read_text())
            root = f"{base_url()}/jobs/{job_id}"
            links = [ln for ln in doc.get("links", []) if ln.get("rel") != "self"]
            for ln in links:
                href = str(ln.get("href", ""))
                if ln.get("rel") in ("preview", "describedby") and "://" not in href:
                    rel = href.removeprefix("./")
                    ln["href"] = f"{root}/viewer/{rel.removeprefix('viewer/')}" if rel.startswith("viewer/") \
                        else f"{root}/files/{rel}"
            links.insert(0, {"rel": "self", "href": f"{root}/files/catalog.json", "type": "application/json"})
            doc["links"] = links
            resp = Response(json.dumps(doc, indent=2), mimetype="application/json")
        else:
            media = MEDIA.get(target.suffix.lower()) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            resp = send_file(target, mimetype=media, conditional=True, max_age=60)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

    def files(job_id: str, path: str = "") -> Any:
        return send(job_id, path)

    def viewer(job_id: str, path: str = "") -> Any:
        if not path and not request.path.endswith("/"):
            return redirect(f"{request.path}/", code=308)  # relative URLs in index.html need the slash
        return send(job_id, "viewer/" + (path or "index.html"))

    methods = ["GET", "HEAD"]
    app.add_url_rule("/jobs/<job_id>/files", "snapstamps_files_root", files, methods=methods, strict_slashes=False)
    app.add_url_rule("/jobs/<job_id>/files/<path:path>", "snapstamps_files", files, methods=methods)
    app.add_url_rule("/jobs/<job_id>/viewer", "snapstamps_viewer_root", viewer, methods=methods, strict_slashes=False)
    app.add_url_rule("/jobs/<job_id>/viewer/<path:path>", "snapstamps_viewer", viewer, methods=methods)
