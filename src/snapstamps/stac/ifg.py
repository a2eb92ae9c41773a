"""The stack catalog of an interferogram-stack run (the output of ``app-package/ifg-stack.cwl``).

Input: the folders written by ``snapstamps ifg-stack-gather`` (one per sub-swath: ``INSAR_<ref>/``
and ``ifg_stack.json``).  Output, a self-contained static catalog that the psi process takes as
its ``stack``::

    OUT/catalog.json
    OUT/stack-<ref>-<swath>/stack-<ref>-<swath>.json   stack item, asset ``stamps-export``
    OUT/stack-<ref>-<swath>/INSAR_<ref>/...            the stack itself (rslc/, diff0/, geo/, dem/)
    OUT/ifg-<ref>-<sec>-<swath>/ifg-<ref>-<sec>-<swath>.json   one item per reference/secondary/swath

A pair item carries the coregistered secondary (``rslc/<sec>.rslc`` and its ``.par``) and the
interferogram (``diff0/<ref>_<sec>.diff``, ``.diff.par``, ``.base``) as assets pointing into the
stack item's ``INSAR_<ref>/``; the InSAR proposal's ``insar:reference_datetime``,
``insar:secondary_datetime``, ``insar:perpendicular_baseline`` (a string of metres, as the proposal's
schema types it) and ``insar:temporal_baseline`` (days, an integer >= 1 in that schema, so the
magnitude); the signed values as ``snapstamps:perpendicular_baseline_m`` and
``snapstamps:temporal_baseline_days`` (secondary - reference, the sign convention of
``stack-overview``); and links ``reference`` and ``secondary`` to the input items (the STAC items the
job was given, or the SAFE products).  The stack files are hard-linked into the catalog where the
file system allows (copied otherwise), and the catalog appears in one rename.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SnapstampsError
from . import fields
from .fields import EXT
from .stack import STAMPS_EXPORT_ROLE, stack_item

__all__ = ["IfgCatalogError", "build_ifg_stack_catalog", "gathered_summary", "read_ifg_stack_catalog"]

BINARY = "application/octet-stream"
TEXT = "text/plain"


class IfgCatalogError(SnapstampsError):
    """A gathered interferogram-stack folder lacks what the catalog needs."""


def gathered_summary(folder: Path) -> tuple[dict[str, Any], Path]:
    """``ifg_stack.json`` and the ``INSAR_<ref>`` folder of an ``ifg-stack``/``ifg-stack-gather`` output."""
    folder = Path(folder)
    js = folder / "ifg_stack.json"
    if not js.is_file():
        raise IfgCatalogError(f"{folder}: no ifg_stack.json (not an ifg-stack or ifg-stack-gather output)")
    summary = json.loads(js.read_text())
    insar = sorted(p for p in folder.glob("INSAR_*") if p.is_dir())
    if len(insar) != 1:
        raise IfgCatalogError(f"{folder}: expected one INSAR_<reference> folder, found {len(insar)}")
    return summary, insar[0]


def _footprint(insar: Path, ref: str, n_lines: int, n_samples: int) -> tuple[dict[str, Any] | None, list[float] | None]:
    """GeoJSON polygon and bbox of the stack from ``geo/<ref>.lon`` / ``.lat`` (float32 big-endian)."""
    lon_p, lat_p = insar / "geo" / f"{ref}.lon", insar / "geo" / f"{ref}.lat"
    if not (lon_p.is_file() and lat_p.is_file()):
        return None, None
    n = n_lines * n_samples
    lon = np.fromfile(lon_p, ">f4")
    lat = np.fromfile(lat_p, ">f4")
    if lon.size != n or lat.size != n:
        return None, None
    ok = np.isfinite(lon) & np.isfinite(lat) & (lon != 0) & (lat != 0)
    if not ok.any():
        return None, None
    w, e = float(lon[ok].min()), float(lon[ok].max())
    s, nn = float(lat[ok].min()), float(lat[ok].max())
    geom = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, nn], [w, nn], [w, s]]]}
    return geom, [w, s, e, nn]


def _link_href(href: str) -> str:
    """A URI for a link: local paths become ``file://`` URIs."""
    if "://" in href:
        return href
    return Path(href).resolve().as_uri()


def _asset(href: str, title: str, roles: list[str], media: str, path: Path) -> Any:
    import pystac

    extra = fields.file_fields(path) if path.is_file() else {}
    return pystac.Asset(href, title=title, media_type=media, roles=roles, extra_fields=extra)


def build_ifg_stack_catalog(gathered: list[Path], out_dir: Path, input_items: dict[str, str] | None = None,
                            catalog_id: str | None = None) -> Path:
    """Publish the stack catalog of the gathered sub-swath stacks ``gathered``; return its ``catalog.json``.

    ``input_items`` maps a SAFE product name (``S1A_IW_SLC__...SAFE``) to the href of its input
    STAC item (or SAFE); products not in it are linked by name only (``title``, no href is made up).
    """
    import pystac

    from .publish import save_catalog_atomic

    if not gathered:
        raise IfgCatalogError("no gathered stacks given")
    items_of = dict(input_items or {})
    loaded = [gathered_summary(Path(g)) for g in gathered]
    swaths = [s.get("subswath") for s, _ in loaded]
    if len(set(swaths)) != len(swaths):
        raise IfgCatalogError(f"several stacks of one sub-swath ({', '.join(map(str, swaths))}); gather each sub-swath once")
    refs = {insar.name for _, insar in loaded}
    if len(refs) != 1:
        raise IfgCatalogError(f"the stacks have different references ({', '.join(sorted(refs))})")
    ref = refs.pop().removeprefix("INSAR_")
    ref_date = dt.datetime.strptime(ref, "%Y%m%d").date()
    cid = catalog_id or f"ifg-stack-{ref}"
    ext = [EXT["sar"], EXT["processing"], EXT["insar"], EXT["file"]]

    cat = pystac.Catalog(cid, f"Sentinel-1 single-reference interferogram stack, reference {ref_date}: "
                              f"{', '.join(sorted(map(str, swaths)))} in the layout of SNAP's StaMPS export",
                         title=f"snapstamps interferogram stack {cid}")
    files: dict[str, Path] = {}
    for summary, insar in sorted(loaded, key=lambda x: str(x[0].get("subswath"))):
        swath = str(summary.get("subswath") or "")
        pol = summary.get("polarisation")
        geom, bbox = _footprint(insar, ref, int(summary.get("n_lines") or 0), int(summary.get("n_samples") or 0))
        ref_product = str(summary.get("reference") or "")
        pairs = sorted(summary.get("pairs") or [], key=lambda p: p["date"])
        sid = f"stack-{ref}-{swath}" if swath else f"stack-{ref}"
        facts = fields.stack_summary_fields(summary)
        track: dict[str, Any] = {}
        if facts.get("platform"):
            track["platform"] = facts["platform"]
        # the insar proposal's schema rejects sat:* next to insar:* (see stac/psi.py): snapstamps:* here,
        # sat:* on the psi items made from this stack
        if facts.get("relative_orbit"):
            track["snapstamps:relative_orbit"] = facts["relative_orbit"]
        if facts.get("orbit_state"):
            track["snapstamps:orbit_state"] = facts["orbit_state"]
        extra = {
            **track,
            "snapstamps:reference_product": ref_product,
            "snapstamps:secondary_products": [p.get("secondary") for p in pairs],
            "snapstamps:n_lines": summary.get("n_lines"),
            "snapstamps:n_samples": summary.get("n_samples"),
        }
        sitem = stack_item(insar, swath or None, pol, extra)
        sitem.id = sid
        sitem.geometry, sitem.bbox = geom, bbox
        sitem.stac_extensions = list(dict.fromkeys(sitem.stac_extensions + [EXT["file"]]))
        sitem.assets["stamps-export"] = pystac.Asset(
            f"./{insar.name}", title=f"StaMPS export directory {insar.name} ({swath})",
            roles=["data", STAMPS_EXPORT_ROLE])
        js = Path(insar.parent / "ifg_stack.json")
        sitem.add_asset("ifg_stack", _asset("./ifg_stack.json", "interferogram-stack run summary (deburst plan, "
                                            "ESD shifts, baselines, timings)", ["metadata"], "application/json", js))
        files[f"{sid}/ifg_stack.json"] = js
        for f in sorted(p for p in insar.rglob("*") if p.is_file()):
            files[f"{sid}/{insar.name}/{f.relative_to(insar).as_posix()}"] = f
        _add_input_link(sitem, "reference", ref_product, items_of)
        cat.add_item(sitem)

        base = f"../{sid}/{insar.name}"
        for p in pairs:
            sec = p["date"].replace("-", "")
            sec_date = dt.datetime.strptime(sec, "%Y%m%d").date()
            days = (sec_date - ref_date).days
            bperp = float(p["bperp_centre_m"])
            pid = f"ifg-{ref}-{sec}-{swath}" if swath else f"ifg-{ref}-{sec}"
            props: dict[str, Any] = {
                "title": f"{ref}/{sec} {swath}: coregistered secondary and interferogram",
                "start_datetime": fields.iso(min(ref_date, sec_date)),
                "end_datetime": fields.iso(max(ref_date, sec_date)),
                "insar:reference_datetime": fields.iso(ref_date),
                "insar:secondary_datetime": fields.iso(sec_date),
                "insar:perpendicular_baseline": f"{bperp:.3f}",
                "snapstamps:perpendicular_baseline_m": round(bperp, 4),
                "snapstamps:temporal_baseline_days": days,
                "snapstamps:reference_product": ref_product,
                "snapstamps:secondary_product": p.get("secondary"),
                **fields.sar_fields(polarisation=pol, swath=swath or None),
                **track,
                **fields.processing_fields("TOPS coregistration (DEM-assisted, ESD), interferogram with "
                                           "topographic phase removed, deburst (snapstamps native engine)",
                                           level=fields.PROCESSING_LEVELS["interferogram"]),
            }
            if abs(days) >= 1:
                props["insar:temporal_baseline"] = abs(days)
            if p.get("esd_shift_lines") is not None and math.isfinite(float(p["esd_shift_lines"])):
                props["snapstamps:esd_shift_lines"] = float(p["esd_shift_lines"])
            item = pystac.Item(pid, geom, bbox, dt.datetime.combine(sec_date, dt.time(), tzinfo=dt.timezone.utc),
                               props, stac_extensions=list(ext))
            rs = insar / "rslc" / f"{sec}.rslc"
            item.add_asset("coregistered_secondary", _asset(
                f"{base}/rslc/{sec}.rslc", f"secondary {sec} resampled on the reference grid (complex float32, big-endian)",
                ["data", "magnitude"], BINARY, rs))
            item.add_asset("coregistered_secondary_par", _asset(
                f"{base}/rslc/{sec}.rslc.par", "its parameter file", ["metadata"], TEXT, Path(f"{rs}.par")))
            diff = insar / "diff0" / f"{ref}_{sec}.diff"
            item.add_asset("interferogram", _asset(
                f"{base}/diff0/{ref}_{sec}.diff", "interferogram reference x conj(secondary), topographic phase removed "
                "(complex float32, big-endian)", ["data", "phase"], BINARY, diff))
            item.add_asset("interferogram_par", _asset(
                f"{base}/diff0/{ref}_{sec}.diff.par", "its parameter file", ["metadata"], TEXT, Path(f"{diff}.par")))
            item.add_asset("baseline", _asset(
                f"{base}/diff0/{ref}_{sec}.base", "baseline file (TCN)", ["metadata"], TEXT,
                insar / "diff0" / f"{ref}_{sec}.base"))
            _add_input_link(item, "reference", ref_product, items_of)
            _add_input_link(item, "secondary", str(p.get("secondary") or ""), items_of)
            item.add_link(pystac.Link("related", f"../{sid}/{sid}.json", media_type="application/geo+json",
                                      title=f"stack item {sid}"))
            cat.add_item(item)
    return save_catalog_atomic(cat, Path(out_dir), files, hardlink=True)


def _add_input_link(item: Any, rel: str, product: str, items_of: dict[str, str]) -> None:
    """Link ``rel`` (``reference``/``secondary``) to the input item of ``product``, when known."""
    import pystac

    href = items_of.get(product) or items_of.get(product.removesuffix(".zip"))
    if not href:
        return
    is_item = href.lower().endswith(".json")
    item.add_link(pystac.Link(rel, _link_href(href), media_type="application/geo+json" if is_item else None,
                              title=f"{rel} SLC {product}"))


def read_ifg_stack_catalog(catalog: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """The gathered folder of each sub-swath of a stack catalog, and the input-item hrefs it links to.

    The inverse of :func:`build_ifg_stack_catalog`, for extending a stack
    (:mod:`snapstamps.workflows.ifg_extend`): ``({swath: stack item folder holding INSAR_<ref>/ and
    ifg_stack.json}, {SAFE product: href of its input item})``.
    """
    import pystac

    cat_path = Path(catalog)
    if cat_path.is_dir():
        cat_path = cat_path / "catalog.json"
    if not cat_path.is_file():
        raise IfgCatalogError(f"{catalog}: no stack catalog.json")
    try:
        root = pystac.read_file(str(cat_path.resolve()))
    except Exception as exc:  # pystac raises several kinds on malformed STAC
        raise IfgCatalogError(f"{cat_path}: not a readable STAC catalog ({exc})") from None
    folders: dict[str, Path] = {}
    inputs: dict[str, str] = {}
    for item in root.get_items(recursive=True):
        props = item.properties
        for rel, key in (("reference", "snapstamps:reference_product"), ("secondary", "snapstamps:secondary_product")):
            link = item.get_single_link(rel)
            if link is not None and props.get(key):
                inputs[str(props[key])] = link.get_absolute_href() or link.href
        asset = item.assets.get("stamps-export")
        if asset is None:
            continue
        folder = Path(asset.get_absolute_href() or asset.href).parent
        if not (folder / "ifg_stack.json").is_file():
            raise IfgCatalogError(f"{cat_path}: stack item {item.id} has no ifg_stack.json (not made by interferogram-stack)")
        swath = (props.get("sar:beam_ids") or [""])[0]
        folders[swath] = folder
    if not folders:
        raise IfgCatalogError(f"{cat_path}: no stack item (asset 'stamps-export')")
    return folders, inputs
