"""WSGI application of the service: pygeoapi's Flask app plus the job file and viewer routes.

Needs ``PYGEOAPI_CONFIG`` and ``PYGEOAPI_OPENAPI`` (written by :func:`.server.prepare`, which
``snapstamps serve`` calls), e.g. ``gunicorn snapstamps.service.wsgi:application``.
"""

from __future__ import annotations

from pygeoapi.flask_app import APP, CONFIG

from .files import register_request_guards, register_routes

_manager = CONFIG["server"]["manager"]
if "snapstamps_files" not in APP.view_functions:
    register_routes(APP, _manager["catalogs_dir"], _manager.get("public_url"))
    register_request_guards(APP)

application = APP
