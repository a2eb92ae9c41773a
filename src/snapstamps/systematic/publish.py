"""Versioned results of a subscription: one STAC collection, growing.

Layout of the published folder (``destination``, default ``DATA/subscriptions/NAME/public``)::

    collection.json                 Collection "subscription-NAME" (written last, so it never names
                                    what is not there yet)
    stack/catalog.json              the interferogram stack: one pair item more per new date and sub-swath
    psi/v<N>/<swath>/catalog.json   the psi results of version N (points, exports, rasters, report, viewer)
    versions/psi-v<N>.json          item of version N: dates covered, PS per sub-swath, psi parameters,
                                    links predecessor-version / successor-version, assets to its catalogs
    latest/<swath>/catalog.json     the newest version again (hard links), at a path that never changes

The collection links the stack and every version's catalogs as ``child``, the version items as
``item``, the newest version item as ``latest-version`` and the ``latest/`` catalogs as
``alternate``.  Older versions stay where they are: nothing published is ever rewritten but the
version items' ``successor-version`` links, ``deprecated`` flags and the collection.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..io.atomic import atomic_dir, atomic_write_text
from ..stac import fields
from .model import Subscription

__all__ = ["publish_psi_catalogs", "sync_to_s3", "write_collection"]


def _aoi_geometry(sub: Subscription) -> dict[str, Any]:
    if isinstance(sub.aoi, dict):
        return sub.aoi.get("geometry", sub.aoi) if sub.aoi.get("type") == "Feature" else sub.aoi
    w, s, e, n = sub.bbox
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def publish_psi_catalogs(public: Path, sub: Subscription, version: int, results: dict[str, Path],
                         stack_catalog: Path) -> dict[str, Path]:
    """The psi catalog of each sub-swath's result of ``version`` under ``public/psi/v<version>/``."""
    from ..stac.psi import build_psi_catalog

    out = {}
    for swath, res in sorted(results.items()):
        out[swath] = build_psi_catalog(res, Path(public) / "psi" / f"v{version}" / swath,
                                       catalog_id=f"{sub.name}-psi-v{version}-{swath}",
                                       stack_ref=Path(stack_catalog).resolve().as_uri(), polarisation=sub.polarisation,
                                       swath=swath)
    return out


def _version_item(sub: Subscription, cid: str, v: dict[str, Any], prev: int | None, nxt: int | None,
                  public: Path) -> dict[str, Any]:
    n = v["version"]
    dates = [d.isoformat() for d in v["dates"]]
    assets: dict[str, Any] = {}
    for swath in sorted(v["n_ps"]):
        cat = public / "psi" / f"v{n}" / swath / "catalog.json"
        if cat.is_file():
            assets[f"catalog-{swath}"] = {"href": f"../psi/v{n}/{swath}/catalog.json", "type": "application/json",
                                          "roles": ["metadata"], "title": f"psi results {swath}, version {n}"}
        pq = sorted((public / "psi" / f"v{n}" / swath).rglob("ps_points.parquet"))
        if pq:
            assets[f"points-{swath}"] = {"href": "../" + pq[0].relative_to(public).as_posix(),
                                         "type": "application/vnd.apache.parquet", "roles": ["data"],
                                         "title": f"PS points {swath}, version {n} (GeoParquet)"}
    links = [{"rel": "root", "href": "../collection.json", "type": "application/json"},
             {"rel": "parent", "href": "../collection.json", "type": "application/json"},
             {"rel": "collection", "href": "../collection.json", "type": "application/json"}]
    if prev is not None:
        links.append({"rel": "predecessor-version", "href": f"./psi-v{prev}.json", "type": "application/geo+json"})
    if nxt is not None:
        links.append({"rel": "successor-version", "href": f"./psi-v{nxt}.json", "type": "application/geo+json"})
    w, s, e, nn = sub.bbox
    return {
        "type": "Feature", "stac_version": "1.1.0", "stac_extensions": [fields.EXT["sar"]],
        "id": f"{sub.name}-psi-v{n}", "collection": cid,
        "geometry": _aoi_geometry(sub), "bbox": [w, s, e, nn],
        "properties": {
            "title": f"{sub.name}: psi version {n} ({len(dates)} dates, {dates[0]} to {dates[-1]})",
            "datetime": None, "start_datetime": fields.iso(dates[0]), "end_datetime": fields.iso(dates[-1]),
            "created": v["created"],
            "version": str(n), "deprecated": nxt is not None,
            "snapstamps:version": n,
            "snapstamps:reference_date": v["reference"].isoformat(),
            "snapstamps:dates": dates,
            "snapstamps:n_dates": len(dates),
            "snapstamps:n_ps": v["n_ps"],
            "snapstamps:psi_parameters": v["params"].get("requested", {}),
            "snapstamps:psi_parameters_effective": v["params"].get("effective", {}),
            "snapstamps:los_sign": "toward_satellite_positive",
            **fields.sar_fields(polarisation=sub.polarisation),
        },
        "links": links,
        "assets": assets,
    }


def _copy_latest(public: Path, version: int) -> None:
    """``latest/`` := ``psi/v<version>/`` (hard links; replaced in one rename), unless it already is."""
    marker = public / "latest" / "version.json"
    if marker.is_file() and json.loads(marker.read_text()).get("version") == version:
        return
    src = public / "psi" / f"v{version}"

    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    with atomic_dir(public / "latest") as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True, copy_function=link)
        (tmp / "version.json").write_text(json.dumps({"version": version}) + "\n")


def write_collection(public: Path, sub: Subscription, versions: list[dict[str, Any]], swaths: list[str],
                     stack_dates: list[dt.date]) -> Path:
    """Write the version items, ``latest/`` and, last, ``collection.json``; return its path."""
    from ..stac.collections import collection_definitions

    public = Path(public)
    cid = f"subscription-{sub.name}"
    nums = [v["version"] for v in versions]
    for i, v in enumerate(versions):
        item = _version_item(sub, cid, v, nums[i - 1] if i else None, nums[i + 1] if i + 1 < len(nums) else None, public)
        atomic_write_text(public / "versions" / f"psi-v{v['version']}.json", json.dumps(item, indent=1) + "\n")
    if versions:
        _copy_latest(public, nums[-1])
    doc = copy.deepcopy(collection_definitions()["subscriptions"])
    doc["id"] = cid
    doc["title"] = f"snapstamps subscription {sub.name}"
    orbit = f"relative orbit {sub.relative_orbit}" + (f" {sub.orbit_state}" if sub.orbit_state else "")
    doc["description"] = (f"Sentinel-1 {sub.polarisation} {orbit}, sub-swaths {', '.join(swaths) or 'to be chosen'}, "
                          f"kept up to date from {sub.collection} at {sub.stac_api}. " + doc["description"])
    doc["extent"] = {"spatial": {"bbox": [list(sub.bbox)]},
                     "temporal": {"interval": [[fields.iso(stack_dates[0]) if stack_dates else fields.iso(sub.start),
                                                fields.iso(stack_dates[-1]) if stack_dates else None]]}}
    doc["summaries"]["sar:polarizations"] = [sub.polarisation]
    if swaths:
        doc["summaries"]["sar:beam_ids"] = list(swaths)
    doc["summaries"]["sat:relative_orbit"] = [sub.relative_orbit]
    links = [{"rel": "root", "href": "./collection.json", "type": "application/json"}]
    if (public / "stack" / "catalog.json").is_file():
        links.append({"rel": "child", "href": "./stack/catalog.json", "type": "application/json",
                      "title": f"interferogram stack ({len(stack_dates)} dates)"})
    for v in versions:
        for swath in sorted(v["n_ps"]):
            if (public / "psi" / f"v{v['version']}" / swath / "catalog.json").is_file():
                links.append({"rel": "child", "href": f"./psi/v{v['version']}/{swath}/catalog.json",
                              "type": "application/json", "title": f"psi results {swath}, version {v['version']}"})
        links.append({"rel": "item", "href": f"./versions/psi-v{v['version']}.json", "type": "application/geo+json",
                      "title": f"version {v['version']}"})
    if versions:
        last = versions[-1]
        links.append({"rel": "latest-version", "href": f"./versions/psi-v{last['version']}.json",
                      "type": "application/geo+json", "title": f"version {last['version']}"})
        for swath in sorted(last["n_ps"]):
            links.append({"rel": "alternate", "href": f"./latest/{swath}/catalog.json", "type": "application/json",
                          "title": f"newest psi results {swath} (stable path, replaced by each new version)"})
    doc["links"] = links
    path = public / "collection.json"
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    return path


def sync_to_s3(public: Path, dest: str) -> int:
    """Upload the published folder to the ``s3://`` prefix ``dest``; returns the number of objects written.

    Objects already there with the same size are skipped, except JSON documents (rewritten as they
    change); ``collection.json`` goes last, so a reader never finds it naming a missing object.
    """
    from ..stac.s3io import parse_s3_url, s3_client

    bucket, key = parse_s3_url(dest)
    prefix = key.strip("/") + "/" if key.strip("/") else ""
    client = s3_client()
    have: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            have[o["Key"]] = int(o["Size"])
    public = Path(public)
    root = public / "collection.json"
    files = sorted(p for p in public.rglob("*") if p.is_file() and p != root and not any(
        part.startswith(".") for part in p.relative_to(public).parts)) + ([root] if root.is_file() else [])
    n = 0
    for f in files:
        k = prefix + f.relative_to(public).as_posix()
        if f.suffix != ".json" and have.get(k) == f.stat().st_size:
            continue
        ctype = "application/json" if f.suffix == ".json" else "application/octet-stream"
        client.upload_file(str(f), bucket, k, ExtraArgs={"ContentType": ctype})
        n += 1
    return n
