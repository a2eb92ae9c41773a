"""Stack catalogs: the STAC form of an ``INSAR_<master>`` stack (input of psi).

A *stack catalog* is a static STAC catalog with one item per subswath.  Each stack item holds
the ``INSAR_<master>`` directory (SNAP's StaMPS export layout) as an asset with the role
``stamps-export``; its properties carry the master date (``insar:reference_datetime``), the
acquisition dates, the SAR/satellite fields and the sub-swath (``sar:beam_ids``).  The
interferogram-stack pipeline writes such catalogs; :func:`write_stack_catalog` also makes one
for an existing ``INSAR_<master>`` directory.

:func:`resolve_stack` turns what a user gives the psi process as ``stack`` (an ``INSAR_<date>``
directory, a stack ``catalog.json``, a directory holding one, or a ``file://`` URL of either)
into the local ``INSAR_<master>`` directory.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..errors import SnapstampsError
from . import fields

STAMPS_EXPORT_ROLE = "stamps-export"

#: Stack items resolved in this process, by resolved ``INSAR_<master>`` path: (item href, properties).
#: :func:`stack_properties` reads them, so a psi run on a stack catalog keeps the catalog's facts
#: even when the ``INSAR_<master>`` directory lives elsewhere.
_RESOLVED: dict[Path, tuple[str, dict[str, Any]]] = {}


class StackError(SnapstampsError):
    """The stack reference cannot be resolved to an ``INSAR_<master>`` directory."""


def _local_path(ref: str | Path) -> Path:
    text = str(ref)
    if "://" in text:
        url = urlparse(text)
        if url.scheme != "file":
            raise StackError(
                f"{text}: {url.scheme}:// stacks must be staged in first (only local paths and file:// URLs here)"
            )
        return Path(unquote(url.path))
    return Path(text)


def is_insar_dir(path: Path) -> bool:
    """True for a directory in the ``INSAR_<master>`` layout (``rslc/`` and ``diff0/``)."""
    return path.is_dir() and (path / "rslc").is_dir() and (path / "diff0").is_dir()


def resolve_stack(ref: str | Path, swath: str | None = None) -> Path:
    """Return the ``INSAR_<master>`` directory a stack reference points to.

    ``ref`` is an ``INSAR_<date>`` directory, a stack catalog (``catalog.json`` or a
    directory containing one; a catalog staged per the EO Application Package best practice),
    or a ``file://`` URL of either.  ``swath`` (``IW1``..``IW3``) picks the item when the catalog
    has one stack item per sub-swath.
    """
    path = _local_path(ref)
    if not path.exists():
        raise StackError(f"{path}: no such stack (expected an INSAR_<date> directory or a stack catalog.json)")
    if is_insar_dir(path):
        return path.resolve()
    cat = path / "catalog.json" if path.is_dir() else path
    if not cat.is_file():
        raise StackError(f"{path}: neither an INSAR_<date> directory (rslc/, diff0/) nor a directory with catalog.json")
    import pystac

    try:
        root = pystac.read_file(str(cat.resolve()))
    except Exception as exc:  # pystac raises several error types for malformed JSON/STAC
        raise StackError(f"{cat}: not a readable STAC document ({exc})") from exc
    items = [root] if isinstance(root, pystac.Item) else list(root.get_items(recursive=True))
    found: list[tuple[str | None, Path]] = []
    for item in items:
        for asset in item.assets.values():
            if STAMPS_EXPORT_ROLE in (asset.roles or []):
                beams = item.properties.get("sar:beam_ids") or [None]
                found.append((beams[0], Path(_local_path(asset.get_absolute_href() or asset.href))))
                href = item.get_self_href() or str(cat.resolve())
                _RESOLVED[found[-1][1].resolve()] = (Path(href).resolve().as_uri() if "://" not in href else href,
                                                    dict(item.properties))
    if swath:
        found = [f for f in found if f[0] == swath]
    if not found:
        what = f" for sub-swath {swath}" if swath else ""
        raise StackError(f"{cat}: no item with a '{STAMPS_EXPORT_ROLE}' asset{what}")
    if len(found) > 1:
        raise StackError(f"{cat}: {len(found)} stacks ({', '.join(str(s) for s, _ in found)}); choose a sub-swath")
    insar = found[0][1]
    if not is_insar_dir(insar):
        raise StackError(f"{cat}: its stack asset {insar} is not an INSAR_<date> directory")
    return insar.resolve()


def stack_properties(insar_dir: str | Path) -> dict[str, Any]:
    """What a psi result keeps of its input stack, found beside the ``INSAR_<master>`` directory.

    Looks for a STAC stack item next to the directory (its ``stamps-export`` asset pointing at
    it: the layout of the stack catalogs written here), else for the ``ifg_stack.json`` of an
    ``ifg-stack``/``ifg-stack-gather`` output.  Returns (keys present only when known)
    ``href`` (absolute ``file://`` URI of the stack item, else of the directory), ``polarisation``,
    ``swath``, ``relative_orbit``, ``orbit_state`` and ``platform``.
    """
    import json

    insar = Path(insar_dir).resolve()
    out: dict[str, Any] = {"href": insar.as_uri()}
    if insar in _RESOLVED:
        href, props = _RESOLVED[insar]
        out["href"] = href
        return _with_item_properties(out, props)
    for cand in sorted(insar.parent.glob("*.json")):
        try:
            doc = json.loads(cand.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict) or doc.get("type") != "Feature":
            continue
        for asset in (doc.get("assets") or {}).values():
            href = str(asset.get("href", ""))
            if STAMPS_EXPORT_ROLE in (asset.get("roles") or []) and \
                    _local_path(href if "://" in href or Path(href).is_absolute() else cand.parent / href).resolve() == insar:
                out["href"] = cand.resolve().as_uri()
                return _with_item_properties(out, doc.get("properties") or {})
    summary = insar.parent / "ifg_stack.json"
    if summary.is_file():
        try:
            js = json.loads(summary.read_text())
        except ValueError:
            return out
        out.update(fields.stack_summary_fields(js))
    return out


def _with_item_properties(out: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    pols, beams = props.get("sar:polarizations") or [], props.get("sar:beam_ids") or []
    if pols:
        out["polarisation"] = pols[0]
    if beams:
        out["swath"] = beams[0]
    for key, name in (("snapstamps:relative_orbit", "relative_orbit"), ("sat:relative_orbit", "relative_orbit"),
                      ("snapstamps:orbit_state", "orbit_state"), ("sat:orbit_state", "orbit_state"),
                      ("platform", "platform")):
        if props.get(key) is not None:
            out[name] = props[key]
    return out


def _stack_dates(insar: Path) -> tuple[dt.date, list[dt.date]]:
    m = re.fullmatch(r"INSAR_(\d{8})", insar.name)
    dates: set[dt.date] = set()
    for f in (insar / "diff0").glob("*_*.diff"):
        mm = re.fullmatch(r"(\d{8})_(\d{8})\.diff", f.name)
        if mm:
            dates.update(dt.datetime.strptime(x, "%Y%m%d").date() for x in mm.groups())
    if m:
        master = dt.datetime.strptime(m.group(1), "%Y%m%d").date()
    elif dates:
        master = min(dates)
    else:
        raise StackError(f"{insar}: cannot tell the master date (name it INSAR_<yyyymmdd>)")
    dates.add(master)
    return master, sorted(dates)


def stack_item(insar: Path, swath: str | None = None, polarisation: str | None = None,
               extra: dict[str, Any] | None = None) -> Any:
    """A STAC item describing one ``INSAR_<master>`` directory (href relative once saved)."""
    import pystac

    master, dates = _stack_dates(insar)
    when = dt.datetime.combine(master, dt.time(), tzinfo=dt.timezone.utc)
    item_id = f"stack-{master:%Y%m%d}" + (f"-{swath}" if swath else "")
    props: dict[str, Any] = {
        "title": f"INSAR_{master:%Y%m%d} stack ({len(dates)} acquisitions)",
        "start_datetime": fields.iso(dates[0]),
        "end_datetime": fields.iso(dates[-1]),
        "insar:reference_datetime": fields.iso(master),
        "snapstamps:dates": [d.isoformat() for d in dates],
        **fields.sar_fields(polarisation=polarisation, swath=swath),
        **fields.processing_fields("StaMPS export (INSAR_<master>): coregistered SLCs and interferograms",
                                   level=fields.PROCESSING_LEVELS["stack"]),
    }
    props.update(extra or {})
    item = pystac.Item(item_id, geometry=None, bbox=None, datetime=when, properties=props,
                       stac_extensions=[fields.EXT["sar"], fields.EXT["processing"], fields.EXT["insar"]])
    item.add_asset(
        "stamps-export",
        pystac.Asset(str(insar.resolve()), title=f"StaMPS export directory {insar.name}",
                     roles=["data", STAMPS_EXPORT_ROLE]),
    )
    return item


def write_stack_catalog(insar_dirs: list[Path], out_dir: Path, swaths: list[str] | None = None,
                        polarisation: str | None = None) -> Path:
    """Write a stack catalog for existing ``INSAR_<master>`` directories; return ``catalog.json``.

    The INSAR directories stay where they are; asset hrefs are relative when they are below
    ``out_dir`` and absolute otherwise.  Sub-swath, polarisation, relative orbit, orbit state and
    platform come from the arguments, else from an ``ifg_stack.json`` beside each directory.
    """
    import pystac

    out_dir = Path(out_dir)
    cat = pystac.Catalog("stack", "Sentinel-1 interferogram stack(s) in the StaMPS export layout",
                         title="snapstamps stack catalog")
    for k, insar in enumerate(insar_dirs):
        facts = stack_properties(insar)  # an ifg-stack output's ifg_stack.json beside it, when there
        sw = (swaths[k] if swaths else None) or facts.get("swath")
        extra = {f"snapstamps:{key}": facts[key] for key in ("relative_orbit", "orbit_state") if facts.get(key)}
        if facts.get("platform"):
            extra["platform"] = facts["platform"]
        cat.add_item(stack_item(Path(insar), sw, polarisation or facts.get("polarisation"), extra))
    from .publish import save_catalog_atomic

    return save_catalog_atomic(cat, out_dir)
