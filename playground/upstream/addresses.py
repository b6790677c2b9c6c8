"""Which URLs and addresses the guarded fetcher may connect to (see `fetch`).

Every URL must be http(s) on port 80/443 and every address its host resolves to must be public,
except the (host, port) origins a local provider (the offline Demo) is explicitly allowed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable

import httpx

from playground.upstream.errors import UpstreamError

Resolver = Callable[[str, int], list[str]]

DEFAULT_PORTS = {"http": 80, "https": 443}


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
    url: str,
    local_origins: frozenset[tuple[str, int]] = frozenset(),
    resolver: Resolver | None = None,
) -> tuple[httpx.URL, list[str]]:
    """Refuse `url` unless it may be fetched; return it parsed with the addresses to connect to.

    `local_origins` are the (host, port) pairs exempt from the public-address rule.
    """
    target = _parse_url(url)
    host = _canonical_host(target.raw_host.decode("ascii"))
    port = target.port or DEFAULT_PORTS[target.scheme]
    local = (host, port) in _local_origins(local_origins)
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


def _local_origins(origins: frozenset[tuple[str, int]]) -> set[tuple[str, int]]:
    # Settings may spell an IPv6 origin with brackets, as in a URL.
    return {(_canonical_host(host.strip("[]")), port) for host, port in origins if host}


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
