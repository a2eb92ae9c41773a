"""Shared test settings.

Tests never reach the internet: STAC schema fetching is off unless a test turns it on (with
sockets blocked or a local server).  Schemas come from ``shared/data/stac-schemas`` beside the
checkout when present (see :mod:`snapstamps.stac.validate`), else only the core is validated.
"""

import os

os.environ["SNAPSTAMPS_STAC_FETCH"] = "0"
