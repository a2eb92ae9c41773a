"""Sentinel-1 SLC inputs of the interferogram-stack pipeline: STAC items or SAFE products.

The service takes each SLC (``reference``, ``secondaries``) as a reference to a STAC item of the
product (a path, ``file://``, ``http(s)://`` or ``s3://`` URL of the item JSON, as CDSE's
``sentinel-1-slc`` collection serves them; ``s3://`` items are read with pystac through
:class:`.s3io.S3StacIO`) or, for local work, the SAFE product itself (its folder, its
``manifest.safe`` or its ``.zip``).  :func:`resolve_slc` turns either into the local SAFE the
engine reads, plus the href of the input item that the stack catalog links to.

How an item's SAFE is found (:func:`safe_href`): an asset whose href ends with ``.SAFE`` (the
product folder), ``.SAFE/manifest.safe`` (its manifest; the folder is its parent) or ``.zip``;
assets keyed ``safe``/``product``/``manifest``/``safe_manifest`` or with the role ``data`` first.
By default only local SAFEs are accepted and a remote one is an :class:`SlcError`; with
``resolve_slc(ref, remote=True)`` an ``s3://`` ``.SAFE`` prefix or ``.zip`` object, or an
``http(s)://`` ``.zip``, resolves to a :class:`.remote_safe.RemoteSafe` (listed, not downloaded),
which the service's job stages in (:func:`.remote_safe.stage_in_safe`) before its CWL runner starts.

:func:`swath_footprints` reads the lon/lat extent of each sub-swath from the annotation's
geolocation grid (XML only, fast): the service uses it to check the area of interest and to pick
the default sub-swaths before a job is created.
"""

from __future__ import annotations

import json
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from ..errors import SnapstampsError
from .remote_safe import RemoteSafe

__all__ = [
    "RemoteSafe",
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
    """A resolved SLC input: the SAFE product (local, or remote when asked for) and the reference to link to."""

    #: the local SAFE (folder or zip), or a remote SAFE to stage in
    safe: Path | RemoteSafe
    #: href of the STAC item given, or the SAFE path when a SAFE was given directly
    item_href: str
    #: True when the input was a STAC item
    from_item: bool

    @property
    def remote(self) -> bool:
        """True when the SAFE is remote (``s3://`` or ``http(s)://``) and must be staged in."""
        return isinstance(self.safe, RemoteSafe)

    @property
    def product(self) -> str:
        """Name of the SAFE product (``S1A_IW_SLC__...SAFE``), without ``.zip``."""
        name = self.safe.product if isinstance(self.safe, RemoteSafe) else self.safe.name
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
        if scheme not in ("http", "https", "s3"):
            raise SlcError(f"{ref}: {scheme}:// items are not read by this service (use a path, file://, http(s):// "
                           "or s3://)")
        import pystac

        from .s3io import S3StacIO

        try:
            io = S3StacIO() if scheme == "s3" else pystac.StacIO.default()
            text = io.read_text(ref)
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


def _join(base: str, rel: str) -> str:
    """``rel`` resolved against the URL ``base`` (http(s), s3: whose scheme urljoin does not know)."""
    from urllib.parse import urljoin

    u = urlparse(base)
    if u.scheme in ("http", "https"):
        return urljoin(base, rel)
    folder = posixpath.dirname(u.path)
    return f"{u.scheme}://{u.netloc}{posixpath.normpath(posixpath.join(folder, rel))}"


def _remote(text: str, url: str, href: str, from_item: bool) -> ResolvedSlc:
    """The remote SAFE ``url`` listed (:func:`.remote_safe.open_remote_safe`), or :class:`SlcError` naming ``text``."""
    from .remote_safe import open_remote_safe
    from .s3io import RemoteReadError

    try:
        return ResolvedSlc(open_remote_safe(url), href, from_item)
    except RemoteReadError as exc:
        what = "its SAFE asset" if from_item else "the SAFE"
        raise SlcError(f"{text}: {what} cannot be used ({exc})") from None


def resolve_slc(ref: str | Path, remote: bool = False) -> ResolvedSlc:
    """Resolve an SLC reference: a SAFE (folder, manifest.safe, .zip) or a STAC item (path or URL).

    A relative asset href of an item is relative to the item.  Raises :class:`SlcError` naming
    the reference when it is neither, or when the item's SAFE is not a local product; with
    ``remote=True`` an ``s3://`` SAFE prefix or zip, or an ``http(s)://`` zip (the item's asset,
    or given directly as ``ref``), is listed
    (:func:`.remote_safe.open_remote_safe`: readable, holds ``manifest.safe``) and returned as a
    :class:`RemoteSafe`.
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
    if local is None and remote and (_SAFE_RE.search(text) or text.lower().endswith(".zip")):
        return _remote(text, text, text, False)  # a remote SAFE given directly
    item, href = _read_item(text)
    shref = safe_href(item)
    if "://" not in shref and not Path(shref).is_absolute():
        if "://" in href and not href.startswith("file://"):
            shref = _join(href, shref)
        else:
            shref = str((Path(href).parent / shref).resolve())
    spath = _local(shref)
    if spath is None and remote and (shref.startswith("s3://") or shref.lower().startswith(("http://", "https://"))):
        return _remote(text, shref, href, True)
    if spath is None:
        raise SlcError(f"{text}: its SAFE {shref} is remote ({urlparse(shref).scheme}://); "
                       "stage it in and give the item or SAFE path")
    if not spath.exists() or not _is_safe_path(spath):
        raise SlcError(f"{text}: its SAFE {spath} is not a local SAFE product (folder with manifest.safe, or .zip)")
    return ResolvedSlc(spath.resolve(), href, True)


def safe_layers(safe: Path | RemoteSafe) -> set[tuple[str, str]]:
    """``{(sub-swath, polarisation)}`` with an annotation in the SAFE (folder or zip), e.g. ``("IW1", "VV")``.

    For a remote SAFE: the layers with both an annotation and a measurement file among its keys
    (or zip members).
    """
    if isinstance(safe, RemoteSafe):
        from .remote_safe import remote_layers

        return remote_layers(safe)
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


def _annotation_text(safe: Path | RemoteSafe, swath: str, pol: str) -> str | None:
    pat = re.compile(rf"annotation/s1\w-{swath.lower()}-slc-{pol.lower()}-[^/]*\.xml$", re.IGNORECASE)
    if isinstance(safe, RemoteSafe):
        from .remote_safe import read_members

        names = sorted(m for m in safe.members if pat.match(m))
        return read_members(safe, names[:1])[names[0]].decode("utf-8", errors="replace") if names else None
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


def swath_footprints(safe: Path | RemoteSafe, polarisation: str) -> dict[str, tuple[float, float, float, float]]:
    """``{sub-swath: (W, S, E, N)}`` from the geolocation grid of each annotation of ``polarisation``.

    For a remote SAFE the annotations are read from S3 or the zip (a few small objects), not staged in.
    """
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
