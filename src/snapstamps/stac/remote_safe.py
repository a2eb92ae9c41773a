"""Sentinel-1 SAFE products on S3 or over http(s): listing, reading annotations, partial stage-in.

A remote SAFE is an ``s3://`` prefix of a ``.SAFE`` folder, an ``s3://`` ``.zip`` object or an
``http(s)://`` ``.zip`` URL.  :func:`open_remote_safe` lists its members (the keys under the
prefix, or the zip's central directory read with ranged GETs, see
:func:`.s3io.open_remote`) without downloading the product; :func:`read_members` reads a few of
them (the annotations the service checks the area of interest with); :func:`stage_in_safe`
downloads only what the interferogram-stack engine reads for the requested sub-swaths and
polarisation (``manifest.safe``, ``annotation/`` and the measurement files of those layers) into
``DEST/<product>.SAFE/``.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .s3io import (
    RemoteReadError,
    is_http,
    is_s3,
    open_remote,
    parse_s3_url,
    s3_client,
    s3_errors,
    s3_reason,
)

__all__ = ["RemoteSafe", "needed_members", "open_remote_safe", "read_members", "remote_layers", "stage_in_safe"]

_LAYER_RE = re.compile(r"^(annotation|measurement)/s1\w-(iw\d|ew\d|s\d)-slc-(\w\w)-[^/]*\.(xml|tiff?)$", re.IGNORECASE)


@dataclass(frozen=True)
class RemoteSafe:
    """A SAFE product on S3 or over http(s), with the names of its members (relative to the SAFE root)."""

    #: ``s3://bucket/.../X.SAFE`` (no trailing slash), or the URL of the ``.zip``
    url: str
    #: product folder name, ``S1A_IW_SLC__...SAFE``
    product: str
    #: member paths relative to the SAFE root (``manifest.safe``, ``annotation/...``, ``measurement/...``)
    members: tuple[str, ...]
    #: for a zip: the prefix of the SAFE root inside the archive (``X.SAFE/``, or empty)
    zip_root: str = ""

    @property
    def is_zip(self) -> bool:
        """True when the product is a zip archive."""
        return self.url.lower().endswith(".zip")

    @property
    def name(self) -> str:
        """The product name (as :attr:`pathlib.Path.name` of a local SAFE)."""
        return self.product


def _is_zip_url(url: str) -> bool:
    return url.lower().rstrip("/").endswith(".zip")


def open_remote_safe(url: str, client: Any = None) -> RemoteSafe:
    """List the remote SAFE ``url`` (an ``s3://`` ``.SAFE`` prefix, or an ``s3://``/``http(s)://`` zip).

    Raises :class:`.s3io.RemoteReadError` naming the URL when it cannot be read, holds no
    ``manifest.safe``, or is an ``http(s)`` folder (which cannot be listed).
    """
    url = url.rstrip("/")
    if _is_zip_url(url):
        if not (is_s3(url) or is_http(url)):
            raise RemoteReadError(f"{url}: not an s3:// or http(s):// URL")
        try:
            with open_remote(url, client if is_s3(url) else None) as fh, zipfile.ZipFile(fh) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile as exc:
            raise RemoteReadError(f"{url}: not a zip archive ({exc})") from None
        root = ""
        manifest = [n for n in names if posixpath.basename(n).lower() == "manifest.safe" and n.count("/") <= 1]
        if not manifest:
            raise RemoteReadError(f"{url}: no manifest.safe in the zip (not a SAFE product)")
        root = posixpath.dirname(manifest[0])
        root = f"{root}/" if root else ""
        product = root.rstrip("/") or posixpath.basename(url)[:-4]
        if not product.upper().endswith(".SAFE"):
            product += ".SAFE"
        members = tuple(n[len(root):] for n in names if n.startswith(root) and not n.endswith("/"))
        return RemoteSafe(url, product, members, root)
    if not is_s3(url):
        raise RemoteReadError(f"{url}: an http(s):// SAFE folder cannot be listed; give its .zip or an s3:// prefix")
    bucket, key = parse_s3_url(url)
    prefix = key.rstrip("/") + "/"
    client = client or s3_client()
    members: list[str] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            members += [o["Key"][len(prefix):] for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    except s3_errors() as exc:
        raise RemoteReadError(f"cannot list {url}/: {s3_reason(exc)}") from None
    if "manifest.safe" not in members:
        raise RemoteReadError(f"{url}/: no manifest.safe under this prefix" + ("" if members else " (no objects)"))
    return RemoteSafe(url, posixpath.basename(key.rstrip("/")), tuple(members))


def remote_layers(rs: RemoteSafe) -> set[tuple[str, str]]:
    """``{(sub-swath, polarisation)}`` with both an annotation and a measurement file in the product."""
    seen: dict[tuple[str, str], set[str]] = {}
    for m in rs.members:
        hit = _LAYER_RE.match(m)
        if hit:
            seen.setdefault((hit.group(2).upper(), hit.group(3).upper()), set()).add(hit.group(1).lower())
    return {k for k, kinds in seen.items() if {"annotation", "measurement"} <= kinds}


def needed_members(rs: RemoteSafe, swaths: Iterable[str], pol: str) -> list[str]:
    """The members the engine reads for ``swaths`` in ``pol``: ``manifest.safe``, all of ``annotation/``
    and the measurement files of those layers."""
    want = {(s.upper(), pol.upper()) for s in swaths}
    out = []
    for m in rs.members:
        if m == "manifest.safe" or m.startswith("annotation/"):
            out.append(m)
            continue
        hit = _LAYER_RE.match(m)
        if hit and hit.group(1).lower() == "measurement" and (hit.group(2).upper(), hit.group(3).upper()) in want:
            out.append(m)
    return out


def _safe_target(root: Path, member: str) -> Path:
    target = (root / member).resolve()
    if not target.is_relative_to(root.resolve()) or target == root.resolve():
        raise RemoteReadError(f"member {member!r} escapes the SAFE folder")
    return target


def read_members(rs: RemoteSafe, members: Iterable[str], client: Any = None) -> dict[str, bytes]:
    """The bytes of a few ``members`` of the remote SAFE (the zip is opened once)."""
    members = list(members)
    if not members:
        return {}
    if rs.is_zip:
        with open_remote(rs.url, client if is_s3(rs.url) else None) as fh, zipfile.ZipFile(fh) as zf:
            return {m: zf.read(rs.zip_root + m) for m in members}
    bucket, key = parse_s3_url(rs.url)
    client = client or s3_client()
    out = {}
    for m in members:
        try:
            out[m] = client.get_object(Bucket=bucket, Key=f"{key.rstrip('/')}/{m}")["Body"].read()
        except s3_errors() as exc:
            raise RemoteReadError(f"cannot read {rs.url}/{m}: {s3_reason(exc)}") from None
    return out


def stage_in_safe(url: str, dest: Path, swaths: Iterable[str], pol: str, client: Any = None) -> Path:
    """Download what the engine needs of the remote SAFE ``url`` into ``dest/<product>.SAFE``; return that folder.

    Only ``manifest.safe``, ``annotation/`` and the measurement files of ``swaths`` in ``pol``
    (:func:`needed_members`); an ``s3://`` folder object by object, a zip member by member
    (ranged reads, or one download when an http(s) server ignores ``Range``).  Raises
    :class:`.s3io.RemoteReadError` when the product lacks one of the layers or cannot be read.
    """
    swaths = list(swaths)
    if is_s3(url):
        client = client or s3_client()
    rs = open_remote_safe(url, client)
    missing = [s for s in swaths if (s.upper(), pol.upper()) not in remote_layers(rs)]
    if missing:
        raise RemoteReadError(f"{url}: no {missing[0]} {pol} (annotation and measurement) in {rs.product}")
    names = needed_members(rs, swaths, pol)
    root = Path(dest) / rs.product
    root.mkdir(parents=True, exist_ok=True)
    if rs.is_zip:
        try:
            with open_remote(rs.url, client if is_s3(url) else None) as fh, zipfile.ZipFile(fh) as zf:
                for m in names:
                    target = _safe_target(root, m)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(rs.zip_root + m) as src, open(target, "wb") as out:
                        while chunk := src.read(1 << 20):
                            out.write(chunk)
        except (zipfile.BadZipFile, OSError) as exc:
            raise RemoteReadError(f"stage-in of {url} failed: {exc}") from None
        return root
    bucket, key = parse_s3_url(rs.url)
    for m in names:
        target = _safe_target(root, m)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            client.download_file(bucket, f"{key.rstrip('/')}/{m}", str(target))
        except s3_errors() as exc:
            raise RemoteReadError(f"stage-in of {rs.url}/{m} failed: {s3_reason(exc)}") from None
    return root
