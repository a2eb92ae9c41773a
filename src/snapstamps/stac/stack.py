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
        **fields.processing_fields("StaMPS export (INSAR_<master>): coregistered SLCs and interferograms"),
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
    ``out_dir`` and absolute otherwise.
    """
    import pystac

    out_dir = Path(out_dir)
    cat = pystac.Catalog("stack", "Sentinel-1 interferogram stack(s) in the StaMPS export layout",
                         title="snapstamps stack catalog")
    for k, insar in enumerate(insar_dirs):
        sw = swaths[k] if swaths else None
        cat.add_item(stack_item(Path(insar), sw, polarisation))
    from .publish import save_catalog_atomic

    return save_catalog_atomic(cat, out_dir)
