"""Where the service finds its process descriptions, pygeoapi configuration and CWL packages.

In the repository they live at the top level (``processes/``, ``app-package/``: their source).
A wheel carries copies as package data under ``snapstamps/service/data/`` (copied there by
the build step in ``setup.py``), so that ``pip install`` then ``snapstamps serve`` works without
a checkout.  :func:`resource_dir` returns the packaged copy when there is one, else the
checkout's folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: Folders shipped as package data.
NAMES = ("processes", "app-package")


def resource_dir(name: str) -> Path:
    """The folder ``name`` (``processes`` or ``app-package``): packaged copy first, then the checkout."""
    if name not in NAMES:
        raise ValueError(f"unknown resource folder {name!r}")
    try:
        packaged = Path(str(resources.files("snapstamps.service") / "data" / name))
        if packaged.is_dir():
            return packaged
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - zipped installs are not supported
        pass
    return Path(__file__).resolve().parents[3] / name
