"""WSGI application of the service: pygeoapi's Flask app, the routes of :mod:`.api` and :mod:`.files`.

Needs ``PYGEOAPI_CONFIG`` and ``PYGEOAPI_OPENAPI`` (written by :func:`.server.prepare`, which
``snapstamps serve`` calls), e.g. ``gunicorn snapstamps.service.wsgi:application``.  Importing it
starts the job dispatcher of this process (:meth:`.manager.SnapstampsManager.start`).
"""

from __future__ import annotations

from pygeoapi.flask_app import APP, CONFIG, api_

from .api import register
from .fetch import install
from .files import register_routes

_settings = CONFIG["server"]
_manager_def = _settings["manager"]
manager = api_.manager
if "snapstamps_files" not in APP.view_functions:
    register_routes(APP, manager.catalogs_dir, _manager_def.get("public_url"))
    register(APP, manager, _manager_def, str(_manager_def.get("public_url") or _settings["url"]))
    install(manager.fetch_policy)
    manager.start()

application = APP
