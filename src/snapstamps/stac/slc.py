"""Sentinel-1 SLC inputs of the interferogram-stack pipeline: STAC items or SAFE products.

The service takes each SLC (``reference``, ``secondaries``) as a reference to a STAC item of the
product (a path, ``file://`` or ``http(s)://`` URL of the item JSON, as CDSE's ``sentinel-1-slc``
collection serves them) or, for local work, the SAFE product itself (its folder, its
``manifest.safe`` or its ``.zip``).  :func:`resolve_slc` turns either into the local SAFE the
engine reads, plus the href of the input item that the stack catalog links to.

How an item's SAFE is found (:func:`safe_href`): an asset whose href ends with ``.SAFE`` (the
product folder), ``.SAFE/manifest.safe`` (its manifest; the folder is its parent) or ``.zip``;
assets keyed ``safe``/``product``/``manifest``/``safe_manifest`` or with the role ``data`` first.
Only local SAFEs are processed here: an ``s3://`` or ``http(s)://`` SAFE must be staged in first,
and :class:`SlcError` says so.

:func:`swath_footprints` reads the lon/lat extent of each sub-swath from the annotation's
geolocation grid (XML only, fast): the service uses it to check the area of interest and to pick
the default sub-swaths before a job is created.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..errors import SnapstampsError

__all__ = [
    "ResolvedSlc",
    "SlcError",
    "bbox_intersects",
    "resolve_slc",
    "safe_href",
    "safe_layers",
    "swath_footprints",
]

#: asset keys tried first, in order, when an item has several candidate assets
PREFERRED_KEYS = ("safe", "SAFE", "product", "manifest", "safe_manifest", "safe-manifest", "data")
_SAFE_RE = re.compile(r"\.SAFE/?$", re.IGNORECASE)
_MANIFEST_RE = re.compile(r"\.SAFE/manifest\.safe$", re.IGNORECASE)


class SlcError(SnapstampsError):
    """An SLC reference cannot be resolved to a local Sentinel-1 SAFE product."""


@dataclass(frozen=True)
class ResolvedSlc:
    """A resolved SLC input: the local SAFE product and the reference to link to."""

    safe: Path
    #: href of the STAC item given, or the SAFE path when a SAFE was given directly
    item_href: str
    #: True when the input was a STAC item
    from_item: bool

    @property
    def product(self) -> str:
        """Name of the SAFE product (``S1A_IW_SLC__...SAFE``), without ``.zip``."""
        name = self.safe.name
        return name[:-4] if name.lower().endswith(".zip") else name


def _local(href: str) -> Path | None:
    """The local path of ``href`` (plain path or ``file://``), or None for another scheme."""
    if "://" not in href:
        return Path(href)
    u = urlparse(href)
    if u.scheme == "file":
        return Path(unquote(u.path))
    return None


def _is_safe_path(p: Path) -> bool:
    """A SAFE folder, its ``manifest.safe`` or a ``.zip`` product."""
    if p.name.lower() == "manifest.safe":
        return p.is_file()
    if p.is_dir():
        return (p / "manifest.safe").is_file()
    return p.is_file() and p.suffix.lower() == ".zip" and zipfile.is_zipfile(p)


def safe_href(item: dict[str, Any]) -> str:
    """The href of the SAFE product (folder, ``.zip``) of a STAC item dict, made absolute if it can be.

    Raises :class:`SlcError` when no asset points at a SAFE.
    """
    assets: dict[str, Any] = item.get("assets") or {}
    order = [k for k in PREFERRED_KEYS if k in assets] + [k for k, a in assets.items()
                                                         if "data" in (a.get("roles") or []) and k not in PREFERRED_KEYS]
    order += [k for k in assets if k not in order]
    for key in order:
        href = str(assets[key].get("href", "")).rstrip("/")
        if _MANIFEST_RE.search(href):
            return href[: -len("/manifest.safe")]
        if _SAFE_RE.search(href) or href.lower().endswith(".safe.zip") or (
            href.lower().endswith(".zip") and ".SAFE" in href.upper()
        ):
            return href
    for key in order:  # last resort: a zip asset with the data role
        a = assets[key]
        if "data" in (a.get("roles") or []) and str(a.get("href", "")).lower().endswith(".zip"):
            return str(a["href"])
    raise SlcError(f"item {item.get('id', '?')}: no asset points at a SAFE product "
                   "(an href ending in .SAFE, .SAFE/manifest.safe or .zip)")


def _read_item(ref: str) -> tuple[dict[str, Any], str]:
    """The item dict of ``ref`` (path or URL) and its absolute href."""
    local = _local(ref)
    if local is not None:
        try:
            text = local.read_text(encoding="utf-8")
        except OSError as exc:
            raise SlcError(f"{ref}: cannot read ({exc.strerror or exc})") from None
        href = str(local.resolve())
    else:
        scheme = urlparse(ref).scheme
        if scheme not in ("http", "https"):
            raise SlcError(f"{ref}: {scheme}:// items are not read by this service (use a path, file:// or http(s)://)")
        import pystac

        try:
            text = pystac.StacIO.default().read_text(ref)
        except Exception as exc:  # network errors of several kinds
            raise SlcError(f"{ref}: cannot read the STAC item ({exc})") from None
        href = ref
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SlcError(f"{ref}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or doc.get("type") != "Feature":
        raise SlcError(f"{ref}: not a STAC item (type {doc.get('type') if isinstance(doc, dict) else type(doc).__name__})")
    return doc, href


def resolve_slc(ref: str | Path) -> ResolvedSlc:
    """Resolve an SLC reference: a SAFE (folder, manifest.safe, .zip) or a STAC item (path or URL).

    A relative asset href of an item is relative to the item.  Raises :class:`SlcError` naming
    the reference when it is neither, or when the item's SAFE is not a local product.
    """
    text = str(ref)
    local = _local(text)
    if local is not None and local.exists() and _is_safe_path(local):
        safe = local.parent if local.name.lower() == "manifest.safe" else local
        return ResolvedSlc(safe.resolve(), str(safe.resolve()), False)
    if local is not None and not local.exists():
        raise SlcError(f"{text}: no such SAFE product or STAC item")
    if local is not None and local.is_dir():
        raise SlcError(f"{text}: a folder without manifest.safe (neither a SAFE product nor a STAC item)")
    item, href = _read_item(text)
    shref = safe_href(item)
    if "://" not in shref and not Path(shref).is_absolute():
        if "://" in href and not href.startswith("file://"):
            from urllib.parse import urljoin

            shref = urljoin(href, shref)
        else:
            shref = str((Path(href).parent / shref).resolve())
    spath = _local(shref)
    if spath is None:
        raise SlcError(f"{text}: its SAFE {shref} is remote ({urlparse(shref).scheme}://); "
                       "stage it in and give the item or SAFE path")
    if not spath.exists() or not _is_safe_path(spath):
        raise SlcError(f"{text}: its SAFE {spath} is not a local SAFE product (folder with manifest.safe, or .zip)")
    return ResolvedSlc(spath.resolve(), href, True)


def safe_layers(safe: Path) -> set[tuple[str, str]]:
    """``{(sub-swath, polarisation)}`` with an annotation in the SAFE (folder or zip), e.g. ``("IW1", "VV")``."""
    pat = re.compile(r"annotation/s1\w-(iw\d|ew\d|s\d)-slc-(\w\w)-[^/]*\.xml$", re.IGNORECASE)
    if safe.is_dir():
        names = [f"annotation/{p.name}" for p in (safe / "annotation").glob("*.xml")]
    else:
        with zipfile.ZipFile(safe) as zf:
            names = [n.split("/", 1)[1] for n in zf.namelist() if "/" in n]
    out = set()
    for n in names:
        m = pat.search(n)
        if m:
            out.add((m.group(1).upper(), m.group(2).upper()))
    return out


def _annotation_text(safe: Path, swath: str, pol: str) -> str | None:
    pat = re.compile(rf"annotation/s1\w-{swath.lower()}-slc-{pol.lower()}-[^/]*\.xml$", re.IGNORECASE)
    if safe.is_dir():
        for p in sorted((safe / "annotation").glob("*.xml")):
            if pat.search(f"annotation/{p.name}"):
                return p.read_text(encoding="utf-8", errors="replace")
        return None
    with zipfile.ZipFile(safe) as zf:
        for n in zf.namelist():
            if pat.search(n):
                return zf.read(n).decode("utf-8", errors="replace")
    return None


def swath_footprints(safe: Path, polarisation: str) -> dict[str, tuple[float, float, float, float]]:
    """``{sub-swath: (W, S, E, N)}`` from the geolocation grid of each annotation of ``polarisation``."""
    out: dict[str, tuple[float, float, float, float]] = {}
    for swath, pol in sorted(safe_layers(safe)):
        if pol != polarisation.upper():
            continue
        text = _annotation_text(safe, swath, pol)
        if not text:
            continue
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            continue
        lats = [float(e.text) for e in root.iter("latitude") if e.text]
        lons = [float(e.text) for e in root.iter("longitude") if e.text]
        if lats and lons:
            out[swath] = (min(lons), min(lats), max(lons), max(lats))
    return out


def bbox_intersects(a: tuple[float, float, float, float] | list[float],
                    b: tuple[float, float, float, float] | list[float]) -> bool:
    """True when two W S E N boxes overlap."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
