"""Derived outputs of a psi result: quicklooks, velocity COGs, report, viewer and ``assets.json``.

:func:`make_job_outputs` writes everything a job publishes besides the point products and
returns them as :class:`~snapstamps.results.assets.Asset` objects (path, roles, media type) for
the STAC code to attach; ``assets.json`` lists them with hrefs relative to its folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..io.atomic import atomic_write_text
from .assets import Asset
from .model import load_result

__all__ = ["make_job_outputs", "ASSETS_FILE"]

#: The list of derived outputs (STAC assets by key), in the folder they were written to.
ASSETS_FILE = "assets.json"


def make_job_outputs(result_dir: str | Path, out_dir: str | Path | None = None, viewer: bool = True,
                     tiles_url: str | None = None, job_id: str | None = None) -> list[Asset]:
    """Quicklooks, velocity COGs, the report and (with ``viewer``) the static viewer of a result.

    Everything goes into ``out_dir`` (default: the result directory; the viewer into its
    ``viewer/`` subfolder).  Returns the assets in that order; the viewer's asset points at
    ``viewer/index.html`` with role ``visual``, media type ``text/html``.
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
        assets.append(Asset("viewer", index, ["visual"], "text/html", "Web viewer",
                            "Interactive map of the PS (velocity, time series on click); static files, no network"))
    assets.append(write_report(res, out / "report.html", assets, job_id=job_id))
    atomic_write_text(out / ASSETS_FILE, json.dumps({a.key: a.to_stac(out) for a in assets}, indent=2) + "\n")
    return assets
