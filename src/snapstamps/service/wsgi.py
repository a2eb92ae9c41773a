"""WSGI application of the service: pygeoapi's Flask app, the routes of :mod:`.api` and :mod:`.files`.

Needs ``PYGEOAPI_CONFIG`` and ``PYGEOAPI_OPENAPI`` (written by :func:`.server.prepare`, which
``snapstamps serve`` calls), e.g. ``gunicorn snapstamps.service.wsgi:application``.  Importing it
starts the job dispatcher of this process (:meth:`.manager.SnapstampsManager.start`) and the
subscriptions' scheduler (:func:`..systematic.http.install`: the ``/subscriptions`` routes, ticks
queued as ``systematic-tick`` jobs; ``server.manager.subscription_period_s`` or
``SNAPSTAMPS_SUBSCRIPTION_PERIOD_S``, default 60 s, is how often it looks for due subscriptions).
"""

from __future__ import annotations

import os
from typing import Any

from pygeoapi.flask_app import APP, CONFIG, api_

from ..systematic.http import install as install_subscriptions
from .api import register
from .fetch import install
from .files import register_routes

_settings = CONFIG["server"]
_manager_def = _settings["manager"]
manager = api_.manager
scheduler: Any = None
if "snapstamps_files" not in APP.view_functions:
    _base_url = str(_manager_def.get("public_url") or _settings["url"])
    register_routes(APP, manager.catalogs_dir, _manager_def.get("public_url"))
    register(APP, manager, _manager_def, _base_url)
    install(manager.fetch_policy)
    manager.start()
    _period = float(os.environ.get("SNAPSTAMPS_SUBSCRIPTION_PERIOD_S") or _manager_def.get("subscription_period_s") or 60)
    _subscriptions, scheduler = install_subscriptions(APP, manager, _base_url, _period)

application = APP
