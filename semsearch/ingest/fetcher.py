"""Fetching pages and feeds over HTTP, politely and within limits (httpx).

One client per run: an identifying User-Agent, a timeout (per operation and for the whole
transfer), a size limit checked while the body streams in, at most `max_redirects` redirects,
and a delay between two requests to the same host. Conditional requests (ETag, Last-Modified)
let a watcher ask only for what changed.

Links come from feeds and pages that anyone can publish, and what is fetched becomes searchable by
anyone: every connection (the first request and each redirect) goes to a public address only, checked
on the address actually connected to (resolved once, so DNS cannot answer differently between the check
and the connection). Loopback, private, link-local and reserved addresses need `allow_private`.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urldefrag, urlsplit, urlunsplit

from .. import __version__

if TYPE_CHECKING:
    import httpx

DEFAULT_USER_AGENT = f"semsearch/{__version__} (news search indexer; set SEMSEARCH_USER_AGENT to add a contact)"


@dataclass(frozen=True)
class FetchConfig:
    timeout: float = 10.0  # seconds, for connecting, each read and the whole transfer
    max_bytes: int = 5 * 1024 * 1024
    delay: float = 1.0  # seconds between two requests to one host
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    allow_private: bool = False  # fetch loopback, private, link-local and reserved addresses too
    allow_addresses: tuple[str, ...] = ()  # these addresses or networks (CIDR) only, when not all are allowed


log = logging.getLogger(__name__)


def header_value(value: object) -> str | None:
    """A validator a server sent, or a state file holds, if it can be sent back as a header: visible
    ASCII only (RFC 9110); anything else is dropped, so one odd header costs a full fetch, not a failure."""
    if not isinstance(value, str) or not value or len(value) > 1024:
        return None
    return value if all(" " <= ch <= "~" for ch in value) else None


@dataclass
class Validators:
    """What a server said identifies the version it sent, for the next conditional request."""

    etag: str | None = None
    last_modified: str | None = None

    def __post_init__(self) -> None:
        self.etag, self.last_modified = header_value(self.etag), header_value(self.last_modified)

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass
class Fetched:
    url: str  # after redirects
    not_modified: bool = False  # 304: the version named by the validators is still current
    content: bytes = b""
    content_type: str = ""  # media type, lower case, without parameters
    charset: str | None = None
    validators: Validators = field(default_factory=Validators)


class FetchError(Exception):
    """A URL that could not be fetched; the message says why, for the per-item report."""


def is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def canonical_url(url: str) -> str:
    """The URL without its #fragment (the same page; a passage id's # must stay unambiguous) and without
    credentials (`user:password@`: they would become the public document id)."""
    url = urldefrag(url.strip())[0]
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def refused_address(ip: str) -> str | None:
    """Why an address may not be fetched by default, or None for a public one."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        else:  # an IPv4 address carried in IPv6 (6to4, Teredo) is where the packets end up
            for embedded in (address.sixtofour, address.teredo[1] if address.teredo else None):
                if embedded is not None and refused_address(str(embedded)):
                    return f"{refused_address(str(embedded))}, tunnelled"
            if address.is_site_local:
                return "private"
    for what, hit in (
        ("loopback", address.is_loopback), ("link-local", address.is_link_local),
        ("reserved", address.is_reserved or address.is_unspecified), ("multicast", address.is_multicast),
        ("private", address.is_private),
    ):
        if hit:
            return what
    return None if address.is_global else "not public"


def allowed_networks(values: tuple[str, ...] | list[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Addresses or networks (`10.0.0.0/8`, `192.168.1.5`, `::1`); ValueError names the one that is neither."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or network (e.g. 10.0.0.0/8, 192.168.1.5)") from None
    return tuple(networks)


REFUSED = "refused:"  # how a refused connection's message starts (FetchError reports it as it is)


def _public_backend(config: FetchConfig):
    """An httpcore network backend that connects only to addresses `refused_address` lets through (or
    the config allows), to the very address it checked: a name is resolved once per connection, so DNS
    cannot answer a public address to the check and a private one to the connection."""
    import httpcore

    allowed = allowed_networks(config.allow_addresses)

    def why_refused(ip: str) -> str | None:
        if config.allow_private:
            return None
        address = ipaddress.ip_address(ip.split("%", 1)[0])
        if any(address in network for network in allowed):
            return None
        return refused_address(ip)

    class PublicOnlyBackend(httpcore.SyncBackend):
        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise httpcore.ConnectError(f"{host}: cannot be resolved ({exc})") from None
            refused, failure = [], None
            for *_, sockaddr in infos:
                ip = str(sockaddr[0])
                why = why_refused(ip)
                if why is not None:
                    refused.append(f"{ip} ({why})")
                    continue
                try:  # the next allowed address when this one does not answer (IPv6 first, then IPv4)
                    return super().connect_tcp(ip, port, timeout, local_address, socket_options)
                except httpcore.ConnectError as exc:
                    failure = exc
            if failure is not None:
                raise failure
            raise httpcore.ConnectError(
                f"{REFUSED} {host} is at {', '.join(dict.fromkeys(refused))}, not a public address "
                "(SEMSEARCH_FETCH_ALLOW_PRIVATE=true allows every such address, SEMSEARCH_FETCH_ALLOW_ADDRESSES some)"
            )

    return PublicOnlyBackend()


class Fetcher:
    def __init__(self, config: FetchConfig = FetchConfig(), sleep=time.sleep, clock=time.monotonic) -> None:
        self.config = config
        self._sleep = sleep
        self._clock = clock
        self._last_request: dict[str, float] = {}  # host -> when the last request to it started
        import httpx  # here: settings import this module's FetchConfig, and the service needs no HTTP client

        transport = httpx.HTTPTransport()
        # Every connection, redirects included, goes through the address check (httpx has no public hook
        # for the network backend of its connection pool: checked, so that an upgrade cannot skip it).
        if not hasattr(transport._pool, "_network_backend"):
            raise RuntimeError("this httpx/httpcore version has no connection-pool network backend: addresses cannot be checked")
        transport._pool._network_backend = _public_backend(config)
        self._client = httpx.Client(
            headers={"User-Agent": config.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(config.timeout),
            follow_redirects=True,
            max_redirects=config.max_redirects,
            transport=transport,
            trust_env=False,  # a proxy from the environment would connect where the check cannot see
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _wait_for(self, host: str) -> None:
        last = self._last_request.get(host)
        if last is not None:
            wait = last + self.config.delay - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_request[host] = self._clock()

    def get(self, url: str, validators: Validators | None = None, accept: str | None = None) -> Fetched:
        """The body of `url`; FetchError for anything but a 2xx or a 304 within the limits."""
        import httpx

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError("not an http:// or https:// URL")
        self._wait_for(parts.hostname)
        headers = dict(validators.headers()) if validators else {}
        if accept:
            headers["Accept"] = accept
        limit, deadline = self.config.max_bytes, self._clock() + self.config.timeout
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                final = str(response.url)
                if response.status_code == 304:
                    return Fetched(final, not_modified=True, validators=_validators(response, validators))
                if not 200 <= response.status_code < 300:
                    raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}".rstrip())
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise FetchError(f"larger than the size limit ({int(declared):,} bytes > {limit:,})")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise FetchError(f"larger than the size limit ({limit:,} bytes)")
                    if self._clock() > deadline:
                        raise FetchError(f"timed out after {self.config.timeout:g} s")
                media = response.headers.get("Content-Type", "")
                return Fetched(
                    url=final,
                    content=bytes(body),
                    content_type=media.split(";", 1)[0].strip().lower(),
                    charset=response.charset_encoding,
                    validators=_validators(response, None),
                )
        except httpx.TooManyRedirects:
            raise FetchError(f"more than {self.config.max_redirects} redirects (a redirect loop?)") from None
        except httpx.TimeoutException:
            raise FetchError(f"timed out after {self.config.timeout:g} s") from None
        except httpx.ConnectError as exc:
            reason = _reason(exc)
            raise FetchError(reason if reason.startswith(REFUSED) else f"unreachable ({reason})") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise FetchError(f"{type(exc).__name__}: {_reason(exc)}") from None
        except (UnicodeError, ValueError) as exc:  # a header or URL httpx cannot encode
            raise FetchError(f"cannot be requested ({_reason(exc)})") from None


def _validators(response: httpx.Response, previous: Validators | None) -> Validators:
    """A 304 may omit the validators: then the ones that were sent stay current."""
    etag = response.headers.get("ETag")
    modified = response.headers.get("Last-Modified")
    if previous is not None:
        etag, modified = etag or previous.etag, modified or previous.last_modified
    return Validators(etag, modified)


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
