"""The snapstamps image for real (issue 16): built once per run with podman on a debootstrapped Debian
base (no registry needed), then the psi application package run in it by cwltool and compared with
the ``--no-container`` run, and ``snapstamps`` run directly in the image.

Needs, as on the development machine and in ``make test`` as root: Linux, root, ``podman``,
``runc`` and ``debootstrap`` (installed by the Makefile with apt), the Debian archive and the
package index reachable for the first build.  Elsewhere every test here skips, saying why.

Caching: ``scripts/build_images.sh`` keeps the debootstrapped root file system in
``$SNAPSTAMPS_CACHE`` (default ``~/.cache/snapstamps``) and podman keeps the image layers and the
pip cache mount, so a later run rebuilds only what changed (the snapstamps layer when only the
sources changed; nothing when nothing did).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BUILD_TIMEOUT_S = 1800  # a cold build on a busy 2-core machine: debootstrap ~2 min, image ~6 min


def _image_name() -> str:
    names = {ln.split("dockerPull:", 1)[1].strip() for p in (ROOT / "app-package").glob("*.cwl")
             for ln in p.read_text().splitlines() if "dockerPull:" in ln and "snapstamps/snapstamps:" in ln}
    assert len(names) == 1, names
    return names.pop()


IMAGE = _image_name()


def _why_not() -> str | None:
    """Why the container tests cannot run here (``None`` when they can)."""
    if not sys.platform.startswith("linux"):
        return "container tests need Linux"
    if os.geteuid() != 0:
        return "container tests need root (debootstrap and rootful podman)"
    missing = [t for t in ("podman", "runc", "debootstrap") if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not installed (make test installs them as root with apt)"
    return None


def _podman_env(cache: Path) -> dict[str, str]:
    """The environment for podman: runc through CONTAINERS_CONF where crun cannot run (cgroup v1/hybrid)."""
    env = dict(os.environ)
    if not env.get("CONTAINERS_CONF"):
        fstype = subprocess.run(["stat", "-fc", "%T", "/sys/fs/cgroup"], capture_output=True, text=True).stdout.strip()
        if fstype != "cgroup2fs":
            cache.mkdir(parents=True, exist_ok=True)
            conf = cache / "containers.conf"
            conf.write_text('[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n')
            env["CONTAINERS_CONF"] = str(conf)
    return env


class Built:
    """The image built for this run and how to run podman."""

    def __init__(self, env: dict[str, str], build_s: float, size_mb: float, log: str) -> None:
        self.env, self.build_s, self.size_mb, self.log = env, build_s, size_mb, log

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(["podman", "run", "--rm", "--net=none", *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout)


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Build the debootstrap base (if absent) and the image, once per test session."""
    why = _why_not()
    if why:
        pytest.skip(why)
    cache = Path(os.environ.get("SNAPSTAMPS_CACHE") or Path.home() / ".cache" / "snapstamps")
    env = _podman_env(cache)
    info = subprocess.run(["podman", "info"], capture_output=True, text=True, env=env, timeout=120)
    if info.returncode != 0:
        pytest.skip(f"podman does not work here: {info.stderr.strip().splitlines()[-1:]}")
    t0 = time.monotonic()
    proc = subprocess.run(["sh", str(ROOT / "scripts" / "build_images.sh"), "--engine", "podman", "--base", "debootstrap"],
                          capture_output=True, text=True, env=dict(env, SNAPSTAMPS_CACHE=str(cache)),
                          timeout=BUILD_TIMEOUT_S)
    build_s = time.monotonic() - t0
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    size = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", IMAGE], capture_output=True,
                          text=True, env=env, check=True).stdout
    built = Built(env, build_s, int(size) / 1e6, proc.stdout.strip().splitlines()[-1])
    print(f"\n{built.log} (fixture: {build_s:.0f} s)")
    return built


@pytest.fixture(scope="session")
def small_stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from snapstamps.simulate.stamps_stack import SimConfig, simulate_stamps_stack

    return simulate_stamps_stack(tmp_path_factory.mktemp("sim") / "sim",
                                 SimConfig(width=120, length=300, n_dates=12, seed=1))


@pytest.mark.timeout(BUILD_TIMEOUT_S + 300)
def test_snapstamps_runs_in_the_image_as_a_non_root_user(image: Built, small_stack: Path, tmp_path: Path) -> None:
    from snapstamps import __version__

    r = image.run(IMAGE, "snapstamps", "--version")
    assert r.returncode == 0 and r.stdout.strip() == f"snapstamps {__version__}", r.stderr
    # the image holds this checkout's sources (a stale layer cache would not)
    digest = ("import hashlib, pathlib, snapstamps; r = pathlib.Path(snapstamps.__file__).parent; h = hashlib.sha256()\n"
              "for p in sorted(r.rglob('*.py')): h.update(p.relative_to(r).as_posix().encode() + p.read_bytes())\n"
              "print(h.hexdigest())")
    r = image.run(IMAGE, "python3", "-c", digest)
    here = subprocess.run([PY, "-c", digest], capture_output=True, text=True, cwd=ROOT / "src", check=True)
    assert r.returncode == 0 and r.stdout == here.stdout, r.stderr
    r = image.run(IMAGE, "id", "-u")
    assert r.stdout.strip() == "1000"
    r = image.run(IMAGE)  # the default command is the help
    assert r.returncode == 0 and "usage: snapstamps" in r.stdout
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # written by the image's user 1000
    r = image.run("-v", f"{small_stack.parent}:/data:ro", "-v", f"{out}:/out", IMAGE,
                  "snapstamps", "--quiet", "psi", f"/data/{small_stack.name}", "--out", "/out/psi", "--patches", "2", "1",
                  timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((out / "psi" / "psi_metadata.json").read_text())
    assert meta["counts"]["ps"] > 50
    assert (out / "psi" / "ps_points.parquet").is_file() and (out / "psi" / "ps_mean_v.xy").is_file()


def _cwltool(package: str, job: Path, outdir: Path, env: dict[str, str], *extra: str) -> dict:
    proc = subprocess.run([PY, "-m", "cwltool", "--quiet", *extra, "--outdir", str(outdir),
                           "--tmpdir-prefix", str(outdir.parent / f"{outdir.name}-tmp") + "/", package, str(job)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


@pytest.mark.timeout(BUILD_TIMEOUT_S + 900)
def test_psi_package_in_the_container_matches_the_uncontainerised_run(image: Built, small_stack: Path,
                                                                    tmp_path: Path) -> None:
    """cwltool's default (docker) mode with ``docker`` resolving to podman runs every tool of
    app-package/psi.cwl#psi in the image; the catalog's points equal the ``--no-container`` run's."""
    import pandas as pd

    from snapstamps.stac.validate import validate_catalog

    shim = tmp_path / "shim"
    shim.mkdir()
    conf = image.env.get("CONTAINERS_CONF")
    (shim / "docker").write_text("#!/bin/sh\n" + (f"CONTAINERS_CONF='{conf}' " if conf else "") + 'exec podman "$@"\n')
    (shim / "docker").chmod(0o755)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"stack": {"class": "Directory", "path": str(small_stack)}, "patches": [2, 1]}))
    package = f"{ROOT / 'app-package' / 'psi.cwl'}#psi"
    (tmp_path / "c-tmp").mkdir()
    (tmp_path / "p-tmp").mkdir()

    t0 = time.monotonic()
    in_container = _cwltool(package, job, tmp_path / "c", dict(image.env, PATH=f"{shim}{os.pathsep}{os.environ['PATH']}"))
    t_container = time.monotonic() - t0
    t0 = time.monotonic()
    host_path = f"{Path(PY).parent}{os.pathsep}{os.environ['PATH']}"  # this environment's snapstamps
    plain = _cwltool(package, job, tmp_path / "p", dict(os.environ, PATH=host_path), "--no-container")
    t_plain = time.monotonic() - t0
    print(f"\npsi.cwl#psi on 120x300x12: in the container {t_container:.1f} s, without {t_plain:.1f} s")

    cats = [Path(o["catalog"]["path"]) for o in (in_container, plain)]
    for cat in cats:
        assert validate_catalog(cat).ok
    c, p = (pd.read_parquet(next(cat.glob("*-ps-points/ps_points.parquet"))) for cat in cats)
    assert len(c) > 50 and list(c.columns) == list(p.columns)
    c, p = c.sort_values("pid").reset_index(drop=True), p.sort_values("pid").reset_index(drop=True)
    assert (c["pid"] == p["pid"]).all()
    for col, tol in (("longitude", 1e-9), ("latitude", 1e-9), ("mean_velocity", 1e-3), ("temporal_coherence", 1e-6)):
        assert (c[col] - p[col]).abs().max() <= tol, col
    # the same set of files in both catalogs
    listing = [sorted(str(f.relative_to(cat)) for f in cat.rglob("*") if f.is_file()) for cat in cats]
    assert listing[0] == listing[1]
