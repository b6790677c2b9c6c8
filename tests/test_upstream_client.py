from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from playground.upstream import client as client_module
from playground.upstream.client import UpstreamClient
from playground.upstream.errors import UpstreamError
from playground.upstream.requests import build_edit_multipart

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PNG_B64 = base64.b64encode(PNG).decode()
KEY = "sk-test-0123456789abcdef"


def images_body(**extra: Any) -> dict[str, Any]:
    return {"created": 1, "data": [{"b64_json": PNG_B64}], **extra}


class Recorder:
    """A MockTransport handler that remembers the requests it saw, and the client's `sleep` that
    remembers the waits asked for between them (and does not wait)."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []
        self.waits: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.respond(request)


def mock_client(
    respond: Callable[[httpx.Request], httpx.Response], api_key: str | None = KEY, **kwargs: Any
) -> tuple[UpstreamClient, Recorder]:
    recorder = Recorder(respond)
    kwargs.setdefault("sleep", recorder.waits.append)
    client = UpstreamClient(
        "https://gw.example.com/", api_key, transport=httpx.MockTransport(recorder), **kwargs
    )
    return client, recorder


def fail_with(
    status: int, body: bytes, client_kwargs: dict[str, Any] | None = None, **headers: str
) -> UpstreamError:
    kwargs = {"max_retries": 0, **(client_kwargs or {})}
    client, _ = mock_client(
        lambda r: httpx.Response(status, content=body, headers=headers), **kwargs
    )
    with pytest.raises(UpstreamError) as info:
        client.generate({"prompt": "p"})
    return info.value


# --- success paths ----------------------------------------------------------------------------


def test_it_posts_a_generation_as_json() -> None:
    client, seen = mock_client(lambda r: httpx.Response(200, json=images_body(size="1024x1024")))
    with client:
        result = client.generate({"model": "gpt-image-1", "prompt": "an otter", "n": 1})
    request = seen.requests[0]
    assert request.method == "POST"
    assert str(request.url) == "https://gw.example.com/v1/images/generations"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"] == "image-playground/0.1"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"model": "gpt-image-1", "prompt": "an otter", "n": 1}
    assert result.images[0].data == PNG
    assert result.echoed == {"size": "1024x1024"}


def test_it_sends_no_authorization_header_without_a_key() -> None:
    client, seen = mock_client(lambda r: httpx.Response(200, json=images_body()), api_key=None)
    client.generate({"prompt": "p"})
    assert "authorization" not in seen.requests[0].headers


def test_it_strips_whitespace_around_a_pasted_key() -> None:
    client, seen = mock_client(
        lambda r: httpx.Response(200, json=images_body()), api_key=f" {KEY}\n"
    )
    client.generate({"prompt": "p"})
    assert seen.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_it_refuses_a_key_that_cannot_be_a_header_without_echoing_it() -> None:
    key = "sk-ünicode-0123456789"
    client, seen = mock_client(lambda r: httpx.Response(200, json=images_body()), api_key=key)
    with pytest.raises(UpstreamError) as info:
        client.generate({"prompt": "p"})
    assert info.value.kind == "auth"
    assert "0123456789" not in str(info.value)
    assert seen.requests == []


def test_it_posts_a_json_edit() -> None:
    body = {"prompt": "add a hat", "images": [{"image_url": "https://a.example/x.png"}]}
    client, seen = mock_client(
        lambda r: httpx.Response(200, json={"created": 1, "data": {"url": "https://cdn/x.png"}})
    )
    result = client.edit_json(body)
    request = seen.requests[0]
    assert (request.method, str(request.url)) == ("POST", "https://gw.example.com/v1/images/edits")
    assert json.loads(request.content) == body
    assert result.shape == "images_object"
    assert result.images[0].url == "https://cdn/x.png"


def test_it_posts_a_multipart_edit() -> None:
    data, files = build_edit_multipart(
        {"model": "gpt-image-1", "prompt": "add a hat", "n": 2},
        [("a.png", PNG, "image/png"), ("b.png", PNG, "image/png")],
        ("mask.png", PNG, "image/png"),
    )
    client, seen = mock_client(lambda r: httpx.Response(200, json=images_body()))
    client.edit_multipart(data, files)
    request = seen.requests[0]
    assert str(request.url) == "https://gw.example.com/v1/images/edits"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    content = request.content
    for field in ('name="model"', 'name="prompt"', 'name="n"'):
        assert field.encode() in content
    assert content.count(b'name="image[]"; filename="a.png"') == 1
    assert content.count(b'name="image[]"; filename="b.png"') == 1
    assert b'name="mask"; filename="mask.png"' in content
    assert b"add a hat" in content and PNG in content


def test_it_lists_models() -> None:
    models = {"data": [{"id": "gpt-image-1"}, {"id": "dall-e-3"}]}
    client, seen = mock_client(lambda r: httpx.Response(200, json=models))
    assert client.list_models() == ["dall-e-3", "gpt-image-1"]
    request = seen.requests[0]
    assert (request.method, str(request.url)) == ("GET", "https://gw.example.com/v1/models")


def test_it_resolves_relative_image_urls_against_the_gateway() -> None:
    client, _ = mock_client(lambda r: httpx.Response(200, json={"data": [{"url": "/files/1.png"}]}))
    assert client.generate({"prompt": "p"}).images[0].url == "https://gw.example.com/files/1.png"


def test_it_does_not_follow_redirects() -> None:
    err = fail_with(307, b"", location="https://elsewhere.example/v1/images/generations")
    assert err.kind == "bad_response"
    assert "redirect to https://elsewhere.example" in err.message


# --- upstream errors --------------------------------------------------------------------------


def test_it_maps_an_error_status_to_an_upstream_error() -> None:
    body = json.dumps(
        {"error": {"message": "Rate limit reached", "type": "requests", "code": None}}
    )
    err = fail_with(429, body.encode(), **{"retry-after": "7"})
    assert (err.kind, err.status, err.retry_after) == ("rate_limited", 429, 7.0)
    assert err.message == "Rate limit reached"


def test_it_reports_a_bad_2xx_body_with_its_status() -> None:
    err = fail_with(200, b"<html><title>Welcome to nginx!</title></html>")
    assert (err.kind, err.status) == ("bad_response", 200)
    assert "HTML page, not JSON: Welcome to nginx!" in err.message


def test_it_passes_max_image_bytes_to_the_parser() -> None:
    err = fail_with(200, json.dumps(images_body()).encode(), {"max_image_bytes": 10})
    assert err.kind == "too_large"


def test_it_never_lets_the_key_leak_through_an_echoing_upstream() -> None:
    key = f"sk-canary-{secrets.token_hex(16)}"
    message = (
        f"Incorrect API key provided: {key}. Also seen as {key[:14]}...{key[-4:]} and "
        f"{key[-20:]}. You can find your API key at https://platform.example/account/api-keys."
    )
    body = json.dumps({"error": {"message": message, "type": key, "param": key, "code": key}})
    client, seen = mock_client(lambda r: httpx.Response(401, content=body.encode()), api_key=key)
    with pytest.raises(UpstreamError) as info:
        client.generate({"prompt": "p"})
    err = info.value
    assert seen.requests[0].headers["authorization"] == f"Bearer {key}"
    assert err.kind == "auth"
    random_part = key.removeprefix("sk-canary-")
    windows = {random_part[i : i + 5] for i in range(len(random_part) - 4)}
    for text in (err.message, str(err), repr(err), json.dumps(err.as_dict())):
        assert "Bearer" not in text
        assert "sk-canary-" not in text
        assert not [w for w in windows if w in text], text
    assert "Incorrect API key provided" in err.message
    assert err.__context__ is None and err.__cause__ is None


def test_it_redacts_a_key_echoed_in_a_2xx_answer() -> None:
    key = f"sk-canary-{secrets.token_hex(16)}"
    answer = {
        "object": "chat.completion",
        "choices": [{"message": {"content": f"Your key {key} is odd"}}],
    }
    client, _ = mock_client(lambda r: httpx.Response(200, json=answer), api_key=key)
    with pytest.raises(UpstreamError) as info:
        client.generate({"prompt": "p"})
    assert info.value.kind == "bad_response"
    assert key[10:] not in str(info.value) and "Your key [redacted] is odd" in info.value.message


# --- byte cap ---------------------------------------------------------------------------------


def test_it_stops_reading_a_body_over_the_cap() -> None:
    produced: list[int] = []

    def endless() -> Iterator[bytes]:
        for i in range(1000):
            produced.append(i)
            yield b"x" * 1024

    client, _ = mock_client(
        lambda r: httpx.Response(200, content=endless()), max_response_bytes=4096
    )
    with pytest.raises(UpstreamError) as info:
        client.generate({"prompt": "p"})
    assert info.value.kind == "too_large"
    assert "4096 bytes" in info.value.message
    assert len(produced) <= 6


def test_it_refuses_a_declared_content_length_over_the_cap() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{}" * 5000, headers={"Content-Length": "10000"})

    client, _ = mock_client(respond, max_response_bytes=1000)
    with pytest.raises(UpstreamError) as info:
        client.generate({"prompt": "p"})
    assert info.value.kind == "too_large"


def test_it_keeps_the_start_of_a_huge_error_page() -> None:
    page = b"<html><title>Down for maintenance</title>" + b"x" * (3 * 1024 * 1024)
    err = fail_with(503, page)
    assert (err.kind, err.message) == (
        "upstream_error",
        "HTTP 503 with an HTML page: Down for maintenance",
    )


# --- transport failures (mocked) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "kind", "words"),
    [
        (
            httpx.ConnectTimeout("timed out"),
            "timeout",
            "Connecting to gw.example.com timed out after 10 s",
        ),
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection", "Connection refused"),
        (httpx.ReadTimeout("timed out"), "timeout", "did not answer within 30 s"),
        (
            httpx.WriteTimeout("timed out"),
            "timeout",
            "Sending the request to gw.example.com took longer than 30 s",
        ),
        (httpx.PoolTimeout("timed out"), "timeout", "No free connection"),
        (
            httpx.RemoteProtocolError("Server disconnected"),
            "bad_response",
            "cut off or malformed: Server disconnected",
        ),
        (httpx.ReadError("Connection reset by peer"), "connection", "Connection reset by peer"),
        (
            httpx.UnsupportedProtocol("Request URL has an unsupported protocol"),
            "connection",
            "unsupported",
        ),
    ],
)
def test_it_turns_transport_failures_into_one_error(exc: Exception, kind: str, words: str) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        raise exc

    client, seen = mock_client(respond, timeout=30)
    with pytest.raises(UpstreamError) as info:
        client.generate({"prompt": "p"})
    assert info.value.kind == kind
    assert words in info.value.message
    assert KEY not in info.value.message
    # Only a connection never made is retried (twice, half a second apart).
    never_sent = isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError)
    assert seen.waits == ([0.5, 0.5] if never_sent else [])


# --- transport failures (real sockets) --------------------------------------------------------


class TinyServer:
    """A one-purpose HTTP server on 127.0.0.1 whose misbehaviour is a plain function."""

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        self.behave = behave
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            _read_request_head(conn)
            # The client hanging up mid-misbehaviour is expected.
            with contextlib.suppress(OSError):
                self.behave(conn)

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=3)


def _read_request_head(conn: socket.socket) -> None:
    conn.settimeout(2)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    servers: list[TinyServer] = []

    def start(behave: Callable[[socket.socket], None]) -> str:
        servers.append(TinyServer(behave))
        return servers[-1].url

    yield start
    for server in servers:
        server.close()


def call_real(url: str, timeout: float = 0.5) -> tuple[UpstreamError, float]:
    started = time.monotonic()
    with (
        UpstreamClient(url, KEY, timeout=timeout, max_retries=0) as client,
        pytest.raises(UpstreamError) as info,
    ):
        client.generate({"prompt": "p"})
    return info.value, time.monotonic() - started


def test_it_times_out_on_a_silent_server(serve: Any) -> None:
    stop = threading.Event()
    url = serve(lambda conn: stop.wait(3))
    err, elapsed = call_real(url, timeout=0.3)
    stop.set()
    assert err.kind == "timeout"
    assert "did not answer within 0.3 s" in err.message
    assert elapsed < 1.5


def test_it_enforces_the_total_budget_on_a_trickling_server(serve: Any) -> None:
    def trickle(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        )
        for _ in range(100):  # a byte every 0.02 s: no single read ever times out
            conn.sendall(b" ")
            time.sleep(0.02)

    err, elapsed = call_real(serve(trickle), timeout=0.2)
    assert err.kind == "timeout"
    assert "longer than the 0.2 s allowed" in err.message
    assert elapsed < 1.0


def test_it_reports_a_body_shorter_than_its_content_length(serve: Any) -> None:
    def truncate(conn: socket.socket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        conn.sendall(b'{"data": [')

    err, _ = call_real(serve(truncate))
    assert err.kind == "bad_response"
    assert "cut off or malformed" in err.message


def test_it_reports_a_connection_closed_before_any_answer(serve: Any) -> None:
    err, _ = call_real(serve(lambda conn: None))
    assert err.kind == "bad_response"
    assert "Server disconnected" in err.message


def test_it_reports_a_refused_connection() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    err, _ = call_real(f"http://127.0.0.1:{port}")
    assert err.kind == "connection"
    assert f"Could not connect to 127.0.0.1:{port}" in err.message
    assert "refused" in err.message.lower()


def test_it_reads_a_real_answer(serve: Any) -> None:
    body = json.dumps(images_body()).encode()

    def answer(conn: socket.socket) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n"
        conn.sendall(head.encode() + body)

    with UpstreamClient(serve(answer), KEY, timeout=0.5) as client:
        assert client.generate({"prompt": "p"}).images[0].data == PNG


# --- retries: only what provably was not billed ------------------------------------------------


def rate_limited(retry_after: str) -> httpx.Response:
    return httpx.Response(
        429, json={"error": {"message": "slow down"}}, headers={"retry-after": retry_after}
    )


def test_it_retries_a_429_after_the_wait_it_asks_for() -> None:
    ok = httpx.Response(200, json=images_body())
    answers = iter([rate_limited("2"), rate_limited("0.5"), ok])
    client, seen = mock_client(lambda r: next(answers))
    result = client.generate({"prompt": "p"})
    assert len(seen.requests) == 3 and client.attempts == 3
    assert seen.waits == [2.0, 0.5]
    assert result.images


def test_it_gives_up_after_the_retry_limit_and_says_so() -> None:
    client, seen = mock_client(lambda r: rate_limited("1"), max_retries=2)
    with pytest.raises(UpstreamError) as info:
        client.generate({"prompt": "p"})
    assert len(seen.requests) == 3 and seen.waits == [1.0, 1.0]
    assert info.value.kind == "rate_limited" and "after 3 attempts" in info.value.message


def test_it_does_not_wait_longer_than_allowed_for_a_retry() -> None:
    client, seen = mock_client(lambda r: rate_limited("3600"))
    with pytest.raises(UpstreamError):
        client.generate({"prompt": "p"})
    assert len(seen.requests) == 1 and seen.waits == []


def test_it_stops_retrying_when_the_waits_would_exceed_their_budget() -> None:
    client, seen = mock_client(lambda r: rate_limited("8"), max_retries=5, max_retry_wait=20)
    with pytest.raises(UpstreamError) as info:
        client.generate({"prompt": "p"})
    assert seen.waits == [8.0, 8.0]  # a third wait would make 24 s
    assert len(seen.requests) == 3 and "after 3 attempts" in info.value.message


def test_it_waits_with_the_module_default_when_given_no_sleep(retry_waits: list[float]) -> None:
    # What the runner gets: it builds its clients without `sleep`.
    answers = iter([rate_limited("2"), httpx.Response(200, json=images_body())])
    transport = httpx.MockTransport(lambda r: next(answers))
    with UpstreamClient("https://gw.example.com/", KEY, transport=transport) as client:
        assert client.generate({"prompt": "p"}).images
    assert retry_waits == [2.0]


def test_the_module_default_waits_for_real(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the suite's `retry_waits` fixture replaced it for this test
    assert client_module.retry_sleep is time.sleep


@pytest.mark.parametrize("status", [500, 502, 503, 504, 400, 401])
def test_it_never_retries_a_call_that_may_have_been_billed(status: int) -> None:
    client, seen = mock_client(lambda r: httpx.Response(status, json={"error": {"message": "x"}}))
    with pytest.raises(UpstreamError):
        client.generate({"prompt": "p"})
    assert len(seen.requests) == 1 and seen.waits == []


def test_it_retries_a_refused_connection() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if len(seen.requests) == 1:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return httpx.Response(200, json=images_body())

    client, seen = mock_client(respond)
    assert client.generate({"prompt": "p"}).images
    assert len(seen.requests) == 2 and seen.waits == [0.5]


def test_it_does_not_retry_a_read_timeout() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, seen = mock_client(respond)
    with pytest.raises(UpstreamError) as info:
        client.generate({"prompt": "p"})
    assert info.value.kind == "timeout" and len(seen.requests) == 1 and seen.waits == []
