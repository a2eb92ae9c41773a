"""Derived outputs of a psi result: quicklooks, velocity COGs, report, viewer and ``assets.json``.

:func:`make_job_outputs` writes everything a job publishes besides the point products and
returns them as :class:`~snapstamps.results.assets.Asset` objects (path, roles, media type) for
the STAC code to attach; ``assets.json`` lists them with hrefs relative to its folder.

Derived outputs follow the products: every asset in ``assets.json`` records the
``product_version`` of ``psi_metadata.json`` it was made from (``snapstamps:product_version``),
the viewer (``data/meta.js``) and the report carry it too.  When the products are rewritten
(:func:`snapstamps.results.products.write_products`, e.g. psi re-run from step 7 with another
``velocity_type``), :func:`refresh_derived` rebuilds the derived outputs of the result folder
with the options they were made with; :func:`check_derived` tells whether a folder of derived
outputs matches a result (the STAC catalog refuses a mix).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io.atomic import atomic_write_text
from .assets import Asset
from .model import load_result

__all__ = ["make_job_outputs", "refresh_derived", "check_derived", "derived_version", "ASSETS_FILE",
           "VERSION_FIELD", "DERIVED_FILES"]

#: The list of derived outputs (STAC assets by key), in the folder they were written to.
ASSETS_FILE = "assets.json"
#: Asset field recording the product version an output was made from.
VERSION_FIELD = "snapstamps:product_version"
#: Files and folders :func:`make_job_outputs` writes (removed when stale and not rebuilt).
DERIVED_FILES = ("velocity_map.png", "velocity_thumbnail.png", "baseline_plot.png", "coherence_histogram.png",
                 "mean_velocity.tif", "mean_velocity_100m.tif", "report.html", "viewer", ASSETS_FILE)


def make_job_outputs(result_dir: str | Path, out_dir: str | Path | None = None, viewer: bool = True,
                     tiles_url: str | None = None, job_id: str | None = None) -> list[Asset]:
    """Quicklooks, velocity COGs, the report and (with ``viewer``) the static viewer of a result.

    Everything goes into ``out_dir`` (default: the result directory; the viewer into its
    ``viewer/`` subfolder).  Returns the assets in that order; the viewer's asset points at
    ``viewer/index.html`` with role ``visual``, media type ``text/html``.  Every asset records the
    result's product version; a viewer folder left from an earlier call without ``viewer`` is removed.
    """
    from .quicklooks import make_quicklooks
    from .rasters import make_rasters
    from .report import write_report

    res = load_result(result_dir)
    out = Path(out_dir) if out_dir else res.path
    out.mkdir(parents=True, exist_ok=True)
    assets = make_quicklooks(res, out) + make_rasters(res, out)
    if viewer:
        from .viewer import export_viewer

        index = export_viewer(res, out / "viewer", tiles_url=tiles_url)
        extra = {"snapstamps:tiles_url": tiles_url} if tiles_url else {}
        assets.append(Asset("viewer", index, ["visual"], "text/html", "Web viewer",
                            "Interactive map of the PS (velocity, time series on click); static files, no network",
                            extra=extra))
    elif (out / "viewer" / "index.html").is_file():
        shutil.rmtree(out / "viewer")
    report = write_report(res, out / "report.html", assets, job_id=job_id)
    if job_id:
        report.extra["snapstamps:job_id"] = job_id
    assets.append(report)
    for a in assets:
        if res.product_version:
            a.extra[VERSION_FIELD] = res.product_version
    names = {a.path.name for a in assets} | {"viewer", ASSETS_FILE}
    for name in DERIVED_FILES:  # e.g. a baseline plot of an earlier result whose stack had baselines
        if name not in names and (out / name).is_file():
            (out / name).unlink()
    atomic_write_text(out / ASSETS_FILE, json.dumps({a.key: a.to_stac(out) for a in assets}, indent=2) + "\n")
    return assets


def derived_version(folder: str | Path) -> str | None:
    """The product version the derived outputs in ``folder`` were made from (``None``: none, or unversioned)."""
    spec = _read_assets(Path(folder))
    versions = {a.get(VERSION_FIELD) for a in spec.values()} if spec else set()
    return versions.pop() if len(versions) == 1 else None


def _read_assets(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / ASSETS_FILE
    if not path.is_file():
        return {}
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    return spec if isinstance(spec, dict) else {}


def check_derived(result_dir: str | Path, folder: str | Path | None = None) -> str | None:
    """Why the derived outputs in ``folder`` (default: the result) do not match the result, or ``None``."""
    res = load_result(result_dir)
    folder = Path(folder) if folder else res.path
    spec = _read_assets(folder)
    if not spec:
        return None
    versions = {a.get(VERSION_FIELD) for a in spec.values()}
    if versions != {res.product_version}:
        return (f"{folder / ASSETS_FILE}: derived outputs of product version {', '.join(sorted(map(str, versions)))}, "
                f"but {res.path / 'psi_metadata.json'} is version {res.product_version}")
    return None


def refresh_derived(result_dir: str | Path) -> list[Asset]:
    """Rebuild the derived outputs of ``result_dir`` when they were made from other products.

    Uses the options recorded in ``assets.json`` (viewer or not, tile URL, job id).  Nothing to
    do (an empty list) when the folder has no ``assets.json`` or it is up to date.
    """
    d = Path(result_dir)
    spec = _read_assets(d)
    if not spec or check_derived(d) is None:
        return []
    viewer = spec.get("viewer")
    report = spec.get("report") or {}
    return make_job_outputs(d, d, viewer=viewer is not None,
                            tiles_url=(viewer or {}).get("snapstamps:tiles_url"),
                            job_id=report.get("snapstamps:job_id"))
