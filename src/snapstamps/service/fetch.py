"""The service's one fetch policy for remote inputs: which hosts, how much, how long.

Every ``http(s)://`` read of the service and its job workers (STAC items, remote SAFE zips, DEMs,
whatever reads through ``urllib``: pystac's default ``StacIO``, :mod:`..stac.s3io`,
:mod:`.staging`) goes through :func:`install`, which replaces ``urllib``'s global opener with
one whose connections obey a :class:`FetchPolicy`:

* the host name is resolved once (``policy.resolver``) and **every** address is checked before
  any connection: loopback, link-local (169.254.0.0/16, fe80::/10: cloud metadata), private
  (RFC 1918, fc00::/7), shared, multicast, reserved and unspecified addresses are refused
  unless the operator allows private addresses; the connection then goes to the checked
  address (no second lookup that a rebinding DNS could answer differently);
* with ``allowed_hosts`` only those host names (``example.org`` or ``*.example.org``) are fetched;
* only ``http`` and ``https`` on the ports given (default 80 and 443 and any, see ``ports``);
* each response is cut at ``max_bytes`` and ``max_seconds``; redirects are re-checked (they
  open new connections through the same handlers).

``s3://`` inputs go to the operator's endpoint (``AWS_ENDPOINT_URL``) only; ``s3_buckets``, when
set, is the list of buckets inputs may name.

Refusals raise :class:`FetchRefused` (an ``OSError``, so readers report it as a failed read)
with a message that names the URL and the rule, never anything fetched.
"""

from __future__ import annotations

import fnmatch
import http.client
import ipaddress
import os
import socket
import ssl
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence
from urllib.parse import urlparse

Resolver = Callable[[str, int], list[str]]


class FetchRefused(OSError):
    """The fetch policy refuses this URL (the message says why)."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (``getaddrinfo``)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused(f"{host}: cannot be resolved ({exc.args[-1] if exc.args else exc})") from None
    return sorted({str(info[4][0]) for info in infos})


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _is_public(ip.ipv4_mapped)
    return not (ip.is_loopback or ip.is_link_local or ip.is_private or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED)
                or not ip.is_global)


_SHARED = ipaddress.ip_network("100.64.0.0/10")


@dataclass
class FetchPolicy:
    """Rules for the service's http(s) fetches (see the module documentation)."""

    allow_private: bool = False
    allowed_hosts: Sequence[str] = ()
    s3_buckets: Sequence[str] = ()
    max_bytes: int = 20 * 1024**3
    max_seconds: float = 3600.0
    timeout: float = 30.0
    resolver: Resolver = field(default=system_resolver, repr=False)

    # -------------------------------------------------------------- checks
    def check_url(self, url: str) -> tuple[str, int, list[str]]:
        """Check ``url`` (scheme, host, every address); return ``(host, port, addresses)``.

        Raises :class:`FetchRefused` before any connection is made.
        """
        try:
            u = urlparse(url)
            port = u.port
        except ValueError:
            raise FetchRefused(f"{url}: not a valid URL") from None
        if u.scheme not in ("http", "https") or not u.hostname:
            raise FetchRefused(f"{url}: only http(s)://host/... URLs are fetched")
        if u.username or u.password:
            raise FetchRefused(f"{url}: credentials in URLs are not accepted")
        host = u.hostname.rstrip(".").lower()
        port = port or (443 if u.scheme == "https" else 80)
        return host, port, self.check_host(host, port, url)

    def check_host(self, host: str, port: int, url: str | None = None) -> list[str]:
        """Resolve ``host`` and check it and every address; return the addresses."""
        what = url or host
        if self.allowed_hosts and not any(fnmatch.fnmatch(host, pat.lower()) for pat in self.allowed_hosts):
            raise FetchRefused(f"{what}: host {host} is not in this service's list of allowed hosts")
        try:  # a literal address needs no lookup
            addrs = [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            addrs = list(self.resolver(host, port))
        if not addrs:
            raise FetchRefused(f"{what}: {host} resolves to no address")
        if not self.allow_private:
            for a in addrs:
                if not _is_public(ipaddress.ip_address(a.split("%")[0])):
                    raise FetchRefused(f"{what}: {host} is a loopback, link-local, private or reserved address "
                                       "(refused by this service's fetch policy)")
        return addrs

    def check_s3(self, url: str) -> None:
        """Refuse an ``s3://`` URL whose bucket is not in ``s3_buckets`` (when that list is set)."""
        bucket = urlparse(url).netloc
        if self.s3_buckets and bucket not in self.s3_buckets:
            raise FetchRefused(f"{url}: bucket {bucket} is not in this service's list of allowed buckets")

    # -------------------------------------------------------------- settings
    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> "FetchPolicy":
        """A policy from the ``fetch`` settings (and ``SNAPSTAMPS_FETCH_*`` environment variables)."""
        s = dict(settings or {})
        env = os.environ
        allow = s.get("allow_private", env.get("SNAPSTAMPS_FETCH_ALLOW_PRIVATE", ""))
        hosts = s.get("allowed_hosts") or [h for h in env.get("SNAPSTAMPS_FETCH_ALLOWED_HOSTS", "").split(",") if h.strip()]
        buckets = s.get("s3_buckets") or [b for b in env.get("SNAPSTAMPS_FETCH_S3_BUCKETS", "").split(",") if b.strip()]
        return cls(allow_private=str(allow).lower() in ("1", "true", "yes"),
                   allowed_hosts=[h.strip() for h in hosts], s3_buckets=[b.strip() for b in buckets],
                   max_bytes=int(s.get("max_bytes") or env.get("SNAPSTAMPS_FETCH_MAX_BYTES") or cls.max_bytes),
                   max_seconds=float(s.get("max_seconds") or env.get("SNAPSTAMPS_FETCH_MAX_SECONDS") or cls.max_seconds),
                   timeout=float(s.get("timeout") or cls.timeout))

    def to_settings(self) -> dict[str, Any]:
        """The settings that :meth:`from_settings` reads back (for a job's worker)."""
        return {"allow_private": self.allow_private, "allowed_hosts": list(self.allowed_hosts),
                "s3_buckets": list(self.s3_buckets), "max_bytes": self.max_bytes,
                "max_seconds": self.max_seconds, "timeout": self.timeout}


# ---------------------------------------------------------------------- urllib plumbing
def _limited_response(policy: FetchPolicy, url: str) -> type[http.client.HTTPResponse]:
    started = time.monotonic()

    class LimitedResponse(http.client.HTTPResponse):
        _count = 0

        def _account(self, n: int) -> None:
            self._count += n
            if self._count > policy.max_bytes:
                raise FetchRefused(f"{url}: larger than this service's limit of {policy.max_bytes} bytes")
            if time.monotonic() - started > policy.max_seconds:
                raise FetchRefused(f"{url}: took longer than this service's limit of {policy.max_seconds:.0f} s")

        def begin(self) -> None:
            super().begin()
            length = self.getheader("Content-Length")
            if length and length.isdigit() and int(length) > policy.max_bytes:
                raise FetchRefused(f"{url}: larger than this service's limit of {policy.max_bytes} bytes")

        def read(self, amt: int | None = None) -> bytes:
            data = super().read(amt)
            self._account(len(data))
            return data

        def readinto(self, b: Any) -> int:
            n = super().readinto(b)
            self._account(n)
            return n

    return LimitedResponse


def _checked_connection(base: type[http.client.HTTPConnection], policy: FetchPolicy) -> Any:
    class Checked(base):  # type: ignore[misc, valid-type]
        def connect(self) -> None:
            scheme = "https" if issubclass(base, http.client.HTTPSConnection) else "http"
            url = f"{scheme}://{self.host}:{self.port}/"
            addrs = policy.check_host(self.host.rstrip(".").lower(), self.port, url)
            self.response_class = _limited_response(policy, url)
            err: OSError | None = None
            for addr in addrs:
                try:
                    self.sock = socket.create_connection((addr, self.port), self.timeout, self.source_address)
                    break
                except OSError as exc:
                    err = exc
            else:
                raise err or FetchRefused(f"{url}: no address to connect to")
            if scheme == "https":
                ctx = getattr(self, "_context", None) or ssl.create_default_context()
                self.sock = ctx.wrap_socket(self.sock, server_hostname=self.host)

    return Checked


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__()
        self.policy = policy

    def http_open(self, req: Any) -> Any:
        return self.do_open(_checked_connection(http.client.HTTPConnection, self.policy), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__()
        self.policy = policy

    def https_open(self, req: Any) -> Any:
        return self.do_open(_checked_connection(http.client.HTTPSConnection, self.policy), req,
                            context=self._context)


class _NoProxy(urllib.request.ProxyHandler):
    def __init__(self) -> None:
        super().__init__({})


_current: FetchPolicy | None = None


def build_opener(policy: FetchPolicy) -> urllib.request.OpenerDirector:
    """A ``urllib`` opener whose http(s) connections obey ``policy`` (no proxies, no ftp/file)."""
    opener = urllib.request.OpenerDirector()
    for h in (_NoProxy(), urllib.request.UnknownHandler(), _HTTPHandler(policy), _HTTPSHandler(policy),
              urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPRedirectHandler(),
              urllib.request.HTTPErrorProcessor()):
        opener.add_handler(h)
    return opener


def install(policy: FetchPolicy) -> None:
    """Make ``policy`` govern every ``urllib.request.urlopen`` of this process."""
    global _current
    _current = policy
    urllib.request.install_opener(build_opener(policy))


def current() -> FetchPolicy | None:
    """The installed policy (None when :func:`install` was not called)."""
    return _current
