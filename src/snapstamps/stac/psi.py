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

The result is read through :func:`snapstamps.results.load_result`; the derived outputs
(quicklooks, COGs, report, viewer) are those listed in the ``assets.json`` that
:func:`snapstamps.results.derived.make_job_outputs` writes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

from ..errors import SnapstampsError
from ..results.model import PsiResult, columns_description
from . import fields
from .fields import EXT

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


def _footprint(res: PsiResult) -> tuple[list[float], dict[str, Any], dict[str, float]]:
    """Bounding box, polygon and mean incidence angle of the PS of a result."""
    import numpy as np

    if res.n_points == 0:
        raise CatalogError(f"{res.files['points']}: no PS")
    lon, lat = res.column("longitude"), res.column("latitude")
    w, e = float(np.nanmin(lon)), float(np.nanmax(lon))
    s, n = float(np.nanmin(lat)), float(np.nanmax(lat))
    poly = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    inc = np.asarray(res.column("incidence_angle"), dtype=np.float64)
    inc_mean = float(np.mean(inc[np.isfinite(inc)])) if np.isfinite(inc).any() else float("nan")  # imports may lack it
    stats = {"incidence_angle": inc_mean, "n": float(res.n_points)}
    return [w, s, e, n], poly, stats


def _asset(path: Path, item_id: str, title: str, roles: list[str], files: dict[str, Path],
           extra: dict[str, Any] | None = None) -> Any:
    import pystac

    files[f"{item_id}/{path.name}"] = path
    media = MEDIA.get(path.suffix.lower())
    props = fields.file_fields(path)
    props.update(extra or {})
    return pystac.Asset(f"./{path.name}", title=title, media_type=media, roles=roles, extra_fields=props)


#: Relation types of the catalog and item links to the job report and the web viewer.
REPORT_REL = "describedby"
VIEWER_REL = "preview"
#: Where the report and the viewer folder go in a published catalog (relative to catalog.json).
REPORT_HREF = "report.html"
VIEWER_HREF = "viewer/index.html"


def _rewrite_links(text: str, report_src: Path, placed: dict[Path, str], report_rel: str) -> str:
    """Point the report's ``href``/``src`` attributes at where their targets are in the catalog.

    ``placed`` maps source files (resolved) to catalog-relative paths; the report itself goes
    to ``report_rel``.  A target is found by its resolved path, else by a unique file name.
    Targets not in the catalog are left as they are.
    """
    import html as _html
    import os
    import posixpath

    by_name: dict[str, list[str]] = {}
    for src, rel in placed.items():
        if not rel.startswith("viewer/") or rel == VIEWER_HREF:
            by_name.setdefault(src.name, []).append(rel)
    base = posixpath.dirname(report_rel)

    def repl(m: re.Match[str]) -> str:
        attr, raw = m.group(1), _html.unescape(m.group(2))
        if "://" in raw or raw.startswith(("#", "/", "data:", "mailto:")):
            return m.group(0)
        target = placed.get(Path(os.path.normpath(report_src.parent / raw)).resolve())
        if target is None:
            names = by_name.get(Path(raw).name, [])
            if raw.endswith(VIEWER_HREF):
                names = [VIEWER_HREF]
            target = names[0] if len(names) == 1 else None
        if target is None:
            return m.group(0)
        new = posixpath.relpath(target, base or ".")
        return f"{attr}='{_html.escape(new)}'"

    return re.sub(r"\b(href|src)='([^']*)'", repl, text)


def _attach_job_outputs(cat: Any, points: Any, geom: dict[str, Any], bbox: list[float], when: dt.datetime,
                        common: dict[str, Any], base_ext: list[str], extras: Path, result_dir: Path,
                        files: dict[str, Path], texts: dict[str, str]) -> Any:
    """Attach what ``snapstamps quicklooks`` wrote (listed in ``extras/assets.json``) to the catalog.

    * PNG quicklooks: assets of the points item with their roles (``thumbnail``, ``overview``,
      ``visual``), files next to the item;
    * Cloud-Optimized GeoTIFFs: assets of a ``<id>-rasters`` item with their ``proj:*`` and
      ``raster:bands`` fields (projection and raster extensions);
    * ``report.html``: at the catalog root, its links rewritten to the catalog layout; a
      ``describedby`` link of the catalog and every item, and a ``report`` asset of the points item;
    * the viewer folder: ``viewer/`` at the catalog root; a ``preview`` link (``text/html``) of the
      catalog and every item, and a ``viewer`` asset (role ``visual``) of the points item.

    Returns the rasters item (or None).
    """
    import pystac

    spec: dict[str, dict[str, Any]] = json.loads((extras / "assets.json").read_text())
    placed: dict[Path, str] = {src.resolve(): rel for rel, src in files.items()}
    ritem = None
    report_src: Path | None = None
    viewer_dir: Path | None = None
    for key, a in spec.items():
        src = (extras / a["href"]).resolve()
        if not src.is_file():
            raise CatalogError(f"{extras / 'assets.json'}: asset {key!r} points to a missing file {src}")
        media = a.get("type") or MEDIA.get(src.suffix.lower())
        roles = list(a.get("roles") or ["data"])
        extra = {k: v for k, v in a.items() if k not in ("href", "type", "title", "roles", "description")}
        if a.get("description"):
            extra["description"] = a["description"]
        if key == "viewer" or (media == "text/html" and src.name == "index.html"):
            viewer_dir = src.parent
            continue
        if key == "report" or (media == "text/html" and src.name.endswith(".html")):
            report_src = src
            continue
        if media and media.startswith("image/tiff"):
            if ritem is None:
                # proj:* per asset (UTM); the item-level EPSG:4326 fields would contradict them
                rprops = {k: v for k, v in common.items() if not k.startswith("proj:")}
                rprops["processing:level"] = fields.PROCESSING_LEVELS["rasters"]
                rext = base_ext + [EXT["raster"]] + ([EXT["sat"]] if any(k.startswith("sat:") for k in rprops) else [])
                ritem = pystac.Item(f"{cat.id}-rasters", geom, bbox, when,
                                    dict(rprops, title="Mean LOS velocity rasters (Cloud-Optimized GeoTIFF)"),
                                    stac_extensions=rext)
                cat.add_item(ritem)
            asset = _asset(src, ritem.id, a.get("title") or key, roles, files, extra)
            asset.media_type = media
            ritem.add_asset(key, asset)
            placed[src] = f"{ritem.id}/{src.name}"
        else:
            asset = _asset(src, points.id, a.get("title") or key, roles, files, extra)
            asset.media_type = media
            points.add_asset(key, asset)
            placed[src] = f"{points.id}/{src.name}"
    if viewer_dir is not None:
        for f in sorted(viewer_dir.rglob("*")):
            if f.is_file() and not f.name.startswith(".") and "__pycache__" not in f.parts:
                rel = f"viewer/{f.relative_to(viewer_dir).as_posix()}"
                files[rel] = f
                placed[f.resolve()] = rel
        points.add_asset("viewer", pystac.Asset(
            f"../{VIEWER_HREF}", title="Web viewer", media_type="text/html", roles=["visual"],
            extra_fields={"description": "Interactive map of the PS (mean velocity; time series on click); "
                                         "static files, nothing fetched from the internet"}))
    if report_src is not None:
        placed[report_src] = REPORT_HREF
        texts[REPORT_HREF] = _rewrite_links(report_src.read_text(encoding="utf-8"), report_src, placed, REPORT_HREF)
        points.add_asset("report", pystac.Asset(
            f"../{REPORT_HREF}", title="Job report", media_type="text/html", roles=["metadata", "overview"],
            extra_fields={"description": "One-page HTML report: inputs, parameters, counts, reference area, "
                                         "velocity statistics, quicklooks"}))
    for owner, prefix in [(cat, "./")] + [(i, "../") for i in cat.get_items()]:
        if report_src is not None:
            owner.add_link(pystac.Link(REPORT_REL, prefix + REPORT_HREF, media_type="text/html", title="Job report"))
        if viewer_dir is not None:
            owner.add_link(pystac.Link(VIEWER_REL, prefix + VIEWER_HREF, media_type="text/html", title="Web viewer"))
    return ritem


def build_psi_catalog(result_dir: Path, out_dir: Path, catalog_id: str | None = None,
                      stack_ref: str | None = None, polarisation: str | None = None,
                      swath: str | None = None, quicklooks_dir: Path | None = None) -> Path:
    """Publish the STAC catalog of the psi run in ``result_dir`` into ``out_dir``.

    Every item gets a ``derived_from`` link to the input stack: ``stack_ref`` when it is a URL
    or an existing path (made an absolute URI), else the stack item (or ``INSAR_<master>``
    directory) that psi's step 0 recorded in ``stack.json`` (``stack_source``).  The stack's
    polarisation, sub-swath, relative orbit, orbit state and platform recorded there become
    ``sar:polarizations``, ``sar:beam_ids``, ``sat:relative_orbit``, ``sat:orbit_state`` and
    ``platform``; ``polarisation`` and ``swath`` given here must agree with them.  ``quicklooks_dir`` is where ``snapstamps quicklooks RESULT --out DIR``
    wrote the quicklooks, COGs, report and viewer (default: ``result_dir`` itself); with its
    ``assets.json`` they are published as described in :func:`_attach_job_outputs`.
    Returns the path of ``catalog.json``.
    """
    import pystac

    from .publish import save_catalog_atomic

    from ..results.model import load_result

    result_dir = Path(result_dir)
    _read_json(result_dir / "psi_metadata.json")  # a clear error before the loader's
    _read_json(result_dir / "stack.json")
    csv = result_dir / "ps_points.csv"
    if not csv.is_file():
        raise CatalogError(f"{csv}: missing")
    res = load_result(result_dir)
    meta, stack = res.metadata, res.stack
    source: dict[str, Any] = dict(stack.get("stack_source") or {})
    for name, given in (("polarisation", polarisation), ("swath", swath)):
        known = source.get(name)
        if given and known and str(given).upper() != str(known).upper():
            raise CatalogError(f"--{name} {given} differs from the stack's {known} ({source.get('href')})")
    polarisation = polarisation or source.get("polarisation")
    swath = swath or source.get("swath")
    bbox, geom, stats = _footprint(res)
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
            "Imported StaMPS result (" + str(meta.get("software", {}).get("imported_from", "")) + ")"
            if meta.get("software", {}).get("backend") == "import"
            else "Persistent Scatterer Interferometry (StaMPS PSI steps 1-8, snapstamps native backend): "
            f"mean LOS velocity type '{meta.get('conventions', {}).get('velocity_type', 'v-d')}'"
        ),
        # NaN is not JSON: an imported result without incidence angles has none
        **({"view:incidence_angle": round(stats["incidence_angle"], 3)} if math.isfinite(stats["incidence_angle"]) else {}),
        "proj:code": "EPSG:4326",
        "proj:bbox": bbox,
        "snapstamps:master": meta["master"],
        "snapstamps:dates": meta["dates"],
        "snapstamps:n_ps": meta.get("counts", {}).get("ps"),
        "snapstamps:reference_area": _finite(meta.get("reference_area")),
        "snapstamps:adapted_parameters": meta.get("adapted_parameters", []),
    }
    plat = source.get("platform") or fields.platform(meta.get("sensor") or stack.get("sensor"))
    if plat:
        common["platform"] = plat
    state = source.get("orbit_state") or fields.orbit_state(heading)
    sat: dict[str, Any] = {"sat:orbit_state": state} if state else {}
    if source.get("relative_orbit"):
        sat["sat:relative_orbit"] = int(source["relative_orbit"])
    if heading is not None:
        common["view:azimuth"] = round(float(heading) % 360.0, 3)
    when = dt.datetime.combine(master, dt.time(), tzinfo=dt.timezone.utc)
    base_ext = [EXT["sar"], EXT["processing"], *([EXT["view"]] if any(k.startswith("view:") for k in common) else []),
                EXT["projection"], EXT["file"]]

    cat = pystac.Catalog(
        cid, f"Persistent scatterers of the Sentinel-1 stack INSAR_{master:%Y%m%d} "
        f"({len(dates)} acquisitions, {dates[0]} to {dates[-1]}): LOS velocities and displacement time series.",
        title=f"snapstamps psi {cid}",
    )
    files: dict[str, Path] = {}

    # -- point product item: sar + sat + processing + view + projection (+ file)
    pid = f"{cid}-ps-points"
    pprops = dict(common, title="PS points: velocities and time series (CSV, GeoParquet)", **sat)
    pprops["processing:level"] = fields.PROCESSING_LEVELS["ps-points"]
    has_sat = any(k.startswith("sat:") for k in pprops)  # an imported result may have none
    points = pystac.Item(pid, geom, bbox, when, pprops, stac_extensions=base_ext + ([EXT["sat"]] if has_sat else []))
    points.add_asset("ps_points_csv", _asset(csv, pid, "PS table (CSV)", ["data"], files,
                                             {"description": columns_description()}))
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
    sprops["processing:level"] = fields.PROCESSING_LEVELS["stamps-exports"]
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

    # -- rasters, quicklooks, report, viewer (``snapstamps quicklooks``), when present
    ritem = None
    texts: dict[str, str] = {}
    extras = Path(quicklooks_dir) if quicklooks_dir else result_dir
    if (extras / "assets.json").is_file():
        from ..results.derived import check_derived, refresh_derived

        stale = check_derived(result_dir, extras)
        if stale and extras.resolve() == result_dir.resolve():
            refresh_derived(result_dir)  # made from earlier products: rebuild them, never publish a mix
        elif stale:
            raise CatalogError(f"{stale}; run `snapstamps quicklooks {result_dir} --out {extras}` again")
        ritem = _attach_job_outputs(cat, points, geom, bbox, when, dict(common, **sat), base_ext, extras,
                                    result_dir, files, texts)

    href = _stack_href(stack_ref, source)
    if href:
        for item in cat.get_items():
            item.add_link(pystac.Link("derived_from", href, media_type="application/geo+json"
                                      if href.endswith(".json") else None, title="input stack"))
    return save_catalog_atomic(cat, Path(out_dir), files, texts)


def _stack_href(stack_ref: str | None, source: dict[str, Any]) -> str | None:
    """The input stack as a URI that resolves from anywhere (see :func:`build_psi_catalog`)."""
    if stack_ref:
        text = str(stack_ref)
        if "://" in text:
            return text
        p = Path(text)
        if p.exists():
            p = p / "catalog.json" if p.is_dir() and (p / "catalog.json").is_file() else p
            return p.resolve().as_uri()
    return source.get("href")


def catalog_outputs(catalog_json: Path) -> dict[str, Any]:
    """The main assets of a published psi catalog, ``{output id: {"href", "type"}}``.

    Besides the catalog and the point products: ``report`` and ``viewer`` (the job report and
    the web viewer's ``index.html``) when the catalog links them, and the COGs
    (``mean_velocity``, ``mean_velocity_100m``) and ``thumbnail`` when present.
    """
    import pystac

    cat = pystac.Catalog.from_file(str(catalog_json))
    out: dict[str, Any] = {"catalog": {"href": Path(catalog_json).resolve().as_uri(), "type": "application/json"}}
    wanted = ("ps_points_csv", "ps_points_parquet", "ps_mean_v", "psi_metadata", "mean_velocity",
              "mean_velocity_100m", "thumbnail", "velocity_map")
    for item in cat.get_items(recursive=True):
        for key, asset in item.assets.items():
            if key in wanted:
                out[key] = {"href": Path(asset.get_absolute_href()).resolve().as_uri(), "type": asset.media_type}
    for rel, key in ((REPORT_REL, "report"), (VIEWER_REL, "viewer")):
        link = cat.get_single_link(rel)
        if link is not None:
            href = link.get_absolute_href() or link.href
            out[key] = {"href": Path(href).resolve().as_uri() if "://" not in href else href, "type": "text/html"}
    return out
