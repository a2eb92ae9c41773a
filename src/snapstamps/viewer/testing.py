"""Test helpers: a psi result directory to test against, and the browser check runner.

``psi_result_dir(tmp)`` returns ``$SNAPSTAMPS_TEST_RESULT_DIR`` when set (a real psi output
directory) and otherwise writes a synthetic one (:func:`~.synthetic.make_synthetic_result`).
``browser_check(spec)`` runs ``web/viewer-check.mjs`` (playwright-core driving Debian's
chromium) and returns its JSON report; ``browser_unavailable()`` says why it cannot run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .synthetic import make_synthetic_result

__all__ = ["psi_result_dir", "browser_unavailable", "browser_check", "WEB_DIR", "CHROMIUM"]

WEB_DIR = Path(__file__).resolve().parents[3] / "web"
CHROMIUM = os.environ.get("SNAPSTAMPS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or ""


def psi_result_dir(tmp: str | Path, n_points: int = 3000, n_dates: int = 24, seed: int = 1) -> Path:
    """A result directory: ``$SNAPSTAMPS_TEST_RESULT_DIR`` if set, else a synthetic one under ``tmp``."""
    real = os.environ.get("SNAPSTAMPS_TEST_RESULT_DIR")
    if real:
        return Path(real)
    return make_synthetic_result(Path(tmp) / "result", n_points=n_points, n_dates=n_dates, seed=seed)


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if not CHROMIUM:
        return "chromium not installed (apt-get install chromium; or set SNAPSTAMPS_CHROMIUM)"
    if not shutil.which("node"):
        return "node not installed"
    if not (WEB_DIR / "node_modules" / "playwright-core").is_dir():
        return f"playwright-core not installed (run: cd {WEB_DIR} && npm ci)"
    return None


def browser_check(spec: dict[str, Any], timeout_s: float = 60.0) -> dict[str, Any]:
    """Run the browser check with ``spec`` (url, click, screenshot, cohMin, limits); return its report."""
    spec = {"chromium": CHROMIUM, **spec}
    p = subprocess.run(["node", str(WEB_DIR / "viewer-check.mjs"), json.dumps(spec)], cwd=WEB_DIR,
                       capture_output=True, text=True, timeout=timeout_s)
    if p.returncode != 0:
        raise RuntimeError(f"viewer-check failed ({p.returncode}):\n{p.stderr[-4000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])
