"""Search a STAC API for Sentinel-1 SLC items (pystac-client), for users starting from a catalog API."""

from __future__ import annotations

from typing import Any


def search_slc(url: str, collection: str = "sentinel-1-slc", bbox: list[float] | None = None,
               datetime: str | None = None, relative_orbit: int | None = None,
               orbit_state: str | None = None, max_items: int = 100) -> list[Any]:
    """Items of ``collection`` in ``bbox``/``datetime``, filtered on ``sat:relative_orbit`` / ``sat:orbit_state``.

    The orbit filters go to the API as a CQL2-JSON ``filter`` when it declares the Filter
    conformance class, and are applied to the returned items in any case.
    """
    from pystac_client import Client

    client = Client.open(url)
    args: dict[str, Any] = {"collections": [collection], "max_items": max_items}
    if bbox:
        args["bbox"] = list(bbox)
    if datetime:
        args["datetime"] = datetime
    conds = []
    if relative_orbit is not None:
        conds.append({"op": "=", "args": [{"property": "sat:relative_orbit"}, relative_orbit]})
    if orbit_state:
        conds.append({"op": "=", "args": [{"property": "sat:orbit_state"}, orbit_state]})
    if conds and client.conforms_to("FILTER"):  # type: ignore[arg-type]
        args["filter"] = conds[0] if len(conds) == 1 else {"op": "and", "args": conds}
        args["filter_lang"] = "cql2-json"
    items = list(client.search(**args).items())
    if relative_orbit is not None:
        items = [i for i in items if i.properties.get("sat:relative_orbit") == relative_orbit]
    if orbit_state:
        items = [i for i in items if i.properties.get("sat:orbit_state") == orbit_state]
    return items
