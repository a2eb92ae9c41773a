"""The STAC catalog of a psi result: items for the point products, the StaMPS exports, rasters.

:func:`build_psi_catalog` reads a finished psi processing directory (``psi_metadata.json``,
``stack.json`` and the product files) and publishes a self-contained catalog::

    OUT/catalog.json
    OUT/<id>-ps-points/<id>-ps-points.json      ps_points.csv, ps_points.parquet, psi_metadata.json
    OUT/<id>-stamps-exports/...                 ps_mean_v.xy, ps_data.xy, ps_u-dm.<n>.xy
    OUT/<id>-rasters/...                        GeoTIFF rasters, when the run made any
    (quicklooks / report attached to the points item when present)

The product files are copied next to their item, and the whole directory is written aside and
renamed into place (:func:`..publish.save_catalog_atomic`), so a catalog is visible only once
every product is in it.

Hooks for products made by other modules: files matching :data:`RASTER_PATTERNS` become assets
of a ``rasters`` item, :data:`QUICKLOOK_PATTERNS` become ``overview``/``visual`` assets of the
points item, and :data:`REPORT_PATTERNS` ``metadata`` assets.  A module among
``snapstamps.rasters``, ``snapstamps.quicklooks`` and ``snapstamps.report`` may also define
``stac_assets(result_dir) -> list[dict]`` returning ``{"path", "key", "roles", "type",
"title", "item"}`` entries (``item`` = ``"points"``, ``"stamps-exports"`` or ``"rasters"``),
which are attached as given.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math
import re
from pathlib import Path
from typing import Any

from ..errors import SnapstampsError
from . import fields
from .fields import EXT

RASTER_PATTERNS = ("*.tif", "*.tiff", "rasters/*.tif", "rasters/*.tiff")
QUICKLOOK_PATTERNS = ("*.png", "quicklooks/*.png", "*.jpg", "quicklooks/*.jpg")
REPORT_PATTERNS = ("report.html", "report.pdf", "*.html", "*.pdf")
HOOK_MODULES = ("snapstamps.rasters", "snapstamps.quicklooks", "snapstamps.report")

MEDIA = {
    ".csv": "text/csv",
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/json",
    ".xy": "text/plain",
    ".tif": "image/tiff; application=geotiff",
    ".tiff": "image/tiff; application=geotiff",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".html": "text/html",
    ".pdf": "application/pdf",
}


class CatalogError(SnapstampsError):
    """The result directory lacks what the catalog needs."""


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CatalogError(f"{path}: missing (the psi run has not written its products; run it to step 7 or 8)")
    # psi_metadata.json may hold Infinity (unbounded reference area): Python's json reads it.
    return json.loads(path.read_text())


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, list):
        return [_finite(v) for v in x]
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    return x


def _footprint(csv: Path) -> tuple[list[float], dict[str, Any], dict[str, float]]:
    """Bounding box, polygon and mean incidence angle of the PS in ``ps_points.csv``."""
    import pandas as pd

    t = pd.read_csv(csv, usecols=["longitude", "latitude", "incidence_angle"])
    if t.empty:
        raise CatalogError(f"{csv}: no PS")
    w, e = float(t["longitude"].min()), float(t["longitude"].max())
    s, n = float(t["latitude"].min()), float(t["latitude"].max())
    poly = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    stats = {"incidence_angle": float(t["incidence_angle"].mean()), "n": float(len(t))}
    return [w, s, e, n], poly, stats


def _asset(path: Path, item_id: str, title: str, roles: list[str], files: dict[str, Path],
           extra: dict[str, Any] | None = None) -> Any:
    import pystac

    files[f"{item_id}/{path.name}"] = path
    media = MEDIA.get(path.suffix.lower())
    props = {"file:size": path.stat().st_size}
    props.update(extra or {})
    return pystac.Asset(f"./{path.name}", title=title, media_type=media, roles=roles, extra_fields=props)


def _hook_assets(result_dir: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in HOOK_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        fn = getattr(mod, "stac_assets", None)
        if callable(fn):
            out.extend(fn(result_dir) or [])
    return out


def _glob(result_dir: Path, patterns: tuple[str, ...]) -> list[Path]:
    seen: dict[Path, None] = {}
    for pat in patterns:
        for p in sorted(result_dir.glob(pat)):
            if p.is_file():
                seen.setdefault(p, None)
    return list(seen)


def build_psi_catalog(result_dir: Path, out_dir: Path, catalog_id: str | None = None,
                      stack_ref: str | None = None, polarisation: str | None = None,
                      swath: str | None = None) -> Path:
    """Publish the STAC catalog of the psi run in ``result_dir`` into ``out_dir``.

    ``stack_ref`` (the stack given to psi, e.g. the stack catalog URL) is recorded as a
    ``derived_from`` link.  Returns the path of ``catalog.json``.
    """
    import pystac

    from .publish import save_catalog_atomic

    result_dir = Path(result_dir)
    meta = _read_json(result_dir / "psi_metadata.json")
    stack = _read_json(result_dir / "stack.json")
    csv = result_dir / "ps_points.csv"
    if not csv.is_file():
        raise CatalogError(f"{csv}: missing")
    bbox, geom, stats = _footprint(csv)
    dates = [dt.date.fromisoformat(d) for d in meta["dates"]]
    master = dt.date.fromisoformat(meta["master"])
    cid = catalog_id or f"psi-{master:%Y%m%d}"
    heading = stack.get("geometry", {}).get("heading")

    common: dict[str, Any] = {
        "start_datetime": fields.iso(dates[0]),
        "end_datetime": fields.iso(dates[-1]),
        "constellation": "sentinel-1",
        "instruments": ["c-sar"],
        **fields.sar_fields(polarisation=polarisation, swath=swath),
        **fields.processing_fields(
            "Persistent Scatterer Interferometry (StaMPS PSI steps 1-8, snapstamps native backend): "
            f"mean LOS velocity type '{meta.get('conventions', {}).get('velocity_type', 'v-d')}'"
        ),
        "view:incidence_angle": round(stats["incidence_angle"], 3),
        "proj:code": "EPSG:4326",
        "proj:bbox": bbox,
        "snapstamps:master": meta["master"],
        "snapstamps:dates": meta["dates"],
        "snapstamps:n_ps": meta.get("counts", {}).get("ps"),
        "snapstamps:reference_area": _finite(meta.get("reference_area")),
        "snapstamps:adapted_parameters": meta.get("adapted_parameters", []),
    }
    plat = fields.platform(meta.get("sensor") or stack.get("sensor"))
    if plat:
        common["platform"] = plat
    state = fields.orbit_state(heading)
    if heading is not None:
        common["view:azimuth"] = round(float(heading) % 360.0, 3)
    when = dt.datetime.combine(master, dt.time(), tzinfo=dt.timezone.utc)
    base_ext = [EXT["sar"], EXT["processing"], EXT["view"], EXT["projection"], EXT["file"]]

    cat = pystac.Catalog(
        cid, f"Persistent scatterers of the Sentinel-1 stack INSAR_{master:%Y%m%d} "
        f"({len(dates)} acquisitions, {dates[0]} to {dates[-1]}): LOS velocities and displacement time series.",
        title=f"snapstamps psi {cid}",
    )
    files: dict[str, Path] = {}

    # -- point product item: sar + sat + processing + view + projection (+ file)
    pid = f"{cid}-ps-points"
    pprops = dict(common, title="PS points: velocities and time series (CSV, GeoParquet)")
    if state:
        pprops["sat:orbit_state"] = state
    points = pystac.Item(pid, geom, bbox, when, pprops, stac_extensions=base_ext + [EXT["sat"]])
    points.add_asset("ps_points_csv", _asset(csv, pid, "PS table (CSV)", ["data"], files,
                                             {"description": "pid, latitude, longitude, height, line, pixel, mean_velocity (mm/yr), mean_velocity_std, temporal_coherence, amplitude_dispersion, incidence_angle (deg), dem_error (m), then displacement (mm) per date YYYYMMDD"}))
    pq = result_dir / "ps_points.parquet"
    if pq.is_file():
        points.add_asset("ps_points_parquet", _asset(pq, pid, "PS table (GeoParquet 1.0, OGC:CRS84)", ["data"], files))
    points.add_asset("psi_metadata", _asset(result_dir / "psi_metadata.json", pid,
                                            "Run metadata: conventions, dates, reference area, parameters", ["metadata"], files))
    cat.add_item(points)

    # -- StaMPS text exports: sar + processing + insar (reference date = master)
    # (sat:* is left out here: the insar v1.0.0 proposal schema rejects sat:* fields through a
    # faulty patternProperties, so items with insar:* carry no sat:* fields.)
    sid = f"{cid}-stamps-exports"
    sprops = dict(common, title="StaMPS text exports (ps_mean_v.xy, ps_data.xy, ps_u-dm.<n>.xy)")
    sprops["insar:reference_datetime"] = fields.iso(master)
    exports = pystac.Item(sid, geom, bbox, when, sprops, stac_extensions=base_ext + [EXT["insar"]])
    for name, title in (("ps_mean_v.xy", "lon lat mean LOS velocity (mm/yr)"),
                        ("ps_data.xy", "lon lat velocity (mm/yr) DEM height (m) DEM error (m)")):
        p = result_dir / name
        if p.is_file():
            exports.add_asset(name.replace(".xy", "").replace("-", "_"), _asset(p, sid, title, ["data"], files))
    udm = sorted(result_dir.glob("ps_u-dm.*.xy"), key=lambda p: int(re.findall(r"\d+", p.name)[0]))
    for p in udm:
        n = int(re.findall(r"\d+", p.name)[0])
        d = dates[n - 1] if 0 < n <= len(dates) else None
        extra: dict[str, Any] = {}
        if d is not None:
            extra["datetime"] = fields.iso(d)
            if d != master:
                extra["insar:secondary_datetime"] = fields.iso(d)
        exports.add_asset(f"ps_u_dm_{n}", _asset(p, sid, f"lon lat LOS displacement (mm) of image {n}"
                                                 + (f" ({d})" if d else "") + " relative to the master",
                                                 ["data"], files, extra))
    cat.add_item(exports)

    # -- rasters, quicklooks, report (other modules' products, when present)
    rasters = _glob(result_dir, RASTER_PATTERNS)
    ritem = None
    if rasters:
        rid = f"{cid}-rasters"
        ritem = pystac.Item(rid, geom, bbox, when, dict(common, title="Rasters"), stac_extensions=list(base_ext))
        for p in rasters:
            ritem.add_asset(re.sub(r"\W", "_", p.stem), _asset(p, rid, p.stem.replace("_", " "), ["data"], files))
        cat.add_item(ritem)
    for p in _glob(result_dir, QUICKLOOK_PATTERNS):
        points.add_asset(re.sub(r"\W", "_", p.stem), _asset(p, pid, p.stem.replace("_", " "), ["overview", "visual"], files))
    for p in _glob(result_dir, REPORT_PATTERNS):
        key = re.sub(r"\W", "_", p.stem) + "_" + p.suffix.lstrip(".")
        if key not in points.assets:
            points.add_asset(key, _asset(p, pid, f"report ({p.suffix.lstrip('.')})", ["metadata"], files))
    targets = {"points": points, "stamps-exports": exports}
    for hook in _hook_assets(result_dir):
        path = Path(hook["path"])
        which = hook.get("item", "points")
        if which == "rasters" and ritem is None:
            ritem = pystac.Item(f"{cid}-rasters", geom, bbox, when, dict(common, title="Rasters"),
                                stac_extensions=list(base_ext))
            cat.add_item(ritem)
        item = ritem if which == "rasters" else targets.get(which, points)
        a = _asset(path, item.id, hook.get("title", path.stem), list(hook.get("roles", ["data"])), files)
        if hook.get("type"):
            a.media_type = hook["type"]
        item.add_asset(hook.get("key", re.sub(r"\W", "_", path.stem)), a)

    if stack_ref:
        for item in cat.get_items():
            item.add_link(pystac.Link("derived_from", str(stack_ref), media_type="application/json",
                                      title="input stack"))
    return save_catalog_atomic(cat, Path(out_dir), files)


def catalog_outputs(catalog_json: Path) -> dict[str, Any]:
    """The main assets of a published psi catalog, ``{output id: {"href", "type"}}``."""
    import pystac

    cat = pystac.Catalog.from_file(str(catalog_json))
    out: dict[str, Any] = {"catalog": {"href": Path(catalog_json).resolve().as_uri(), "type": "application/json"}}
    for item in cat.get_items(recursive=True):
        for key, asset in item.assets.items():
            if key in ("ps_points_csv", "ps_points_parquet", "ps_mean_v", "psi_metadata"):
                out[key] = {"href": Path(asset.get_absolute_href()).resolve().as_uri(), "type": asset.media_type}
    return out
