"""Build step: ship the service's process descriptions, pygeoapi configuration and CWL packages.

Their source stays at the top of the repository (``processes/``, ``app-package/``); a built wheel
carries copies under ``snapstamps/service/data/`` (see ``snapstamps.service.resources``).
Everything else is configured in ``pyproject.toml``.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = {"processes": ("*.json", "*.yml"), "app-package": ("*.cwl",)}


class BuildPyWithResources(build_py):
    """``build_py`` that also copies the service resources into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout
        for folder, patterns in SHIPPED.items():
            dest = Path(self.build_lib) / "snapstamps" / "service" / "data" / folder
            dest.mkdir(parents=True, exist_ok=True)
            for pattern in patterns:
                for src in sorted((HERE / folder).glob(pattern)):
                    self.copy_file(str(src), str(dest / src.name))


setup(cmdclass={"build_py": BuildPyWithResources})
