"""The one guarded fetcher for every server-side fetch of a URL.

Result images that gateways return as URLs (and, later, reference images users give by URL) are
fetched here and nowhere else. The threat is server-side request forgery: a URL that points at
the machine itself, the private network or a cloud metadata service. So every URL, including every
redirect target, must be http(s) on port 80/443, every address its host resolves to must be
public, and the connection goes to exactly the address that was checked (no second DNS lookup the
attacker could answer differently). Bodies are capped in bytes and time and must be a real image
of an allowed format and size.

Pure Python + httpx + Pillow on purpose: no Django imports, so it is trivially testable.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import re
import socket
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image, UnidentifiedImageError

from playground.upstream.errors import UpstreamError
from playground.upstream.tls import tls_context

Resolver = Callable[[str, int], list[str]]

DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
GONE_STATUSES = frozenset({404, 410})
REQUEST_HEADERS = {
    "User-Agent": "ImagePlayground/0.1 (image fetcher)",
    "Accept": "image/png, image/jpeg, image/webp, */*;q=0.5",
    "Accept-Encoding": "identity",  # see _check_headers: compressed bodies are refused
}
FORMAT_LABELS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP", "GIF": "GIF"}


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 64 * 1024 * 1024
    # Total budget for the whole fetch, redirects included, not a per-read timeout.
    timeout: float = 60.0
    max_redirects: int = 5
    max_pixels: int = 8192 * 8192
    allowed_formats: frozenset[str] = frozenset({"PNG", "JPEG", "WEBP"})
    # A provider explicitly marked local (the offline Demo gateway on 127.0.0.1:8000) may be
    # fetched from, but only its own host:port: the one exception to the public-address rule.
    local_origins: frozenset[tuple[str, int]] = field(default_factory=frozenset)


@dataclass
class FetchedImage:
    data: bytes
    format: str
    width: int
    height: int
    content_type: str | None
    final_url: str


# --- Which addresses are public -------------------------------------------------------------

# `is_global` alone is not enough: its answers differ between Python releases (3.11 calls
# ::ffff:8.8.8.8 and 64:ff9b:1::1 global), so the ranges we refuse are listed explicitly.
_NON_PUBLIC_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network", includes the unspecified address
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT, reachable inside many clouds
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, includes the 169.254.169.254 metadata service
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1 documentation
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2 documentation
        "203.0.113.0/24",  # TEST-NET-3 documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes broadcast 255.255.255.255
    )
)

_NON_PUBLIC_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/128",  # unspecified
        "::1/128",  # loopback
        "64:ff9b:1::/48",  # local-use NAT64: where the IPv4 sits is the local operator's choice
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, includes Teredo 2001::/32 (refused outright)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # SRv6 segment identifiers
        "fc00::/7",  # unique local (private)
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)

# Everything routable on the IPv6 internet is allocated from 2000::/3; anything else is special.
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_NAT64_V6 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE_V6 = ipaddress.IPv6Network("::/96")


def is_public_address(ip: str) -> bool:
    """True only for an address on the public internet; anything unparsable is not public."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return _is_public_v4(address)
    return _is_public_v6(address)


def _is_public_v4(address: ipaddress.IPv4Address) -> bool:
    if any(address in net for net in _NON_PUBLIC_V4):
        return False
    return address.is_global


def _is_public_v6(address: ipaddress.IPv6Address) -> bool:
    if address.scope_id:
        return False  # a zone index only makes sense for link-local addresses
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        # These forms reach an IPv4 host, so that host is what must be public.
        return _is_public_v4(embedded)
    if any(address in net for net in _NON_PUBLIC_V6):
        return False
    return address in _GLOBAL_UNICAST_V6 and address.is_global


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 address leads to."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_V6 or address in _IPV4_COMPATIBLE_V6:
        # Includes :: and ::1, whose "embedded" 0.0.0.0 / 0.0.0.1 are not public either.
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


# --- Checking a URL ------------------------------------------------------------------------

_NUMBER = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def check_url(
    url: str, policy: FetchPolicy, resolver: Resolver | None = None
) -> tuple[httpx.URL, list[str]]:
    """Refuse `url` unless it may be fetched; return it parsed with the addresses to connect to."""
    target = _parse_url(url)
    host = _canonical_host(target.raw_host.decode("ascii"))
    port = target.port or DEFAULT_PORTS[target.scheme]
    local = (host, port) in _local_origins(policy)
    if not local and port not in (80, 443):
        raise UpstreamError("blocked", f"port {port} is not allowed; only 80 and 443 are")
    addresses = _resolve(host, port, resolver or _system_resolver)
    for address in addresses:
        _check_address(target.host, address, local=local)
    return target, addresses


def _parse_url(url: str) -> httpx.URL:
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UpstreamError("blocked", f"not a valid URL: {exc}") from exc
    if target.scheme not in DEFAULT_PORTS:
        scheme = target.scheme or "(none)"
        raise UpstreamError("blocked", f"the URL scheme {scheme!r} is not allowed; use http(s)")
    if target.userinfo:
        raise UpstreamError("blocked", "URLs with a user name or password are not allowed")
    if not target.raw_host:
        raise UpstreamError("blocked", "the URL has no host")
    return target


def _canonical_host(host: str) -> str:
    """One spelling per host: IP literals normalised, names lower-cased without a final dot."""
    host = host.lower()
    if ":" in host:
        return str(ipaddress.IPv6Address(host))
    numeric = _parse_numeric_ipv4(host)
    if numeric is not None:
        return str(numeric)
    return host.rstrip(".")


def _parse_numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Read the legacy IPv4 spellings resolvers accept (2130706433, 0x7f.1, 127.1, 0177.0.0.1).

    Follows the WHATWG URL rule: a host whose last label is a number is an IPv4 address or
    nothing, so these forms can never sneak past as "hostnames" that a resolver turns into
    127.0.0.1.
    """
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    if not _NUMBER.match(labels[-1]):
        return None
    try:
        numbers = [_parse_ipv4_number(label) for label in labels]
    except ValueError:
        raise UpstreamError("blocked", f"{host!r} is not a valid IPv4 address") from None
    if len(numbers) > 4 or any(n > 255 for n in numbers[:-1]):
        raise UpstreamError("blocked", f"{host!r} is not a valid IPv4 address")
    last_bits = 8 * (5 - len(numbers))
    if numbers[-1] >= 1 << last_bits:
        raise UpstreamError("blocked", f"{host!r} is not a valid IPv4 address")
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _parse_ipv4_number(label: str) -> int:
    if not _NUMBER.match(label):
        raise ValueError(label)
    if label.startswith("0x"):
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    return int(label, 10)


def _local_origins(policy: FetchPolicy) -> set[tuple[str, int]]:
    # Settings may spell an IPv6 origin with brackets, as in a URL.
    return {
        (_canonical_host(host.strip("[]")), port) for host, port in policy.local_origins if host
    }


def _resolve(host: str, port: int, resolver: Resolver) -> list[str]:
    if _is_ip_literal(host):
        return [host]
    try:
        found = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise UpstreamError("connection", f"could not resolve {host}: {exc}") from exc
    addresses: list[str] = []
    for raw in found:
        address = _normalise_address(host, raw)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UpstreamError("connection", f"could not resolve {host}: no addresses")
    return addresses


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _normalise_address(host: str, raw: str) -> str:
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise UpstreamError("blocked", f"{host} resolved to {raw!r}, not an IP address") from None


def _check_address(host: str, address: str, *, local: bool) -> None:
    if local:
        # The local provider may live on loopback or a private network, but an unspecified or
        # multicast address is never a server.
        parsed = ipaddress.ip_address(address)
        if parsed.is_unspecified or parsed.is_multicast:
            raise UpstreamError("blocked", f"{host} resolves to {address}, not a server address")
        return
    if not is_public_address(address):
        raise UpstreamError(
            "blocked",
            f"{_describe(host, address)} not a public address (private, local or reserved)",
        )


def _describe(host: str, address: str) -> str:
    if host == address:
        return f"{host} is"
    if _is_ip_literal(_canonical_host(host)):
        return f"{host} (that is {address}) is"  # an odd spelling like 2130706433
    return f"{host} resolves to {address}, which is"


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


# --- Fetching ------------------------------------------------------------------------------


def fetch_image(
    url: str,
    policy: FetchPolicy,
    *,
    resolver: Resolver | None = None,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FetchedImage:
    """Download and verify one image, following at most `policy.max_redirects` checked redirects.

    The time budget is checked against `clock` before each hop and each read (tests pass one they
    move by hand); the timer that cuts a read stalled on the network counts real seconds."""
    owned = transport is None
    client = httpx.Client(
        transport=transport or _default_transport(),
        follow_redirects=False,  # every hop is re-checked by us
        trust_env=False,  # no env proxies (they would resolve names themselves), no .netrc
        headers=REQUEST_HEADERS,
    )
    try:
        with _Deadline(policy.timeout, clock) as deadline:
            return _follow(client, url, policy, resolver, deadline)
    finally:
        if owned:
            client.close()


def _follow(
    client: httpx.Client,
    url: str,
    policy: FetchPolicy,
    resolver: Resolver | None,
    deadline: _Deadline,
) -> FetchedImage:
    current = url
    for _hop in range(policy.max_redirects + 1):
        target, addresses = check_url(current, policy, resolver)
        response = _send(client, target, addresses, deadline)
        try:
            location = _redirect_location(response)
            if location is None:
                return _read_image(response, target, policy, deadline)
        finally:
            response.close()
        current = _join(target, location)
    raise UpstreamError("blocked", f"too many redirects (more than {policy.max_redirects})")


def _default_transport() -> httpx.HTTPTransport:
    # No keep-alive: a pooled connection is keyed by IP, and must not be reused for a redirect
    # to another hostname on the same IP whose certificate was never checked.
    return httpx.HTTPTransport(
        verify=tls_context(), retries=0, limits=httpx.Limits(max_keepalive_connections=0)
    )


class _Deadline:
    """The whole fetch's time budget, kept even while httpx is blocked reading.

    httpx timeouts apply per socket operation, so a server sending a byte now and then never
    trips them. A timer therefore shuts the current connection's socket down when the budget is
    spent; the blocked read fails at once and is reported as a timeout.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self.at = clock() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._timer = threading.Timer(max(seconds, 0), self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        left = self.at - self._clock()
        if self.expired or left <= 0:
            raise self.error()
        return left

    def timeouts(self) -> dict[str, float]:
        left = self.remaining()
        return {"connect": left, "read": left, "write": left, "pool": left}

    def error(self) -> UpstreamError:
        return UpstreamError("timeout", f"fetching the image took longer than {self.seconds:g} s")

    def failure(self, exc: httpx.TransportError, message: str) -> UpstreamError:
        """The error to report for a transport failure, which may be our own timer's doing."""
        if isinstance(exc, httpx.TimeoutException) or self.expired or self._clock() >= self.at:
            return self.error()
        return UpstreamError("connection", f"{message}: {exc}")

    def trace(self, event: str, info: dict[str, Any]) -> None:
        # httpcore's `trace` request extension hands over each new connection's network stream.
        if event not in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            return
        stream = info.get("return_value")
        with self._lock:
            self._socket = stream.get_extra_info("socket") if stream is not None else None
            if self.expired:
                self._cut()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._cut()

    def _cut(self) -> None:
        if self._socket is None:
            return
        with contextlib.suppress(OSError):
            # The plain socket method: SSLSocket.shutdown would also drop the TLS object the
            # reading thread is using. A closed socket has fd -1, so nothing else is touched.
            socket.socket.shutdown(self._socket, socket.SHUT_RDWR)


def _send(
    client: httpx.Client, target: httpx.URL, addresses: list[str], deadline: _Deadline
) -> httpx.Response:
    """Send the GET to the checked addresses in turn until one accepts the connection."""
    last_error: Exception | None = None
    for address in addresses:
        request = _pinned_request(client, target, address, deadline)
        try:
            return client.send(request, stream=True)
        except httpx.ConnectError as exc:
            if deadline.expired:
                raise deadline.error() from exc
            last_error = exc
        except httpx.TransportError as exc:
            raise deadline.failure(exc, f"fetching from {target.host} failed") from exc
    raise UpstreamError("connection", f"could not connect to {target.host}: {last_error}")


def _pinned_request(
    client: httpx.Client, target: httpx.URL, address: str, deadline: _Deadline
) -> httpx.Request:
    """A request to the IP literal that was checked, speaking to the server as `target`'s host."""
    extensions: dict[str, Any] = {"timeout": deadline.timeouts(), "trace": deadline.trace}
    if target.scheme == "https":
        # TLS SNI and certificate verification use the real name, not the IP we connect to.
        extensions["sni_hostname"] = target.raw_host.decode("ascii")
    try:
        pinned = target.copy_with(host=address)
    except httpx.InvalidURL as exc:
        raise UpstreamError("blocked", f"cannot connect to {address}: {exc}") from exc
    headers = {"Host": target.netloc.decode("ascii")}
    return client.build_request("GET", pinned, headers=headers, extensions=extensions)


def _redirect_location(response: httpx.Response) -> str | None:
    if response.status_code not in REDIRECT_STATUSES:
        return None
    location = response.headers.get("Location")
    if not location:
        raise UpstreamError(
            "bad_response",
            f"HTTP {response.status_code} redirect without a Location",
            status=response.status_code,
        )
    return location


def _join(target: httpx.URL, location: str) -> str:
    try:
        return str(target.join(location))
    except httpx.InvalidURL as exc:
        raise UpstreamError("blocked", f"the redirect target is not a valid URL: {exc}") from exc


def _read_image(
    response: httpx.Response, target: httpx.URL, policy: FetchPolicy, deadline: _Deadline
) -> FetchedImage:
    _check_status(response)
    _check_headers(response, policy)
    data = _read_capped(response, policy.max_bytes, deadline)
    image_format, width, height = verify_image(
        data, max_pixels=policy.max_pixels, allowed_formats=policy.allowed_formats
    )
    return FetchedImage(
        data=data,
        format=image_format,
        width=width,
        height=height,
        content_type=response.headers.get("Content-Type"),
        final_url=str(target),
    )


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if status in GONE_STATUSES:
        raise UpstreamError(
            "not_found",
            f"the image URL has expired or does not exist (HTTP {status})",
            status=status,
        )
    if not 200 <= status < 300:
        raise UpstreamError(
            "upstream_error", f"fetching the image failed with HTTP {status}", status=status
        )


def _check_headers(response: httpx.Response, policy: FetchPolicy) -> None:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise UpstreamError(
            "too_large", f"the image is {declared} bytes; at most {policy.max_bytes} are allowed"
        )
    # We ask for identity so the byte cap counts exactly what is kept in memory; a compressed
    # body would be inflated chunk by chunk far beyond its wire size (a zip bomb).
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise UpstreamError(
            "bad_response", f"the image was sent with Content-Encoding {encoding!r}"
        )


def _read_capped(response: httpx.Response, max_bytes: int, deadline: _Deadline) -> bytes:
    chunks: list[bytes] = []
    size = 0
    stream = response.iter_bytes()  # no decoding happens: only identity bodies get here
    while True:
        deadline.remaining()  # also stops a body that arrives steadily but too slowly
        try:
            chunk = next(stream, None)
        except httpx.TransportError as exc:
            raise deadline.failure(exc, "the download was interrupted") from exc
        if chunk is None:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise UpstreamError("too_large", f"the image is larger than {max_bytes} bytes")
        chunks.append(chunk)


# --- Verifying the content -----------------------------------------------------------------


def verify_image(
    data: bytes, *, max_pixels: int, allowed_formats: frozenset[str]
) -> tuple[str, int, int]:
    """Return (format, width, height) of `data` if it is a sound image we accept."""
    wanted = _format_names(allowed_formats)
    if not data:
        raise UpstreamError("bad_response", f"the response was empty, not a {wanted} image")
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own limit; any bomb warning is a refusal here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _open_and_verify(data, max_pixels, allowed_formats)
    except UpstreamError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UpstreamError("bad_response", f"the image is too large to decode: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise UpstreamError("bad_response", f"not a {wanted} image") from exc
    except Exception as exc:  # Pillow raises many types for damaged files
        raise UpstreamError("bad_response", f"the image is damaged: {exc}") from exc


def _open_and_verify(
    data: bytes, max_pixels: int, allowed_formats: frozenset[str]
) -> tuple[str, int, int]:
    # `formats` keeps every other Pillow decoder (and its attack surface) out of the way.
    with Image.open(io.BytesIO(data), formats=sorted(allowed_formats)) as image:
        image_format = image.format or ""
        width, height = image.size
        if image_format not in allowed_formats:
            raise UpstreamError("bad_response", f"not a {_format_names(allowed_formats)} image")
        # The size comes from the header; nothing has been decoded yet.
        if width * height > max_pixels:
            raise UpstreamError(
                "bad_response",
                f"the image is {width}x{height} pixels; at most {max_pixels} pixels are allowed",
            )
        image.verify()
    return image_format, width, height


def _format_names(formats: frozenset[str]) -> str:
    # Familiar order first (PNG/JPEG/WebP), anything else after it.
    order = list(FORMAT_LABELS)
    ranked = sorted(formats, key=lambda name: (order.index(name) if name in order else 99, name))
    return "/".join(FORMAT_LABELS.get(name, name) for name in ranked)
