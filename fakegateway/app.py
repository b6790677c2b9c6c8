"""An honest fake of OpenAI's image API and of the relay gateways in front of it.

A plain ASGI application (no Django, no framework) so it can be served by uvicorn on its own,
run in a thread by tests, or mounted under a prefix inside another ASGI app. It answers with real
images over real HTTP, in each gateway's own dialect, and misbehaves on request: `[fake:NAME=VALUE]`
directives in a prompt, or defaults set through the control API, reproduce the failures a client
meets in the wild.

This module routes, records and checks keys; the rest lives beside it: `dialects` (catalogue and
answer shapes), `validation` (OpenAI's rules and errors), `edits` (where edit images come from),
`scenarios` (the directives), `files` (handed-out URLs), `transport` (ASGI plumbing).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import dialects
from .dialects import DIALECTS, ImageJob
from .edits import parse_json_edit, parse_multipart_edit, shorten
from .files import FileStore, serve_file
from .scenarios import (
    broken_answer,
    early_answer,
    parse_scenario,
    request_scenario,
    url_behaviour,
)
from .transport import (
    Receive,
    Request,
    Scope,
    Send,
    pause,
    read_body,
    read_json,
    request_id,
    send_error,
    send_json,
)
from .validation import (
    JSON_PARSE_ERROR,
    ApiError,
    build_job,
    check_known_params,
    invalid,
    model_not_found,
)

__all__ = ["DIALECTS", "FakeConfig", "FakeGateway", "parse_scenario"]

MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
KEY_HINT = "You can find your API key at https://platform.openai.com/account/api-keys."


@dataclass
class FakeConfig:
    latency: float = 0.0  # seconds added to every image call
    required_key: str | None = None  # when set, the Bearer token must equal it
    url_ttl: float = 3600  # seconds a result URL stays downloadable, like OpenAI's 60 minutes
    max_recorded: int = 200
    scenario: str = ""  # default directives, e.g. "status=500 latency=1"
    # The /_fake/ endpoints. None: on when served at the root, off when mounted under a prefix,
    # because a fake mounted inside a public app must not be reconfigurable (or readable) by anyone.
    control_api: bool | None = None


class FakeGateway:
    """The ASGI app. `.config` may be changed at any time; `.requests` lists what came in."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self._initial = dataclasses.replace(self.config)
        self.requests: list[dict[str, Any]] = []
        self._files = FileStore()
        self._next_id = 1
        # The wall clock handed-out URLs age by (tests move it rather than wait for a TTL).
        self.clock: Callable[[], float] = time.time

    def reset(self) -> None:
        """Forget recorded requests and handed-out files; restore the config it was built with."""
        self.requests.clear()
        self._files.clear()
        # In place: whoever holds the config object keeps steering this gateway.
        for item in dataclasses.fields(FakeConfig):
            setattr(self.config, item.name, getattr(self._initial, item.name))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            request = Request.from_scope(scope, receive, send)
            try:
                await self._route(request)
            except ApiError as error:
                await send_error(request, error)

    async def _route(self, request: Request) -> None:
        segments = [part for part in request.path.split("/") if part]
        if segments[:1] == ["_fake"]:
            return await self._control(request, segments[1:])
        if len(segments) == 2 and segments[0] == "files":
            self._record(request, None, "files")
            return await self._file(request, segments[1])
        if segments[:1] == ["v1"]:
            dialect, rest = "openai", segments[1:]
        elif len(segments) >= 2 and segments[0] in DIALECTS and segments[1] == "v1":
            dialect, rest = segments[0], segments[2:]
        elif not segments and request.method == "GET":
            return await _index(request)
        else:
            raise _invalid_url(request)
        await self._api(request, dialect, rest)

    async def _api(self, request: Request, dialect: str, rest: list[str]) -> None:
        is_image_call = rest[:1] == ["images"] and rest[1:] in (["generations"], ["edits"])
        endpoint = rest[1] if is_image_call else "/".join(rest)
        self._record(request, dialect, "models" if rest[:1] == ["models"] else endpoint)
        if request.method == "GET" and rest[:1] == ["models"] and len(rest) <= 2:
            self._check_key(request, {})
            return await _models(request, dialect, rest[1] if len(rest) == 2 else None)
        if request.method == "POST" and is_image_call:
            return await self._image_call(request, dialect, endpoint)
        raise _invalid_url(request)

    def _record(self, request: Request, dialect: str | None, endpoint: str) -> None:
        query = request.scope.get("query_string", b"").decode("latin-1")
        record = {
            "id": self._next_id,
            "method": request.method,
            "path": request.path,
            "query": query,
            "dialect": dialect,
            "endpoint": endpoint,
            "headers": dict(request.headers),
            "json": None,
            "form": None,
            "edit": None,
            "prompt": None,
            "scenario": {},
            "status": None,
            "received_at": time.time(),
        }
        self._next_id += 1
        request.record = record
        self.requests.append(record)
        overflow = len(self.requests) - max(0, self.config.max_recorded)
        if overflow > 0:
            del self.requests[:overflow]

    def _check_key(self, request: Request, scenario: dict[str, Any]) -> None:
        key = request.bearer
        if "echo_key" in scenario:
            # Some relays put the raw key into their error text; clients must redact it.
            message = f"Incorrect API key provided: {key or ''}. {KEY_HINT}"
            raise ApiError(401, message, code="invalid_api_key")
        required = self.config.required_key
        if not required or key == required:
            return
        if key is None:
            raise ApiError(401, MISSING_KEY, code="invalid_api_key")
        raise ApiError(
            401, f"Incorrect API key provided: {_mask(key)}. {KEY_HINT}", code="invalid_api_key"
        )

    # --- images ----------------------------------------------------------------------------

    async def _image_call(self, request: Request, dialect: str, endpoint: str) -> None:
        raw = await read_body(request)
        try:
            parsed, edit = await _parse_body(request, dialect, endpoint, raw)
            prompt, scenario = request_scenario(self.config.scenario, parsed)
        except ApiError:
            self._check_key(request, {})  # like OpenAI: a bad key is reported before a bad body
            raise
        request.note(scenario=dict(scenario), prompt=prompt)
        self._check_key(request, scenario)
        # A directive's latency replaces the configured one, so one request can be the slow one.
        latency = scenario.get("latency", self.config.latency)
        if latency > 0 and not await pause(request.receive, latency):
            return  # the client went away; nobody to answer
        if await early_answer(request, scenario):
            return
        job = build_job(dialect, endpoint, parsed, prompt, scenario, edit)
        await self._deliver(request, job)

    async def _deliver(self, request: Request, job: ImageJob) -> None:
        blobs = await dialects.render(job)

        def link(blob: bytes) -> str:
            behaviour = url_behaviour(job.scenario)
            name = self._files.put(blob, job.fmt, behaviour, self.config.url_ttl, self.clock())
            return f"{request.base_url}/files/{name}"

        body = await dialects.response_body(job, blobs, link)
        if not await broken_answer(request, job.scenario, body):
            await send_json(request, 200, body, [request_id()])

    async def _file(self, request: Request, name: str) -> None:
        if request.method not in ("GET", "HEAD"):
            raise _invalid_url(request)
        await serve_file(request, self._files.get(name, self.config.url_ttl, self.clock()))

    # --- control API -----------------------------------------------------------------------

    async def _control(self, request: Request, rest: list[str]) -> None:
        action = "/".join(rest)
        enabled = self.config.control_api
        if enabled is None:
            enabled = not request.scope.get("root_path")
        if not enabled:
            raise _invalid_url(request)
        if action == "config" and request.method == "GET":
            return await send_json(request, 200, dataclasses.asdict(self.config))
        if action == "config" and request.method == "POST":
            self._configure(await read_json(request))
            return await send_json(request, 200, dataclasses.asdict(self.config))
        if action == "reset" and request.method == "POST":
            self.reset()
            return await send_json(request, 200, {"ok": True})
        if action == "requests" and request.method == "GET":
            return await send_json(request, 200, list(self.requests))
        raise _invalid_url(request)

    def _configure(self, changes: Any) -> None:
        if not isinstance(changes, dict):
            raise invalid(None, "Expected a JSON object of FakeConfig fields.")
        known = {item.name for item in dataclasses.fields(FakeConfig)} - {"control_api"}
        values = {}
        for name, value in changes.items():
            if name not in known:
                raise invalid(name, f"Unknown config field: '{name}'.", "unknown_parameter")
            values[name] = _config_value(name, value)
        for name, value in values.items():  # all checked first: a bad field changes nothing
            setattr(self.config, name, value)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _invalid_url(request: Request) -> ApiError:
    return ApiError(404, f"Invalid URL ({request.method} {request.path})")


async def _index(request: Request) -> None:
    bases = {d: f"{request.base_url}{'' if d == 'openai' else '/' + d}/v1" for d in DIALECTS}
    await send_json(request, 200, {"fake_gateway": True, "base_urls": bases})


async def _models(request: Request, dialect: str, model_id: str | None) -> None:
    entries = dialects.model_entries(dialect)
    if model_id is None:
        return await send_json(request, 200, {"object": "list", "data": entries})
    for entry in entries:
        if entry["id"] == model_id:
            return await send_json(request, 200, entry)
    raise model_not_found(model_id)


def _mask(key: str) -> str:
    # OpenAI shows the first and last few characters; a short key would be shown whole, so hide it.
    return f"{key[:5]}...{key[-4:]}" if len(key) >= 13 else "***"


async def _parse_body(
    request: Request, dialect: str, endpoint: str, raw: bytes
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The body's fields and, for edits, the edit record; both noted on the recorded request."""
    content_type = request.headers.get("content-type", "")
    if endpoint == "edits" and content_type.lower().startswith("multipart/form-data"):
        fields, edit = await asyncio.to_thread(parse_multipart_edit, content_type, raw)
        request.note(form=shorten(fields), edit=edit)
        return fields, edit
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, JSON_PARSE_ERROR) from None
    request.note(json=shorten(body))
    if not isinstance(body, dict):
        raise ApiError(400, JSON_PARSE_ERROR)
    check_known_params(dialect, endpoint, body)
    if endpoint != "edits":
        return body, None
    edit = await asyncio.to_thread(parse_json_edit, body)
    request.note(edit=edit)
    return body, edit


def _config_value(name: str, value: Any) -> Any:
    if name == "required_key":
        if value is not None and not isinstance(value, str):
            raise invalid(name, "required_key must be a string or null.", "invalid_type")
        return value or None
    if name == "scenario":
        if not isinstance(value, str):
            raise invalid(name, "scenario must be a string.", "invalid_type")
        try:
            parse_scenario(value)
        except ValueError as exc:
            raise invalid(name, str(exc)) from None
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise invalid(name, f"{name} must be a non-negative number.", "invalid_type")
    return int(value) if name == "max_recorded" else float(value)
