"""The ASGI plumbing: one request's view of the scope, reading bodies, sending answers.

Plain ASGI with no framework, so the fake runs under uvicorn, in a test thread, or mounted
under a prefix inside another ASGI app.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .validation import JSON_PARSE_ERROR, ApiError

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[str, str]]

MAX_BODY = 64 * 1024 * 1024


@dataclass
class Request:
    scope: Scope
    receive: Receive
    send: Send
    path: str  # without root_path
    method: str
    headers: dict[str, str]
    base_url: str  # scheme://host + root_path: where handed-out URLs point
    record: dict[str, Any] | None = None

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive, send: Send) -> Request:
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        headers = _headers(scope)
        return cls(scope, receive, send, path, scope["method"], headers, _base_url(scope, headers))

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def note(self, **values: Any) -> None:
        """Add to this request's record, when it is being recorded."""
        if self.record is not None:
            self.record.update(values)


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _base_url(scope: Scope, headers: dict[str, str]) -> str:
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def request_id() -> tuple[str, str]:
    return ("x-request-id", f"req_{secrets.token_hex(16)}")


async def _start(
    request: Request, status: int, content_type: str, length: int, headers: Headers | None
) -> None:
    request.note(status=status)
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(length).encode())]
    raw += [(name.lower().encode(), value.encode("latin-1")) for name, value in headers or []]
    await request.send({"type": "http.response.start", "status": status, "headers": raw})


async def send(
    request: Request, status: int, body: bytes, content_type: str, headers: Headers | None = None
) -> None:
    await _start(request, status, content_type, len(body), headers)
    await request.send({"type": "http.response.body", "body": body})


async def send_json(
    request: Request, status: int, obj: Any, headers: Headers | None = None
) -> None:
    # Success bodies may carry megabytes of base64; encode them off the event loop.
    body = await asyncio.to_thread(dumps, obj) if status == 200 else dumps(obj)
    await send(request, status, body, "application/json", headers)


async def send_error(request: Request, error: ApiError) -> None:
    await send_json(request, error.status, error.body(), [request_id(), *error.headers])


async def send_truncated(request: Request, body: bytes) -> None:
    # Announce the whole body, send half, then return without finishing: the server closes the
    # connection mid-body, like a proxy that dropped it.
    await _start(request, 200, "application/json", len(body), None)
    await request.send(
        {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
    )


async def read_body(request: Request) -> bytes:
    chunks, size = [], 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(
                413,
                f"Request body larger than {MAX_BODY // (1024 * 1024)} MB.",
                code="request_too_large",
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def read_json(request: Request) -> Any:
    raw = await read_body(request)
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ApiError(400, JSON_PARSE_ERROR) from None


async def pause(receive: Receive, seconds: float) -> bool:
    """Sleep for `seconds`; False as soon as the client disconnects.

    Sleeping (not blocking) lets hundreds of slow requests wait at once, and watching for the
    disconnect lets a hung request end when its client gives up, so a server can shut down.
    """

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({watcher}, timeout=seconds)
        return not done
    finally:
        watcher.cancel()
