"""``pip install`` of a wheel, then ``snapstamps serve`` works away from the checkout.

The wheel is built from the repository (``pip wheel --no-deps``, as ``pip install .`` builds it) and
installed with ``--no-deps --target`` into a temporary folder that comes first on ``PYTHONPATH``
(the dependencies come from the test environment); the server then starts in a folder outside the
checkout and serves the process descriptions and CWL packages shipped as package data.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_service import Server, running

requests = pytest.importorskip("requests")
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_the_service_resources_and_serves(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next(wheels.glob("snapstamps-*.whl"))
    site = tmp_path / "site"
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                          capture_output=True, text=True, timeout=900)
    assert inst.returncode == 0, inst.stderr[-3000:]
    res = site / "snapstamps" / "service" / "data"
    for name in ("processes/psi.json", "processes/interferogram-stack.json", "processes/echo.json",
                 "processes/pygeoapi-config.yml", "app-package/psi.cwl", "app-package/ifg-stack.cwl"):
        assert (res / name).is_file(), name

    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {"PYTHONPATH": str(site)}
    probe = subprocess.run([sys.executable, "-c", "import snapstamps.service.resources as r; "
                            "print(r.resource_dir('processes')); print(r.__file__)"],
                           capture_output=True, text=True, cwd=away, env={**os.environ, **env}, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert all(line.startswith(str(site)) for line in probe.stdout.split()), probe.stdout

    srv = Server(away / "data", env=env)
    srv.env["PYTHONPATH"] = str(site)
    with running(srv) as s:
        assert s.proc is not None
        desc = requests.get(f"{s.url}/processes/psi?f=json", timeout=60)
        assert desc.status_code == 200 and desc.json()["id"] == "psi"
        pkg = requests.get(f"{s.url}/processes/psi/package", timeout=60)
        assert pkg.status_code == 200 and "cwlVersion" in pkg.text
        r = requests.post(f"{s.url}/processes/echo/execution", json={"inputs": {"echoInput": "installed"}}, timeout=60)
        assert r.status_code == 200 and r.text == "installed"
