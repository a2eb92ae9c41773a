"""Reading STAC objects and products on S3 and over http(s): boto3 client, pystac ``StacIO``, ranged files.

Credentials, region and endpoint come from the environment as AWS tools take them
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` for
MinIO, Ceph or moto).  :class:`S3StacIO` is pystac's default ``StacIO`` that also reads ``s3://``
hrefs with boto3.  :func:`open_remote` gives a seekable binary file over an ``s3://`` object (ranged
GETs) or an ``http(s)://`` URL (ranged GETs when the server honours ``Range``, else the body is
downloaded into a temporary file), so that :mod:`zipfile` reads only the members it needs.

The service's staging module (:mod:`snapstamps.service.staging`) builds on these.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from typing import IO, Any
from urllib.parse import urlparse

from ..errors import SnapstampsError

__all__ = ["HTTP_TIMEOUT", "RemoteReadError", "S3StacIO", "is_http", "is_s3", "open_remote", "parse_s3_url",
           "s3_client", "s3_errors", "s3_reason"]

#: Seconds to wait for an http(s) server (connection and each read).
HTTP_TIMEOUT = 30


class RemoteReadError(SnapstampsError):
    """An ``s3://`` or ``http(s)://`` object cannot be read (missing, denied, unreachable)."""


def is_s3(ref: Any) -> bool:
    """True for an ``s3://`` reference."""
    return str(ref).startswith("s3://")


def is_http(ref: Any) -> bool:
    """True for an ``http://`` or ``https://`` URL."""
    return str(ref).lower().startswith(("http://", "https://"))


def parse_s3_url(url: str, error: type[Exception] = RemoteReadError) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ``("bucket", "some/prefix/")``; raises ``error`` for another URL."""
    u = urlparse(url)
    if u.scheme != "s3" or not u.netloc:
        raise error(f"{url}: not an s3://bucket/key URL")
    return u.netloc, u.path.lstrip("/")


def s3_client() -> Any:
    """A boto3 S3 client configured from the environment, with bounded timeouts and retries."""
    import boto3
    from botocore.config import Config

    cfg = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.session.Session().client("s3", config=cfg)


def s3_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a boto3 call raises for a missing object, a denial or an unreachable endpoint."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, Boto3Error, OSError)


def s3_reason(exc: BaseException) -> str:
    """A one-line reason for a boto3/botocore error (``Code: message``)."""
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict) and resp.get("Error"):
        err = resp["Error"]
        code, msg = err.get("Code", ""), err.get("Message", "")
        if code in ("404", "NoSuchKey", "NotFound") and msg in ("", "Not Found"):
            msg = "not found"
        if code in ("403", "AccessDenied") and msg in ("", "Forbidden"):
            msg = "access denied (Forbidden)"
        return f"{code}: {msg}".strip(": ") or str(exc)
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def http_reason(exc: BaseException) -> str:
    """One line for a urllib error: ``HTTP 404 Not Found``, or the connection failure."""
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot connect ({exc.reason})"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class S3StacIO:
    """pystac ``StacIO`` reading ``s3://`` hrefs with boto3 (and local files and http(s) as pystac does).

    ``error`` is the exception class raised, with the reason, when an ``s3://`` object cannot be read.
    """

    def __new__(cls, client: Any = None, error: type[Exception] = RemoteReadError) -> Any:
        from pystac.stac_io import DefaultStacIO

        class _S3StacIO(DefaultStacIO):
            def __init__(self, s3: Any) -> None:
                super().__init__()
                self.s3 = s3

            def read_text(self, source: Any, *args: Any, **kwargs: Any) -> str:
                href = str(source if isinstance(source, str) else getattr(source, "href", source))
                if is_s3(href):
                    bucket, key = parse_s3_url(href, error)
                    try:
                        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
                    except s3_errors() as exc:
                        raise error(f"cannot read {href}: {s3_reason(exc)}") from exc
                    except UnicodeDecodeError as exc:
                        raise error(f"cannot read {href}: not UTF-8 text") from exc
                return super().read_text(source, *args, **kwargs)

        return _S3StacIO(client or s3_client())


class _RangeFile(io.RawIOBase):
    """A read-only, seekable raw file whose bytes come from ``fetch(start, stop)`` (ranged GETs)."""

    def __init__(self, size: int, fetch: Callable[[int, int], bytes], name: str) -> None:
        super().__init__()
        self.size, self._fetch, self.name, self._pos = size, fetch, name, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buf: Any) -> int:
        n = min(len(buf), self.size - self._pos)
        if n <= 0:
            return 0
        data = self._fetch(self._pos, self._pos + n)
        buf[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _open_s3(url: str, client: Any) -> IO[bytes]:
    bucket, key = parse_s3_url(url)
    client = client or s3_client()
    try:
        size = int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])
    except s3_errors() as exc:
        raise RemoteReadError(f"cannot read {url}: {s3_reason(exc)}") from None

    def fetch(start: int, stop: int) -> bytes:
        try:
            return client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{stop - 1}")["Body"].read()
        except s3_errors() as exc:
            raise RemoteReadError(f"cannot read {url}: {s3_reason(exc)}") from None

    return io.BufferedReader(_RangeFile(size, fetch, url), buffer_size=1 << 20)


def _open_http(url: str, timeout: float) -> IO[bytes]:
    import urllib.request

    def get(rng: str | None) -> Any:
        headers = {"User-Agent": "snapstamps"} | ({"Range": rng} if rng else {})
        try:
            return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
        except (OSError, ValueError) as exc:
            raise RemoteReadError(f"cannot read {url}: {http_reason(exc)}") from None

    resp = get("bytes=0-0")
    with resp:
        total = (resp.headers.get("Content-Range") or "").rpartition("/")[2]
        if resp.status == 206 and total.isdigit():
            def fetch(start: int, stop: int) -> bytes:
                with get(f"bytes={start}-{stop - 1}") as r:
                    return r.read()

            return io.BufferedReader(_RangeFile(int(total), fetch, url), buffer_size=1 << 20)
        # no range support: the whole body (already coming) goes into a temporary file
        tmp = tempfile.TemporaryFile()  # noqa: SIM115 - returned open, closed by the caller
        try:
            while chunk := resp.read(1 << 20):
                tmp.write(chunk)
        except OSError as exc:
            tmp.close()
            raise RemoteReadError(f"cannot read {url}: {http_reason(exc)}") from None
    tmp.seek(0)
    return tmp


def open_remote(url: str, client: Any = None, timeout: float = HTTP_TIMEOUT) -> IO[bytes]:
    """A seekable binary file over the ``s3://`` object or ``http(s)://`` URL ``url``; close it after use.

    S3: ranged GETs.  http(s): ranged GETs when the server answers ``206`` to a ``Range`` request,
    else the whole body is downloaded into a temporary file (deleted on close).  Raises
    :class:`RemoteReadError` with the reason.
    """
    if is_s3(url):
        return _open_s3(url, client)
    if is_http(url):
        return _open_http(url, timeout)
    raise RemoteReadError(f"{url}: not an s3:// or http(s):// URL")
