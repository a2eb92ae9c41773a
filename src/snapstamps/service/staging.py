"""Stage-in of job inputs (S3 stacks and folders, http(s) files) and S3 stage-out of job results.

Credentials, region and endpoint come from the environment as AWS tools take them
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``,
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` for MinIO, Ceph or moto).

* **Stage-in**: a psi ``stack`` given as ``s3://bucket/prefix/INSAR_<date>/`` is downloaded into
  the job directory; ``s3://bucket/prefix/catalog.json`` (a stack catalog, or the prefix that
  holds one) is read with pystac through :class:`S3StacIO`, and the ``INSAR_<date>`` prefix of its
  ``stamps-export`` asset is downloaded.  :func:`check_stack_ref` is the quick check the server
  makes before creating a job (the objects are there and readable).
* **Other inputs** of interferogram-stack: an ``s3://`` prefix of orbit files is checked with
  :func:`check_s3_prefix` and downloaded with :func:`download_prefix`; a DEM given as an
  ``http(s)://`` URL is checked with :func:`check_http_url` (a one-byte GET) and downloaded once
  per job with :func:`download_url` (the standard library's ``urllib``, no credentials).
* **Stage-out**: :func:`stage_out` uploads a finished catalog directory to
  ``s3://bucket/prefix/<job id>/``, every asset first and ``catalog.json`` last, so a reader who
  finds the catalog finds all it points to.  On any failure the objects already uploaded are
  deleted and :class:`StagingError` says what failed; nothing is left half-published.
"""

from __future__ import annotations

import mimetypes
import posixpath
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..stac.s3io import HTTP_TIMEOUT, RemoteReadError, is_s3, s3_client
from ..stac.s3io import S3StacIO as _BaseS3StacIO
from ..stac.s3io import http_reason as _http_reason
from ..stac.s3io import parse_s3_url as _parse_s3_url
from ..stac.s3io import s3_errors as _errors
from ..stac.s3io import s3_reason as _reason

__all__ = [
    "S3StacIO",
    "StagingError",
    "check_http_url",
    "check_s3_prefix",
    "check_stack_ref",
    "delete_prefix",
    "download_prefix",
    "download_url",
    "is_s3",
    "parse_s3_url",
    "s3_client",
    "stage_in_stack",
    "stage_out",
]


class StagingError(RemoteReadError):
    """Stage-in or stage-out failed (missing object or bucket, access denied, no endpoint...)."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ``("bucket", "some/prefix/")`` (the key keeps a trailing ``/``)."""
    return _parse_s3_url(url, StagingError)


def S3StacIO(client: Any = None) -> Any:
    """pystac ``StacIO`` reading ``s3://`` hrefs with boto3; an unreadable object raises :class:`StagingError`."""
    return _BaseS3StacIO(client, StagingError)


def _list(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(page.get("Contents", []))
    return out


def _dir_prefix(key: str) -> str:
    return key if not key or key.endswith("/") else key + "/"


def check_stack_ref(ref: str) -> None:
    """Check that an ``s3://`` stack exists and is readable (an INSAR_<date> prefix or a catalog)."""
    bucket, key = parse_s3_url(ref)
    client = s3_client()
    try:
        if key.endswith(".json"):
            client.head_object(Bucket=bucket, Key=key)
            return
        prefix = _dir_prefix(key)
        resp = client.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/")
    except _errors() as exc:
        raise StagingError(f"{ref}: cannot read the stack ({_reason(exc)})") from exc
    subdirs = {posixpath.basename(p["Prefix"].rstrip("/")) for p in resp.get("CommonPrefixes", [])}
    names = {posixpath.basename(o["Key"]) for o in resp.get("Contents", [])}
    if not ({"rslc", "diff0"} <= subdirs or "catalog.json" in names):
        raise StagingError(f"{ref}: neither an INSAR_<date> prefix (rslc/, diff0/) nor a prefix with catalog.json")


def check_s3_prefix(url: str) -> None:
    """Check that the ``s3://`` prefix ``url`` holds at least one readable object (a folder to stage in)."""
    bucket, key = parse_s3_url(url)
    try:
        resp = s3_client().list_objects_v2(Bucket=bucket, Prefix=_dir_prefix(key), MaxKeys=1)
    except _errors() as exc:
        raise StagingError(f"{url}: cannot list the prefix ({_reason(exc)})") from exc
    if not resp.get("Contents"):
        raise StagingError(f"{url}: no objects under this prefix")


def check_http_url(url: str, timeout: float = HTTP_TIMEOUT) -> None:
    """Check that ``url`` (http or https) can be downloaded: a GET of its first byte answers below 400.

    A ranged GET rather than HEAD, which presigned URLs and some servers refuse.  Raises
    :class:`StagingError` with the status or the connection failure.
    """
    import urllib.request

    u = urlparse(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise StagingError(f"{url}: not an http(s)://host/path URL")
    req = urllib.request.Request(url, headers={"Range": "bytes=0-0", "User-Agent": "snapstamps"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read(1)
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors; ValueError: malformed URL
        raise StagingError(f"{url}: cannot be downloaded ({_http_reason(exc)})") from None


def download_url(url: str, dest_dir: Path, default_name: str = "download", timeout: float = HTTP_TIMEOUT) -> Path:
    """Download the http(s) ``url`` into ``dest_dir`` (named as the URL's last path part); return the file.

    Written as ``NAME.part`` then renamed, so a failed download leaves no file of that name.
    Raises :class:`StagingError` naming the URL and the reason.
    """
    import urllib.request
    from urllib.parse import unquote

    name = posixpath.basename(unquote(urlparse(url).path)).strip()
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        name = default_name
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / name
    part = dest_dir / f"{name}.part"
    req = urllib.request.Request(url, headers={"User-Agent": "snapstamps"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp, open(part, "wb") as fh:
            while chunk := resp.read(1 << 20):
                fh.write(chunk)
        part.replace(target)
    except (OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise StagingError(f"download of {url} failed: {_http_reason(exc)}") from None
    return target


def download_prefix(client: Any, url: str, dest: Path) -> Path:
    """Download every object under the ``s3://`` prefix ``url`` into ``dest``; return ``dest``."""
    bucket, key = parse_s3_url(url)
    prefix = _dir_prefix(key)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        objects = _list(client, bucket, prefix)
        if not objects:
            raise StagingError(f"{url}: no objects under this prefix")
        for obj in objects:
            rel = obj["Key"][len(prefix):]
            if not rel or rel.endswith("/"):
                continue  # "directory" marker objects
            target = (dest / rel).resolve()
            if not target.is_relative_to(root):
                raise StagingError(f"{url}: object key {obj['Key']!r} escapes the stage-in directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, obj["Key"], str(target))
    except _errors() as exc:
        raise StagingError(f"stage-in of {url} failed: {_reason(exc)}") from exc
    return dest


def stage_in_stack(ref: str, dest: Path, swath: str | None = None) -> Path:
    """Download the ``s3://`` stack ``ref`` under ``dest``; return the local ``INSAR_<date>`` directory.

    ``ref`` is an ``INSAR_<date>`` prefix, a stack ``catalog.json`` or a prefix holding one; in a
    catalog, the item with the ``stamps-export`` asset (of sub-swath ``swath`` when given) names
    the prefix to download.
    """
    from ..stac.stack import STAMPS_EXPORT_ROLE, StackError, is_insar_dir

    client = s3_client()
    bucket, key = parse_s3_url(ref)
    insar_url: str | None = None
    if not key.endswith(".json"):
        prefix = _dir_prefix(key)
        try:
            resp = client.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/")
        except _errors() as exc:
            raise StagingError(f"stage-in of {ref} failed: {_reason(exc)}") from exc
        subdirs = {posixpath.basename(p["Prefix"].rstrip("/")) for p in resp.get("CommonPrefixes", [])}
        if {"rslc", "diff0"} <= subdirs:
            insar_url = f"s3://{bucket}/{prefix}"
        else:
            key = prefix + "catalog.json"
    if insar_url is None:
        import pystac

        cat_url = f"s3://{bucket}/{key}"
        root = pystac.read_file(cat_url, stac_io=S3StacIO(client))
        items = [root] if isinstance(root, pystac.Item) else list(root.get_items(recursive=True))
        found: list[tuple[str | None, str]] = []
        for item in items:
            for asset in item.assets.values():
                if STAMPS_EXPORT_ROLE in (asset.roles or []):
                    found.append(((item.properties.get("sar:beam_ids") or [None])[0],
                                  asset.get_absolute_href() or asset.href))
        if swath:
            found = [f for f in found if f[0] == swath]
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            raise StagingError(f"{cat_url}: {what} items with a '{STAMPS_EXPORT_ROLE}' asset"
                               + (f" for sub-swath {swath}" if swath else "") + " (expected one)")
        insar_url = found[0][1]
        if not is_s3(insar_url):
            raise StagingError(f"{cat_url}: its stack asset {insar_url} is not on S3")
    name = posixpath.basename(parse_s3_url(insar_url)[1].rstrip("/")) or "stack"
    local = download_prefix(client, insar_url, Path(dest) / name)
    if not is_insar_dir(local):
        raise StackError(f"{insar_url}: not an INSAR_<date> directory (rslc/, diff0/)")
    return local


def delete_prefix(url: str, client: Any = None) -> int:
    """Delete every object under the ``s3://`` prefix ``url`` (best effort); return how many."""
    client = client or s3_client()
    bucket, key = parse_s3_url(url)
    try:
        keys = [o["Key"] for o in _list(client, bucket, _dir_prefix(key))]
    except _errors():
        return 0
    return _delete_keys(client, bucket, keys)


def _delete_keys(client: Any, bucket: str, keys: list[str]) -> int:
    n = 0
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        try:
            client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
            n += len(chunk)
        except _errors():
            for k in chunk:  # e.g. no DeleteObjects permission: one by one
                try:
                    client.delete_object(Bucket=bucket, Key=k)
                    n += 1
                except _errors():
                    pass
    return n


def _media_type(path: Path) -> str:
    if path.suffix == ".json":
        return "application/json"
    if path.suffix == ".js":
        return "text/javascript"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def stage_out(catalog_dir: Path, dest_url: str) -> str:
    """Upload the catalog directory to the ``s3://`` prefix ``dest_url``; return the catalog's URL.

    Every file but the root ``catalog.json`` is uploaded first, ``catalog.json`` last.  Any failure
    (no such bucket, access denied, endpoint unreachable...) deletes what was uploaded and raises
    :class:`StagingError` naming the destination, the file and the reason.
    """
    catalog_dir = Path(catalog_dir)
    root = catalog_dir / "catalog.json"
    if not root.is_file():
        raise StagingError(f"{catalog_dir}: no catalog.json to stage out")
    bucket, key = parse_s3_url(dest_url)
    prefix = _dir_prefix(key)
    files = sorted(p for p in catalog_dir.rglob("*") if p.is_file() and p != root) + [root]
    client = s3_client()
    uploaded: list[str] = []
    current = ""
    try:
        current = "(bucket check)"
        client.head_bucket(Bucket=bucket)
        for f in files:
            current = f.relative_to(catalog_dir).as_posix()
            client.upload_file(str(f), bucket, prefix + current, ExtraArgs={"ContentType": _media_type(f)})
            uploaded.append(prefix + current)
    except _errors() as exc:
        removed = _delete_keys(client, bucket, uploaded)
        reason = _reason(exc)
        if "(bucket check)" == current and ("404" in reason or "NoSuchBucket" in reason or "Not Found" in reason):
            reason = f"the bucket '{bucket}' does not exist ({reason})"
        left = len(uploaded) - removed
        tail = ("nothing was published" if not left else
                f"{left} uploaded object(s) could not be removed under s3://{bucket}/{prefix}")
        raise StagingError(f"stage-out to s3://{bucket}/{prefix} failed at {current}: {reason}; {tail}") from exc
    return f"s3://{bucket}/{prefix}catalog.json"
