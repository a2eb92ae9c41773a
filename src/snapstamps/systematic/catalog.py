"""Catalog side of a tick: search the STAC API for new acquisitions, stage in the SAFEs a pair needs.

:func:`search_dates` asks the subscription's STAC API (``pystac-client``, through
:func:`snapstamps.stac.search.search_slc`: collection, AOI box, date range, relative orbit and pass)
for the items acquired on or after a date, keeps the IW SLC items of the subscription's
polarisation, writes each item (asset hrefs made absolute) to ``ITEMS/<id>.json`` and groups them
by acquisition date (UTC): the slices of one pass are one date.

:func:`stage_date` turns the items of a date into local SAFEs: a local SAFE is used in place; a
remote one (``s3://`` or ``http(s)://``) is staged in (only ``manifest.safe``, the annotations and
the measurement files of the sub-swaths and polarisation processed) into ``SAFES/<product>``, built
under a temporary name and renamed, so a staged product is complete or absent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io.atomic import atomic_write_text
from .model import Subscription

__all__ = ["search_dates", "stage_date", "unstage"]

_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


def _item_date(item: Any) -> dt.date | None:
    when = item.datetime or item.common_metadata.start_datetime
    if when is None:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return when.date()


def _wanted(item: Any, sub: Subscription) -> bool:
    """IW SLC items of the subscription's polarisation (fields checked only where the item has them)."""
    p = item.properties
    pols = p.get("sar:polarizations")
    if pols and sub.polarisation not in [str(x).upper() for x in pols]:
        return False
    mode = p.get("sar:instrument_mode")
    if mode and str(mode).upper() != "IW":
        return False
    ptype = p.get("product:type") or p.get("sar:product_type")
    return not (ptype and not str(ptype).upper().startswith(("IW_SLC", "SLC")))


def search_dates(sub: Subscription, since: dt.date, items_dir: Path) -> tuple[dict[dt.date, list[dict[str, Any]]], int]:
    """Items acquired on or after ``since`` (and not before ``sub.start``), grouped by date.

    Returns ``({date: [{"id", "item", "href"}]}, number of items returned by the API)``; ``item`` is
    the local copy of the item JSON, ``href`` its URL at the API (when the API gives one).
    """
    from ..stac.search import search_slc

    since = max(since, sub.start)
    try:
        items = search_slc(sub.stac_api, sub.collection, bbox=list(sub.bbox), datetime=f"{since.isoformat()}T00:00:00Z/..",
                           relative_orbit=sub.relative_orbit, orbit_state=sub.orbit_state, max_items=sub.max_items)
    except Exception as exc:  # network and API errors of many kinds: one line naming the API
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{sub.stac_api}: catalog search failed ({msg})") from None
    items_dir = Path(items_dir)
    items_dir.mkdir(parents=True, exist_ok=True)
    found: dict[dt.date, list[dict[str, Any]]] = {}
    for item in items:
        d = _item_date(item)
        if d is None or d < since or not _wanted(item, sub):
            continue
        self_href = item.get_self_href()
        if self_href:
            item.make_asset_hrefs_absolute()
        path = items_dir / f"{_SAFE_ID.sub('_', item.id)[:200]}.json"
        doc = item.to_dict(include_self_link=False, transform_hrefs=False)
        atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
        found.setdefault(d, []).append({"id": item.id, "item": str(path), "href": self_href})
    for prods in found.values():
        prods.sort(key=lambda p: p["id"])
    return found, len(items)


def stage_date(products: list[dict[str, Any]], swaths: list[str], polarisation: str, safes_dir: Path) -> list[Path]:
    """The local SAFEs of one date's products (staged in when remote); :class:`InputError` naming the product otherwise."""
    from ..stac.remote_safe import stage_in_safe
    from ..stac.s3io import RemoteReadError
    from ..stac.slc import resolve_slc

    out = []
    for p in products:
        res = resolve_slc(p["item"], remote=True)
        if not res.remote:
            out.append(Path(res.safe))
            continue
        final = Path(safes_dir) / res.product
        if (final / "manifest.safe").is_file():
            out.append(final)
            continue
        tmp = Path(safes_dir) / f".{res.product}.tmp-{uuid.uuid4().hex[:12]}"
        try:
            staged = stage_in_safe(res.safe.url, tmp, swaths, polarisation)  # type: ignore[union-attr]
            os.replace(staged, final)
        except RemoteReadError as exc:
            raise InputError(f"{p['id']}: stage-in failed ({exc})") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        out.append(final)
    return out


def unstage(safes: list[Path], safes_dir: Path) -> None:
    """Remove the staged copies among ``safes`` (a date done and not the reference); local SAFEs are left alone."""
    root = Path(safes_dir).resolve()
    for s in safes:
        if Path(s).resolve().parent == root:
            shutil.rmtree(s, ignore_errors=True)
