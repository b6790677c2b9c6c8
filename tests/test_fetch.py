from __future__ import annotations

import contextlib
import datetime
import http.server
import io
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator

import httpx
import pytest
from PIL import Image

from playground.upstream.addresses import check_url, is_public_address
from playground.upstream.errors import UpstreamError
from playground.upstream.fetch import FetchPolicy, fetch_image, verify_image

PUBLIC_IP = "93.184.216.34"
POLICY = FetchPolicy()


def make_image(fmt: str = "PNG", size: tuple[int, int] = (7, 5)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(buffer, format=fmt)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims another size: the shape of a decompression bomb."""
    data = bytearray(make_image("PNG", (1, 1)))
    # IHDR is the first chunk: length(4) type(4) at offset 8, then width/height, CRC at 29.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def resolver_for(table: dict[str, list[str]], calls: list[str] | None = None):
    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


PUBLIC_RESOLVER = resolver_for(
    {
        "images.example.com": [PUBLIC_IP],
        "cdn.example.net": ["2606:4700:4700::1111"],
        "other.example.org": ["8.8.8.8"],
        "evil.example": ["10.0.0.7"],
    }
)


def blocked(url: str, policy: FetchPolicy = POLICY, resolver=PUBLIC_RESOLVER) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        check_url(url, policy.local_origins, resolver)
    assert caught.value.kind == "blocked"
    return caught.value


def fetch_with(
    handler: Callable[[httpx.Request], httpx.Response],
    url: str = "https://images.example.com/img.png",
    policy: FetchPolicy = POLICY,
    resolver=PUBLIC_RESOLVER,
    **options,
):
    transport = httpx.MockTransport(handler)
    return fetch_image(url, policy, resolver=resolver, transport=transport, **options)


def fetch_error(handler, url: str = "https://images.example.com/img.png", **kwargs):
    with pytest.raises(UpstreamError) as caught:
        fetch_with(handler, url, **kwargs)
    return caught.value


# --- is_public_address ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "ip",
    [
        "8.8.8.8",
        "1.1.1.1",
        PUBLIC_IP,
        "2606:4700:4700::1111",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",  # IPv4-mapped, judged by the public IPv4 inside
        "64:ff9b::808:808",  # NAT64 of 8.8.8.8
        "2002:808:808::1",  # 6to4 of 8.8.8.8
    ],
)
def test_it_accepts_public_addresses(ip):
    assert is_public_address(ip) is True


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",  # loopback
        "127.255.0.9",
        "::1",
        "10.0.0.1",  # private
        "172.16.5.4",
        "172.31.255.255",
        "192.168.1.1",
        "fd00::1",  # unique local
        "fc00::1",
        "169.254.169.254",  # link-local / cloud metadata
        "169.254.0.1",
        "fe80::1",
        "fe80::1%eth0",
        "100.64.1.1",  # CGNAT
        "100.127.255.254",
        "0.0.0.0",  # noqa: S104 (unspecified / "this network")
        "0.1.2.3",
        "::",
        "224.0.0.1",  # multicast
        "239.255.255.250",
        "ff02::1",
        "240.0.0.1",  # reserved
        "255.255.255.255",  # broadcast
        "192.0.2.10",  # documentation
        "198.51.100.7",
        "203.0.113.9",
        "2001:db8::1",
        "198.18.0.1",  # benchmarking
        "192.0.0.8",  # IETF protocol assignments
        "::ffff:10.0.0.1",  # IPv4-mapped private
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",  # IPv4-compatible loopback
        "::10.0.0.1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::7f00:1",
        "64:ff9b:1::a00:1",  # local-use NAT64 prefix
        "2002:7f00:0001::",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2001::1",  # Teredo, refused outright
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "fec0::1",  # site-local
        "100::1",  # discard-only
        "not-an-ip",
        "",
    ],
)
def test_it_refuses_non_public_addresses(ip):
    assert is_public_address(ip) is False


# --- check_url -----------------------------------------------------------------------------


def test_it_returns_the_parsed_url_and_the_checked_addresses():
    target, addresses = check_url(
        "https://images.example.com/a.png?x=1", POLICY.local_origins, PUBLIC_RESOLVER
    )
    assert target == httpx.URL("https://images.example.com/a.png?x=1")
    assert addresses == [PUBLIC_IP]


def test_it_deduplicates_and_normalises_resolved_addresses():
    resolver = resolver_for(
        {"images.example.com": ["8.8.8.8", "8.8.8.8", "2606:4700:4700:0::1111"]}
    )
    _, addresses = check_url("http://images.example.com/", POLICY.local_origins, resolver)
    assert addresses == ["8.8.8.8", "2606:4700:4700::1111"]


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://images.example.com/a.png",
        "gopher://images.example.com:70/_GET",
        "data:image/png;base64,AAAA",
        "javascript:alert(1)",
        "/relative/path.png",
    ],
)
def test_it_refuses_schemes_other_than_http(url):
    error = blocked(url)
    assert "scheme" in error.message


def test_it_refuses_userinfo():
    error = blocked("https://user:secret@images.example.com/a.png")
    assert "user name or password" in error.message
    assert "secret" not in error.message


@pytest.mark.parametrize("url", ["http://images.example.com:8080/", "https://8.8.8.8:22/"])
def test_it_refuses_ports_other_than_80_and_443(url):
    assert "port" in blocked(url).message


def test_it_allows_explicit_standard_ports():
    assert check_url("http://images.example.com:80/", POLICY.local_origins, PUBLIC_RESOLVER)[1] == [
        PUBLIC_IP
    ]
    assert check_url("https://images.example.com:443/", POLICY.local_origins, PUBLIC_RESOLVER)[
        1
    ] == [PUBLIC_IP]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://2130706433/",  # decimal
        "http://0x7f000001/",  # hex
        "http://0x7f.1/",  # hex, short form
        "http://127.1/",
        "http://017700000001/",  # octal
        "http://0/",
        "http://0177.0.0.1/",  # octal dotted (httpx already refuses)
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://1.2.3.4.5/",  # ends in a number, so an address or nothing
        "http://256.0.0.1/",
    ],
)
def test_it_refuses_private_ip_literals_in_every_spelling(url):
    calls: list[str] = []
    blocked(url, resolver=resolver_for({}, calls))
    assert calls == []  # an IP literal is never handed to DNS


def test_it_reads_odd_spellings_of_public_addresses():
    assert check_url("http://134744072/", POLICY.local_origins, resolver_for({}))[1] == ["8.8.8.8"]
    assert check_url("http://0x8.0x8.0x8.0x8/", POLICY.local_origins, resolver_for({}))[1] == [
        "8.8.8.8"
    ]


def test_it_refuses_a_host_when_any_resolved_address_is_private():
    resolver = resolver_for({"mixed.example.com": ["8.8.8.8", "192.168.0.10"]})
    error = blocked("https://mixed.example.com/a.png", resolver=resolver)
    assert "192.168.0.10" in error.message
    assert "not a public address" in error.message


def test_it_refuses_a_hostname_resolving_to_the_metadata_service():
    resolver = resolver_for({"metadata.example.com": ["169.254.169.254"]})
    error = blocked("http://metadata.example.com/latest/meta-data/", resolver=resolver)
    assert "169.254.169.254" in error.message


def test_it_reports_an_unresolvable_host_as_a_connection_error():
    with pytest.raises(UpstreamError) as caught:
        check_url("https://nowhere.example/", POLICY.local_origins, resolver_for({}))
    assert caught.value.kind == "connection"
    assert "nowhere.example" in caught.value.message


LOCAL = FetchPolicy(local_origins=frozenset({("127.0.0.1", 8000)}))


def test_it_allows_exactly_the_local_origin():
    target, addresses = check_url(
        "http://127.0.0.1:8000/media/a.png", LOCAL.local_origins, resolver_for({})
    )
    assert target.port == 8000
    assert addresses == ["127.0.0.1"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8001/a.png",  # same host, another port
        "http://127.0.0.1/a.png",  # same host, default port
        "http://127.0.0.2:8000/a.png",  # another local host
        "http://10.0.0.5:8000/a.png",
        "http://localhost:8000/a.png",  # another name, even if it resolves to 127.0.0.1
    ],
)
def test_it_refuses_everything_else_local_even_with_a_local_origin(url):
    blocked(url, policy=LOCAL, resolver=resolver_for({"localhost": ["127.0.0.1"]}))


def test_it_allows_a_named_local_origin_to_resolve_to_loopback():
    policy = FetchPolicy(local_origins=frozenset({("LocalHost", 8000)}))
    resolver = resolver_for({"localhost": ["127.0.0.1", "::1"]})
    _, addresses = check_url("http://localhost:8000/a.png", policy.local_origins, resolver)
    assert addresses == ["127.0.0.1", "::1"]


# --- fetch_image with a mock transport -----------------------------------------------------


def image_handler(seen: list[httpx.Request], body: bytes | None = None, **headers: str):
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body or make_image(), headers=headers)

    return handle


def test_it_connects_to_the_checked_ip_with_the_original_host_and_sni():
    seen: list[httpx.Request] = []
    calls: list[str] = []
    resolver = resolver_for({"images.example.com": [PUBLIC_IP]}, calls)
    fetched = fetch_with(
        image_handler(seen), "https://images.example.com/img.png?sig=abc", resolver=resolver
    )
    (request,) = seen
    assert str(request.url) == f"https://{PUBLIC_IP}/img.png?sig=abc"
    assert request.headers["Host"] == "images.example.com"
    assert request.extensions["sni_hostname"] == "images.example.com"
    assert calls == ["images.example.com"]  # one lookup, nothing for httpx to resolve again
    assert fetched.final_url == "https://images.example.com/img.png?sig=abc"


def test_it_pins_ipv6_addresses_and_keeps_non_default_ports_in_the_host_header():
    seen: list[httpx.Request] = []
    fetch_with(image_handler(seen), "http://cdn.example.net/a.png")
    (request,) = seen
    assert str(request.url) == "http://[2606:4700:4700::1111]/a.png"
    assert request.headers["Host"] == "cdn.example.net"
    assert "sni_hostname" not in request.extensions

    seen.clear()
    fetch_with(image_handler(seen), "https://cdn.example.net:80/a.png")
    assert seen[0].headers["Host"] == "cdn.example.net:80"


def test_it_returns_a_verified_image():
    png = make_image("PNG", (12, 9))
    fetched = fetch_with(image_handler([], png, **{"Content-Type": "image/png"}))
    assert fetched.data == png
    assert (fetched.format, fetched.width, fetched.height) == ("PNG", 12, 9)
    assert fetched.content_type == "image/png"


def redirecting(chain: dict[str, str], final: bytes | None = None, status: int = 302):
    """Redirect every path in `chain` to its target, answer anything else with an image."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        key = f"{request.headers['Host']}{request.url.path}"
        if key in chain:
            return httpx.Response(status, headers={"Location": chain[key]})
        return httpx.Response(200, content=final or make_image())

    return handle, seen


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_it_follows_redirects_checking_each_hop(status):
    handler, seen = redirecting(
        {
            "images.example.com/start": "/relative",
            "images.example.com/relative": "http://other.example.org/final.png",
        },
        status=status,
    )
    fetched = fetch_with(handler, "https://images.example.com/start")
    assert [str(request.url) for request in seen] == [
        f"https://{PUBLIC_IP}/start",
        f"https://{PUBLIC_IP}/relative",
        "http://8.8.8.8/final.png",
    ]
    assert seen[-1].headers["Host"] == "other.example.org"
    assert fetched.final_url == "http://other.example.org/final.png"


@pytest.mark.parametrize(
    "location",
    [
        "http://evil.example/a.png",  # a name resolving to 10.0.0.7
        "http://169.254.169.254/latest/meta-data/",
        "http://2130706433/",
        "http://[::1]/",
        "http://images.example.com:8080/a.png",
        "file:///etc/passwd",
    ],
)
def test_it_refuses_a_redirect_to_a_forbidden_target(location):
    handler, seen = redirecting({"images.example.com/start": location})
    error = fetch_error(handler, "https://images.example.com/start")
    assert error.kind == "blocked"
    assert len(seen) == 1  # the forbidden target was never contacted


def test_it_refuses_a_redirect_chain_longer_than_allowed():
    chain = {f"images.example.com/{n}": f"/{n + 1}" for n in range(10)}
    handler, seen = redirecting(chain)
    error = fetch_error(
        handler, "https://images.example.com/0", policy=FetchPolicy(max_redirects=3)
    )
    assert error.kind == "blocked"
    assert "redirects" in error.message
    assert len(seen) == 4


def test_it_allows_exactly_max_redirects():
    chain = {f"images.example.com/{n}": f"/{n + 1}" for n in range(3)}
    handler, seen = redirecting(chain)
    fetched = fetch_with(
        handler, "https://images.example.com/0", policy=FetchPolicy(max_redirects=3)
    )
    assert fetched.final_url == "https://images.example.com/3"
    assert len(seen) == 4


def test_it_refuses_a_redirect_without_location():
    error = fetch_error(lambda request: httpx.Response(302))
    assert error.kind == "bad_response"
    assert error.status == 302


@pytest.mark.parametrize("status", [404, 410])
def test_it_reports_an_expired_url_as_not_found(status):
    error = fetch_error(lambda request: httpx.Response(status, text="gone"))
    assert error.kind == "not_found"
    assert error.status == status
    assert error.message == f"the image URL has expired or does not exist (HTTP {status})"


@pytest.mark.parametrize("status", [403, 500, 503, 304])
def test_it_reports_other_statuses_as_upstream_errors(status):
    error = fetch_error(lambda request: httpx.Response(status))
    assert error.kind == "upstream_error"
    assert error.status == status
    assert str(status) in error.message


def test_it_stops_reading_as_soon_as_the_body_is_too_large():
    pulled: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            pulled.append(1)
            yield b"\0" * 1000

    error = fetch_error(
        lambda request: httpx.Response(200, content=endless()),
        policy=FetchPolicy(max_bytes=10_000),
    )
    assert error.kind == "too_large"
    assert len(pulled) == 11


def test_it_refuses_a_declared_content_length_before_reading():
    pulled: list[int] = []

    def body() -> Iterator[bytes]:
        pulled.append(1)
        yield make_image()

    error = fetch_error(
        lambda request: httpx.Response(200, content=body(), headers={"Content-Length": "20000"}),
        policy=FetchPolicy(max_bytes=10_000),
    )
    assert error.kind == "too_large"
    assert "20000" in error.message
    assert pulled == []


def test_it_asks_for_and_requires_an_uncompressed_body():
    seen: list[httpx.Request] = []
    fetch_with(image_handler(seen))
    assert "gzip" not in seen[0].headers.get("Accept-Encoding", "")

    error = fetch_error(
        lambda request: httpx.Response(
            200, content=zlib.compress(make_image()), headers={"Content-Encoding": "deflate"}
        )
    )
    assert error.kind == "bad_response"
    assert "deflate" in error.message


def test_it_refuses_a_body_that_is_not_an_image():
    error = fetch_error(lambda request: httpx.Response(200, html="<html>login</html>"))
    assert error.kind == "bad_response"
    assert error.message == "not a PNG/JPEG/WebP image"


def test_it_refuses_a_decompression_bomb():
    error = fetch_error(lambda request: httpx.Response(200, content=png_declaring(50000, 50000)))
    assert error.kind == "bad_response"
    assert "too large" in error.message or "pixels" in error.message


def test_it_tries_the_next_checked_address_when_one_refuses_connections():
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == "8.8.8.8":
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, content=make_image())

    resolver = resolver_for({"images.example.com": ["8.8.8.8", "1.1.1.1"]})
    fetched = fetch_with(handle, resolver=resolver)
    assert seen == ["8.8.8.8", "1.1.1.1"]
    assert fetched.format == "PNG"


def test_it_reports_transport_failures_readably():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    error = fetch_error(refuse)
    assert (error.kind, "images.example.com" in error.message) == ("connection", True)
    error = fetch_error(stall, policy=FetchPolicy(timeout=7))
    assert error.kind == "timeout"
    assert "7 s" in error.message


class FakeClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_it_enforces_one_deadline_over_the_whole_download():
    clock = FakeClock()
    sent: list[bytes] = []

    def trickle() -> Iterator[bytes]:
        while True:  # a byte a second, for ever: every read is quick, the whole is not
            clock.advance(1)
            sent.append(b"x")
            yield b"x"

    error = fetch_error(
        lambda request: httpx.Response(200, content=trickle()),
        policy=FetchPolicy(timeout=10),
        clock=clock,
    )
    assert error.kind == "timeout"
    assert error.message == "fetching the image took longer than 10 s"
    assert len(sent) == 10


def test_it_shares_one_deadline_across_redirects():
    clock = FakeClock()
    hops: list[str] = []

    def slow_redirect(request: httpx.Request) -> httpx.Response:
        hops.append(str(request.url))
        clock.advance(0.6)
        return httpx.Response(302, headers={"Location": "/again"})

    policy = FetchPolicy(timeout=1, max_redirects=5)
    error = fetch_error(slow_redirect, policy=policy, clock=clock)
    assert error.kind == "timeout"
    assert len(hops) == 2  # each hop fits the budget, the two together do not


def test_it_does_not_close_a_transport_it_was_given():
    transport = httpx.MockTransport(image_handler([]))
    fetch_image(
        "https://images.example.com/a", POLICY, resolver=PUBLIC_RESOLVER, transport=transport
    )
    fetched = fetch_image(
        "https://images.example.com/b", POLICY, resolver=PUBLIC_RESOLVER, transport=transport
    )
    assert fetched.format == "PNG"


# --- verify_image --------------------------------------------------------------------------

ALLOWED = POLICY.allowed_formats


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_it_verifies_allowed_formats_and_reports_their_size(fmt):
    data = make_image(fmt, (33, 17))
    assert verify_image(data, max_pixels=10_000, allowed_formats=ALLOWED) == (fmt, 33, 17)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_it_refuses_formats_outside_the_allowlist(fmt):
    with pytest.raises(UpstreamError) as caught:
        verify_image(make_image(fmt), max_pixels=10_000, allowed_formats=ALLOWED)
    assert caught.value.kind == "bad_response"
    assert caught.value.message == "not a PNG/JPEG/WebP image"


def test_it_checks_the_pixel_count_from_the_header_before_decoding():
    with pytest.raises(UpstreamError) as caught:
        verify_image(make_image("PNG", (20, 20)), max_pixels=399, allowed_formats=ALLOWED)
    assert caught.value.kind == "bad_response"
    assert "20x20" in caught.value.message
    assert verify_image(make_image("PNG", (20, 20)), max_pixels=400, allowed_formats=ALLOWED)


@pytest.mark.parametrize("size", [(50000, 50000), (10000, 10000), (9000, 9000)])
def test_it_refuses_bombs_whatever_pillow_thinks(size):
    # 50000² trips Pillow's own DecompressionBombError, 10000² only its warning, 9000² neither:
    # all three exceed the 8192² policy.
    with pytest.raises(UpstreamError) as caught:
        verify_image(png_declaring(*size), max_pixels=POLICY.max_pixels, allowed_formats=ALLOWED)
    assert caught.value.kind == "bad_response"


def test_it_refuses_damaged_and_empty_images():
    damaged = make_image("PNG", (40, 40))[:-30]
    for data, expected in [(damaged, "damaged"), (b"", "empty")]:
        with pytest.raises(UpstreamError) as caught:
            verify_image(data, max_pixels=10_000, allowed_formats=ALLOWED)
        assert caught.value.kind == "bad_response"
        assert expected in caught.value.message


# --- over real HTTP(S) ---------------------------------------------------------------------


class ImageHandler(http.server.BaseHTTPRequestHandler):
    body = make_image("PNG", (3, 2))

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/trickle":
            self.trickle()
            return
        if self.path == "/slow-headers":
            self.slow_headers()
            return
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/img.png")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def trickle(self) -> None:
        """A few bytes every 0.1 s, then silence: each read is quick, the whole is not."""
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(4):
            self.wfile.write(b"x")
            time.sleep(0.1)
        # Silent until the client hangs up (no bytes come: only its own deadline ends the read).
        with contextlib.suppress(OSError):
            self.connection.recv(1)

    def slow_headers(self) -> None:
        """A header line every 0.1 s, for ever: a slowloris aimed at the client."""
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for n in range(30):
            self.wfile.write(b"X-Wait-%d: 1\r\n" % n)
            time.sleep(0.1)

    def log_message(self, *args) -> None:
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # the client hanging up on /trickle is the point of that test


def serve(tls: ssl.SSLContext | None = None) -> Iterator[int]:
    server = QuietServer(("127.0.0.1", 0), ImageHandler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def local_port() -> Iterator[int]:
    yield from serve()


def test_it_fetches_over_real_http_from_an_allowed_local_origin(local_port):
    url = f"http://127.0.0.1:{local_port}/redirect"
    policy = FetchPolicy(local_origins=frozenset({("127.0.0.1", local_port)}), timeout=5)
    fetched = fetch_image(url, policy)
    assert (fetched.format, fetched.width, fetched.height) == ("PNG", 3, 2)
    assert fetched.final_url == f"http://127.0.0.1:{local_port}/img.png"

    with pytest.raises(UpstreamError) as caught:
        fetch_image(url, FetchPolicy(timeout=5))
    assert caught.value.kind == "blocked"


@pytest.mark.parametrize("path", ["/trickle", "/slow-headers"])
def test_it_keeps_the_total_deadline_when_a_real_server_trickles(local_port, path):
    policy = FetchPolicy(local_origins=frozenset({("127.0.0.1", local_port)}), timeout=0.6)
    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        fetch_image(f"http://127.0.0.1:{local_port}{path}", policy)
    assert caught.value.kind == "timeout"
    # Per-read timeouts alone would let the stalled read end near 1.0 s (3 s for the headers).
    assert time.monotonic() - started < 0.85


def self_signed(hostname: str) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def tls_server(tmp_path) -> Iterator[tuple[int, ssl.SSLContext, list[str | None]]]:
    cert_pem, key_pem = self_signed("images.test")
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, context: names.append(name)
    client_context = ssl.create_default_context(cadata=cert_pem.decode())
    for port in serve(server_context):
        yield port, client_context, names


def test_it_verifies_tls_against_the_real_hostname_while_connecting_to_the_ip(tls_server):
    port, client_context, names = tls_server
    resolver = resolver_for({"images.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    policy = FetchPolicy(
        local_origins=frozenset({("images.test", port), ("other.test", port)}), timeout=5
    )
    transport = httpx.HTTPTransport(verify=client_context)
    fetched = fetch_image(
        f"https://images.test:{port}/img.png", policy, resolver=resolver, transport=transport
    )
    assert (fetched.format, fetched.width, fetched.height) == ("PNG", 3, 2)
    assert names == ["images.test"]

    # Same IP, but the certificate is not for other.test: the name, not the IP, is verified.
    with pytest.raises(UpstreamError) as caught:
        fetch_image(
            f"https://other.test:{port}/img.png",
            policy,
            resolver=resolver,
            transport=httpx.HTTPTransport(verify=client_context),
        )
    assert caught.value.kind == "connection"
    assert names[-1] == "other.test"


def test_it_keeps_the_total_deadline_over_tls(tls_server):
    port, client_context, _ = tls_server
    policy = FetchPolicy(local_origins=frozenset({("images.test", port)}), timeout=0.6)
    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        fetch_image(
            f"https://images.test:{port}/trickle",
            policy,
            resolver=resolver_for({"images.test": ["127.0.0.1"]}),
            transport=httpx.HTTPTransport(verify=client_context),
        )
    assert caught.value.kind == "timeout"
    assert time.monotonic() - started < 0.85
