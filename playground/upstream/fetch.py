"""The one guarded fetcher for every server-side fetch of a URL.

Result images that gateways return as URLs, and reference images users give by URL when a
provider takes edits as multipart files, are fetched here and nowhere else. The threat is
server-side request forgery: a URL that points at the machine itself, the private network or a
cloud metadata service. So every URL, including every redirect target, must be http(s) on port
80/443, every address its host resolves to must be public, and the connection goes to exactly
the address that was checked (no second DNS lookup the attacker could answer differently). Bodies
are capped in bytes and time and must be a real image of an allowed format and size.

Pure Python + httpx + Pillow (through `playground.imaging`) on purpose: no Django imports, so
it is trivially testable.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from playground import imaging
from playground.upstream.addresses import Resolver, check_url
from playground.upstream.errors import UpstreamError
from playground.upstream.tls import tls_context

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
GONE_STATUSES = frozenset({404, 410})
REQUEST_HEADERS = {
    "User-Agent": "ImagePlayground/0.1 (image fetcher)",
    "Accept": "image/png, image/jpeg, image/webp, */*;q=0.5",
    "Accept-Encoding": "identity",  # see _check_headers: compressed bodies are refused
}


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
        target, addresses = check_url(current, policy.local_origins, resolver)
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
    """`imaging.verify_image`, failing as an UpstreamError like everything else here."""
    try:
        return imaging.verify_image(data, max_pixels=max_pixels, allowed_formats=allowed_formats)
    except imaging.ImageRejected as exc:
        raise UpstreamError("bad_response", str(exc)) from exc
