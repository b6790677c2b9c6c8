"""An honest fake of OpenAI's image API and of the relay gateways in front of it.

A plain ASGI application (no Django, no framework) so it can be served by uvicorn on its own,
run in a thread by tests, or mounted under a prefix inside another ASGI app. It answers with real
images over real HTTP, in each gateway's own dialect, and misbehaves on request: `[fake:NAME=VALUE]`
directives in a prompt, or defaults set through the control API, reproduce the failures a client
meets in the wild.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.parser
import email.policy
import email.utils
import http
import json
import math
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import images

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DIALECTS = ("openai", "routescope", "routmy", "quickrouter", "applerouter")

# (model id, owned_by) per dialect, in the order /v1/models lists them.
MODELS: dict[str, list[tuple[str, str]]] = {
    "openai": [
        ("gpt-image-2", "system"),
        ("gpt-image-2-2026-04-21", "system"),
        ("gpt-image-1.5", "system"),
        ("gpt-image-1", "system"),
        ("gpt-image-1-mini", "system"),
        ("chatgpt-image-latest", "system"),
        ("dall-e-3", "system"),
        ("dall-e-2", "system"),
    ],
    "routescope": [
        ("gpt-image-2", "openai"),
        ("gpt-image-1.5", "openai"),
        ("gpt-image-1", "openai"),
    ],
    "routmy": [
        ("fake/image-model", "fake"),
        ("fake/image-model-hd", "fake"),
        ("gpt-image-2", "openai"),
    ],
    "quickrouter": [("gpt-image-2", "openai"), ("gpt-image-1", "openai")],
    "applerouter": [
        ("gpt-image-2", "openai"),
        ("gpt-image-1", "openai"),
        ("dall-e-3", "openai"),
        ("dall-e-2", "openai"),
    ],
}
# None: the request must name a model. "openai" is special-cased in _default_model.
DEFAULT_MODEL = {"routescope": "gpt-image-2", "applerouter": "dall-e-2"}
MODELS_CREATED = 1_745_000_000

GPT_STANDARD_SIZES = ("1024x1024", "1536x1024", "1024x1536")
DALLE_SIZES = {
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
}
GPT2_MAX_EDGE, GPT2_MAX_PIXELS, GPT2_MAX_RATIO = 3840, 3840 * 2160, 3.0
GENERIC_MAX_EDGE = 4096
PROMPT_LIMITS = {"dall-e-2": 1000, "dall-e-3": 4000}
QUALITIES = {
    "dall-e-2": ("standard", "auto"),
    "dall-e-3": ("standard", "hd", "auto"),
    "gpt": ("low", "medium", "high", "auto"),
    "generic": ("low", "medium", "high", "auto", "standard", "hd"),
}
GPT_ONLY_PARAMS = ("output_format", "output_compression", "background", "moderation")
IMAGE_SIZE_EDGES = {"1K": 1024, "2K": 2048, "4K": 4096}
MAX_EDIT_IMAGES = 16
MAX_BODY = 64 * 1024 * 1024
MAX_FILES = 2000

# What OpenAI itself accepts; the relays pass unknown fields on instead of refusing them.
COMMON_PARAMS = frozenset(
    {"prompt", "model", "n", "quality", "response_format", "output_format", "output_compression"}
    | {"stream", "partial_images", "size", "moderation", "background", "user"}
)
GENERATION_PARAMS = COMMON_PARAMS | {"style"}
EDIT_PARAMS = COMMON_PARAMS | {"image", "images", "image_urls", "mask", "input_fidelity"}
MULTIPART_INTS = ("n", "output_compression", "partial_images")
IMAGE_PART = re.compile(r"^image(\[\d*\])?$")
SIZE_RE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
ASPECT_RE = re.compile(r"^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$")
DIRECTIVE_RE = re.compile(r"\[fake:([^\]]*)\]")

JSON_PARSE_ERROR = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
    "valid JSON.)"
)
MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
KEY_HINT = "You can find your API key at https://platform.openai.com/account/api-keys."
NGINX_PAGE = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
# What a relay answers when the base URL misses its API prefix: its web console, with a 200.
CONSOLE_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Relay console</title>'
    '</head><body><div id="root">Loading…</div><script src="/assets/index.js"></script>'
    "</body></html>"
)
BLOB_NOT_FOUND = (
    '<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code>'
    "<Message>The specified blob does not exist.\nRequestId:{rid}\nTime:{time}</Message></Error>"
)
PRIVATE_REDIRECT = "http://169.254.169.254/latest/meta-data/"
# (type, code, message) of the errors OpenAI sends for these statuses, for `status=CODE`.
STATUS_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Bad request (simulated)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for images per minute."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


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


class ApiError(Exception):
    """An OpenAI-style error answer: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type
        self.headers = headers or []

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return {"error": error}


def invalid(param: str | None, message: str, code: str | None = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


# --- scenarios -------------------------------------------------------------------------------


def _number(value: str | None, default: float | None, low: float, high: float) -> float:
    if value is None or value == "":
        if default is None:
            raise ValueError("needs a value")
        return default
    number = float(value)
    if not low <= number <= high or math.isnan(number):
        raise ValueError(f"must be between {low:g} and {high:g}")
    return number


def _flag(value: str | None) -> bool:
    return True


SCENARIOS: dict[str, Callable[[str | None], Any]] = {
    "latency": lambda v: _number(v, None, 0, 3600),
    "status": lambda v: int(_number(v, None, 400, 599)),
    "retry_after": lambda v: int(_number(v, None, 0, 86400)),
    "retry_after_date": lambda v: _number(v, 7, 0, 86400),
    "html_error": lambda v: int(_number(v, 502, 400, 599)),
    "echo_key": _flag,
    "malformed_json": _flag,
    "truncated": _flag,
    "html_200": _flag,
    "data_object": _flag,
    "data_empty": _flag,
    "data_missing": _flag,
    "no_image_fields": _flag,
    "chat_markdown": _flag,
    "chat_data_uri": _flag,
    "url_expired": _flag,
    "url_redirect_private": _flag,
    "hang": lambda v: _number(v, 3600, 0, 86400),
    "huge_b64": lambda v: _number(v, 1, 0.001, 512),
}


def parse_directive(token: str) -> tuple[str, Any]:
    name, _, value = token.strip().partition("=")
    name = name.strip().lower()
    if name not in SCENARIOS:
        raise ValueError(f"unknown fake directive {name!r}; known: {', '.join(SCENARIOS)}")
    try:
        return name, SCENARIOS[name](value.strip() if value else None)
    except ValueError as exc:
        raise ValueError(f"fake directive {name!r}: {exc}") from None


def parse_scenario(text: str) -> dict[str, Any]:
    """Directives from a control-API string such as "status=429 retry_after=3" (or "[fake:...]")."""
    tokens = DIRECTIVE_RE.findall(text) or re.split(r"[\s,]+", text)
    return dict(parse_directive(token) for token in tokens if token.strip())


def extract_directives(prompt: str) -> tuple[str, dict[str, Any]]:
    """The prompt without its `[fake:...]` directives, and those directives."""
    found = dict(parse_directive(token) for token in DIRECTIVE_RE.findall(prompt))
    clean = " ".join(DIRECTIVE_RE.sub(" ", prompt).split())
    return clean, found


# --- requests --------------------------------------------------------------------------------


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

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass
class ImageJob:
    dialect: str
    endpoint: str  # "generations" or "edits"
    model: str
    family: str  # "dall-e-2", "dall-e-3", "gpt", "gpt-2" or "generic"
    prompt: str  # directives removed
    n: int
    width: int
    height: int
    fmt: str
    compression: int | None
    background: str  # "opaque" or "transparent"
    quality: str  # what the answer reports: low / medium / high, or the dall-e value
    delivery: str  # "url" or "b64_json"
    scenario: dict[str, Any]
    input_images: list[dict[str, Any]] = field(default_factory=list)

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def is_gpt(self) -> bool:
        return self.family in ("gpt", "gpt-2")


@dataclass
class _StoredFile:
    data: bytes
    content_type: str
    created: float
    behaviour: str  # "ok", "expired" or "redirect"


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


def shorten(value: Any) -> Any:
    """A JSON value with data URIs cut to a readable stub, for recorded requests."""
    if isinstance(value, str) and value.startswith("data:") and len(value) > 80:
        head = value[: value.find(",") + 1] if "," in value[:200] else value[:40]
        return f"{head}…[{len(value)} chars]"
    if isinstance(value, dict):
        return {key: shorten(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shorten(item) for item in value]
    return value


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# --- the application -------------------------------------------------------------------------


class FakeGateway:
    """The ASGI app. `.config` may be changed at any time; `.requests` lists what came in."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self._initial = dataclasses.replace(self.config)
        self.requests: list[dict[str, Any]] = []
        self._files: OrderedDict[str, _StoredFile] = OrderedDict()
        self._next_id = 1

    def reset(self) -> None:
        """Forget recorded requests and handed-out files; restore the config it was built with."""
        self.requests.clear()
        self._files.clear()
        # In place: whoever holds the config object keeps steering this gateway.
        for item in dataclasses.fields(FakeConfig):
            setattr(self.config, item.name, getattr(self._initial, item.name))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        headers = _headers(scope)
        request = Request(scope, receive, send, path, scope["method"], headers, "")
        request.base_url = _base_url(scope, headers)
        try:
            await self._route(request)
        except ApiError as error:
            await self._error(request, error)

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
            return await self._index(request)
        else:
            raise self._invalid_url(request)
        is_image_call = rest[:1] == ["images"] and rest[1:] in (["generations"], ["edits"])
        endpoint = rest[1] if is_image_call else "/".join(rest)
        self._record(request, dialect, "models" if rest[:1] == ["models"] else endpoint)
        if request.method == "GET" and rest[:1] == ["models"] and len(rest) <= 2:
            self._check_key(request, {})
            return await self._models(request, dialect, rest[1] if len(rest) == 2 else None)
        if request.method == "POST" and is_image_call:
            return await self._image_call(request, dialect, endpoint)
        raise self._invalid_url(request)

    @staticmethod
    def _invalid_url(request: Request) -> ApiError:
        return ApiError(404, f"Invalid URL ({request.method} {request.path})")

    # --- recording -------------------------------------------------------------------------

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

    # --- responses -------------------------------------------------------------------------

    async def _send(
        self,
        request: Request,
        status: int,
        body: bytes,
        content_type: str,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        if request.record is not None:
            request.record["status"] = status
        raw = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        raw += [(name.lower().encode(), value.encode("latin-1")) for name, value in headers or []]
        await request.send({"type": "http.response.start", "status": status, "headers": raw})
        await request.send({"type": "http.response.body", "body": body})

    async def _json(
        self,
        request: Request,
        status: int,
        obj: Any,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        body = await asyncio.to_thread(_dumps, obj) if status == 200 else _dumps(obj)
        await self._send(request, status, body, "application/json", headers)

    async def _error(self, request: Request, error: ApiError) -> None:
        headers = [("x-request-id", f"req_{secrets.token_hex(16)}"), *error.headers]
        await self._json(request, error.status, error.body(), headers)

    async def _index(self, request: Request) -> None:
        bases = {d: f"{request.base_url}{'' if d == 'openai' else '/' + d}/v1" for d in DIALECTS}
        await self._json(request, 200, {"fake_gateway": True, "base_urls": bases})

    # --- /v1/models ------------------------------------------------------------------------

    async def _models(self, request: Request, dialect: str, model_id: str | None) -> None:
        entries = [
            {"id": model, "object": "model", "created": MODELS_CREATED, "owned_by": owner}
            for model, owner in MODELS[dialect]
        ]
        if model_id is None:
            return await self._json(request, 200, {"object": "list", "data": entries})
        for entry in entries:
            if entry["id"] == model_id:
                return await self._json(request, 200, entry)
        raise _model_not_found(model_id)

    # --- auth ------------------------------------------------------------------------------

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
        raw = await _read_body(request)
        try:
            parsed, edit = await self._parse_body(request, dialect, endpoint, raw)
            prompt, scenario = self._scenario(parsed)
        except ApiError:
            self._check_key(request, {})  # like OpenAI: a bad key is reported before a bad body
            raise
        if request.record is not None:
            request.record.update(scenario=dict(scenario), prompt=prompt)
        self._check_key(request, scenario)
        # A directive's latency replaces the configured one, so one request can be the slow one.
        latency = scenario.get("latency", self.config.latency)
        if latency > 0 and not await _pause(request.receive, latency):
            return  # the client went away; nobody to answer
        if await self._early_scenario(request, scenario):
            return
        job = build_job(dialect, endpoint, parsed, prompt, scenario, edit)
        await self._deliver(request, job)

    def _scenario(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The prompt to draw, and the configured directives overlaid with the prompt's own."""
        try:
            scenario = parse_scenario(self.config.scenario)
            prompt = body.get("prompt")
            if not isinstance(prompt, str):
                return "", scenario
            prompt, found = extract_directives(prompt)
        except ValueError as exc:
            raise invalid("prompt", str(exc), "invalid_fake_directive") from None
        return prompt, {**scenario, **found}

    async def _parse_body(
        self, request: Request, dialect: str, endpoint: str, raw: bytes
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        content_type = request.headers.get("content-type", "")
        if endpoint == "edits" and content_type.lower().startswith("multipart/form-data"):
            fields, edit = await asyncio.to_thread(parse_multipart_edit, content_type, raw)
            if request.record is not None:
                request.record.update(form=shorten(fields), edit=edit)
            return fields, edit
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, JSON_PARSE_ERROR) from None
        if request.record is not None:
            request.record["json"] = shorten(body)
        if not isinstance(body, dict):
            raise ApiError(400, JSON_PARSE_ERROR)
        allowed = GENERATION_PARAMS if endpoint == "generations" else EDIT_PARAMS
        if dialect == "openai":
            for name in body:
                if name not in allowed:
                    raise invalid(name, f"Unknown parameter: '{name}'.", "unknown_parameter")
        if endpoint == "edits":
            edit = await asyncio.to_thread(parse_json_edit, body)
            if request.record is not None:
                request.record["edit"] = edit
            return body, edit
        return body, None

    async def _early_scenario(self, request: Request, scenario: dict[str, Any]) -> bool:
        """Answer for a scenario that replaces the whole response; False when there is none."""
        if "hang" in scenario:
            await _pause(request.receive, scenario["hang"])
            return True
        if "status" in scenario:
            raise _status_error(scenario)
        if "html_error" in scenario:
            code = scenario["html_error"]
            page = NGINX_PAGE.format(code=code, phrase=_phrase(code)).encode()
            await self._send(request, code, page, "text/html", [("server", "nginx")])
            return True
        return False

    async def _deliver(self, request: Request, job: ImageJob) -> None:
        transparent = job.background == "transparent"
        blobs = await asyncio.gather(
            *(
                images.render_async(
                    job.prompt,
                    index,
                    job.width,
                    job.height,
                    job.fmt,
                    transparent=transparent,
                    compression=job.compression,
                )
                for index in range(job.n)
            )
        )
        body = await self._response_body(request, job, list(blobs))
        scenario = job.scenario
        if "malformed_json" in scenario:
            broken = (
                b'{"created": '
                + str(int(time.time())).encode()
                + b', "data": [{"b64_json": "iVBORw0KGgo'
            )
            return await self._send(request, 200, broken, "application/json")
        if "html_200" in scenario:
            return await self._send(request, 200, CONSOLE_PAGE.encode(), "text/html; charset=utf-8")
        headers = [("x-request-id", f"req_{secrets.token_hex(16)}")]
        if "truncated" in scenario:
            return await _send_truncated(request, await asyncio.to_thread(_dumps, body))
        await self._json(request, 200, body, headers)

    async def _response_body(
        self, request: Request, job: ImageJob, blobs: list[bytes]
    ) -> dict[str, Any]:
        scenario = job.scenario
        chat = (
            job.dialect == "quickrouter"
            or "chat_markdown" in scenario
            or "chat_data_uri" in scenario
        )
        if chat:
            return await self._chat_body(request, job, blobs)
        items = []
        for blob in blobs:
            item = await self._image_item(request, job, blob)
            if job.family == "dall-e-3" or job.dialect == "routmy":
                item["revised_prompt"] = _revised(job.prompt)
            items.append(item)
        if "no_image_fields" in scenario:
            items = [
                {k: v for k, v in item.items() if k not in ("url", "b64_json")} for item in items
            ]
        body: dict[str, Any] = {"created": int(time.time()), "data": items}
        if job.dialect == "routescope" and len(items) == 1:
            body["data"] = items[0]
        if job.dialect == "applerouter" or (job.dialect == "openai" and job.is_gpt):
            body["usage"] = _usage(job)
        if job.dialect == "openai" and job.is_gpt:
            body.update(
                background=job.background,
                output_format=job.fmt,
                quality=job.quality,
                size=job.size,
            )
        if "data_object" in scenario:
            body["data"] = items[0] if items else {}
        elif "data_empty" in scenario:
            body["data"] = []
        elif "data_missing" in scenario:
            del body["data"]
        return body

    async def _image_item(self, request: Request, job: ImageJob, blob: bytes) -> dict[str, Any]:
        if "huge_b64" in job.scenario:
            padded = await asyncio.to_thread(images.padded_b64, blob, job.scenario["huge_b64"])
            return {"b64_json": padded}
        if job.delivery == "url":
            return {"url": self._store(request, blob, job)}
        return {"b64_json": images.b64(blob)}

    async def _chat_body(
        self, request: Request, job: ImageJob, blobs: list[bytes]
    ) -> dict[str, Any]:
        data_uris = "chat_data_uri" in job.scenario or (
            job.delivery == "b64_json" and "chat_markdown" not in job.scenario
        )
        links = []
        for blob in blobs:
            if data_uris:
                links.append(f"data:{images.CONTENT_TYPES[job.fmt]};base64,{images.b64(blob)}")
            else:
                links.append(self._store(request, blob, job))
        content = "Here is your image:\n\n" + "\n\n".join(
            f"![image {index + 1}]({link})" for index, link in enumerate(links)
        )
        usage = _usage(job)
        return {
            "id": f"chatcmpl-{secrets.token_hex(12)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": job.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": usage["input_tokens"],
                "completion_tokens": usage["output_tokens"],
                "total_tokens": usage["total_tokens"],
            },
        }

    # --- handed-out files ------------------------------------------------------------------

    def _store(self, request: Request, blob: bytes, job: ImageJob) -> str:
        behaviour = "ok"
        if "url_expired" in job.scenario:
            behaviour = "expired"
        elif "url_redirect_private" in job.scenario:
            behaviour = "redirect"
        now = time.time()
        while self._files:
            oldest = next(iter(self._files.values()))
            if len(self._files) < MAX_FILES and now - oldest.created <= self.config.url_ttl:
                break
            self._files.popitem(last=False)
        token = secrets.token_urlsafe(18)
        self._files[token] = _StoredFile(blob, images.CONTENT_TYPES[job.fmt], now, behaviour)
        return f"{request.base_url}/files/{token}.{job.fmt}"

    async def _file(self, request: Request, name: str) -> None:
        if request.method not in ("GET", "HEAD"):
            raise self._invalid_url(request)
        token = name.rsplit(".", 1)[0]
        stored = self._files.get(token)
        expired = stored is None or stored.behaviour == "expired"
        if stored and time.time() - stored.created > self.config.url_ttl:
            expired = True
        if expired:
            page = BLOB_NOT_FOUND.format(
                rid=secrets.token_hex(16), time=email.utils.formatdate(usegmt=True)
            )
            return await self._send(request, 404, page.encode(), "application/xml")
        assert stored is not None
        if stored.behaviour == "redirect":
            return await self._send(
                request, 302, b"", "text/plain", [("location", PRIVATE_REDIRECT)]
            )
        await self._send(
            request, 200, stored.data, stored.content_type, [("cache-control", "private")]
        )

    # --- control API -----------------------------------------------------------------------

    async def _control(self, request: Request, rest: list[str]) -> None:
        action = "/".join(rest)
        enabled = self.config.control_api
        if enabled is None:
            enabled = not request.scope.get("root_path")
        if not enabled:
            raise self._invalid_url(request)
        if action == "config" and request.method == "GET":
            return await self._json(request, 200, dataclasses.asdict(self.config))
        if action == "config" and request.method == "POST":
            self._configure(await _read_json(request))
            return await self._json(request, 200, dataclasses.asdict(self.config))
        if action == "reset" and request.method == "POST":
            self.reset()
            return await self._json(request, 200, {"ok": True})
        if action == "requests" and request.method == "GET":
            return await self._json(request, 200, list(self.requests))
        raise self._invalid_url(request)

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


# --- helpers for the app ---------------------------------------------------------------------


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


async def _read_body(request: Request) -> bytes:
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


async def _read_json(request: Request) -> Any:
    raw = await _read_body(request)
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ApiError(400, JSON_PARSE_ERROR) from None


async def _pause(receive: Receive, seconds: float) -> bool:
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


async def _send_truncated(request: Request, body: bytes) -> None:
    # Announce the whole body, send half, then return without finishing: the server closes the
    # connection mid-body, like a proxy that dropped it.
    if request.record is not None:
        request.record["status"] = 200
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await request.send({"type": "http.response.start", "status": 200, "headers": headers})
    await request.send(
        {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
    )


def _phrase(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Error"


def _status_error(scenario: dict[str, Any]) -> ApiError:
    code = scenario["status"]
    headers = []
    if "retry_after" in scenario:
        headers.append(("retry-after", str(scenario["retry_after"])))
    elif "retry_after_date" in scenario:
        when = time.time() + scenario["retry_after_date"]
        headers.append(("retry-after", email.utils.formatdate(when, usegmt=True)))
    elif code == 429:
        headers.append(("retry-after", "7"))
    fallback = ("server_error" if code >= 500 else "invalid_request_error", None, "")
    kind, err_code, message = STATUS_ERRORS.get(code, fallback)
    message = message or f"{code} {_phrase(code)} (simulated)."
    return ApiError(code, message, code=err_code, type=kind, headers=headers)


def _mask(key: str) -> str:
    # OpenAI shows the first and last few characters; a short key would be shown whole, so hide it.
    return f"{key[:5]}...{key[-4:]}" if len(key) >= 13 else "***"


def _model_not_found(model: str) -> ApiError:
    message = f"The model `{model}` does not exist or you do not have access to it."
    return ApiError(404, message, code="model_not_found")


def _revised(prompt: str) -> str:
    subject = prompt or "An abstract image"
    return f"{subject}, rendered as a soft two-colour gradient with a bold index number."


def _usage(job: ImageJob) -> dict[str, Any]:
    """Deterministic token counts shaped like OpenAI's, from prompt length and image sizes."""
    text_tokens = max(1, math.ceil(len(job.prompt) / 4))
    image_tokens = 0
    for image in job.input_images:
        width, height = image.get("width") or 1024, image.get("height") or 1024
        image_tokens += 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)
    per_image = {"low": 272, "medium": 1056, "high": 4160}.get(job.quality, 1056)
    output_tokens = job.n * max(1, round(per_image * job.width * job.height / (1024 * 1024)))
    input_tokens = text_tokens + image_tokens
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
    }


# --- edits: where the images come from -------------------------------------------------------


def parse_json_edit(body: dict[str, Any]) -> dict[str, Any]:
    """The edit record of a JSON edit: which field carried the images, how many, their sizes."""
    field_name, refs = None, []
    for name in ("images", "image", "image_urls"):
        value = body.get(name)
        if value not in (None, "", [], {}):
            field_name, refs = name, _refs(name, value)
            break
    loaded = [_load_ref(ref, f"{field_name}[{i}]", i) for i, ref in enumerate(refs)]
    mask = body.get("mask")
    mask_info = None
    if mask not in (None, "", {}):
        mask_ref = _refs("mask", mask)
        if len(mask_ref) != 1:
            raise invalid("mask", "Invalid 'mask': expected one image reference.")
        mask_info = _load_ref(mask_ref[0], "mask", 0)
    others = {k: v for k, v in body.items() if k not in ("images", "image", "image_urls", "mask")}
    return _edit_record("json", field_name, loaded, mask_info, shorten(others))


def _refs(name: str, value: Any) -> list[str | dict[str, str]]:
    """Image references as URL strings (or {"file_id": ...}) from any accepted JSON form."""
    items = value if isinstance(value, list) else [value]
    if name == "images" and not isinstance(value, list):
        raise invalid(
            "images", "Invalid type for 'images': expected an array of objects.", "invalid_type"
        )
    refs: list[str | dict[str, str]] = []
    for index, item in enumerate(items):
        ref = _ref(item)
        if ref is None:
            raise invalid(
                f"{name}[{index}]", f"Invalid image reference in '{name}'.", "invalid_type"
            )
        refs.append(ref)
    return refs


def _ref(item: Any) -> str | dict[str, str] | None:
    if isinstance(item, str) and item:
        return item
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("file_id"), str):
        return {"file_id": item["file_id"]}
    url = item.get("image_url", item.get("url"))
    if isinstance(url, dict):  # chat-style {"image_url": {"url": ...}}
        url = url.get("url")
    return url if isinstance(url, str) and url else None


def _load_ref(ref: str | dict[str, str], param: str, index: int) -> dict[str, Any]:
    if isinstance(ref, dict):
        return {"source": "file_id", "file_id": ref["file_id"], "width": None, "height": None}
    if ref.startswith("data:"):
        decoded = images.decode_data_url(ref)
        if decoded is None:
            raise invalid(
                param, f"Invalid base64 data URL for image {index + 1}.", "invalid_image_url"
            )
        info = _readable(decoded[1], param, index)
        return {"source": "data_url", "url": shorten(ref), "bytes": len(decoded[1]), **info}
    if ref.startswith(("http://", "https://")):
        # Never fetched: the fake must not make outbound calls; the record says what was sent.
        return {"source": "url", "url": ref, "width": None, "height": None}
    raise invalid(
        param,
        f"Invalid image URL for image {index + 1}: expected http(s) or data URL.",
        "invalid_image_url",
    )


def _readable(data: bytes, param: str, index: int) -> dict[str, Any]:
    info = images.image_info(data)
    if info is None or info.format not in images.FORMATS:
        message = f"Invalid image file or mode for image {index + 1}, please check your image file."
        raise invalid(param, message, "invalid_image_format")
    return {"width": info.width, "height": info.height, "format": info.format}


def parse_multipart_edit(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Text fields (ints coerced, as OpenAI does for forms) and the edit record of a form upload."""
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise invalid(None, "Could not parse multipart form data.", "invalid_multipart")
    fields: dict[str, Any] = {}
    loaded, mask_info, field_name = [], None, None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        name = email.utils.collapse_rfc2231_value(name)
        filename = part.get_filename()
        payload: bytes = part.get_payload(decode=True) or b""
        if IMAGE_PART.match(name) or name == "mask":
            param = "mask" if name == "mask" else "image"
            index = 0 if name == "mask" else len(loaded)
            # A form field without a filename or content type is text: an image URL.
            if filename is None and part.get_content_type() == "text/plain":
                entry = _load_ref(payload.decode("utf-8", "replace").strip(), param, index)
            else:
                entry = {"source": "file", "filename": filename, "bytes": len(payload)}
                entry["content_type"] = part.get_content_type()
                entry.update(_readable(payload, param, index))
            if name == "mask":
                mask_info = entry
            else:
                field_name = field_name or name
                loaded.append(entry)
            continue
        fields[name] = _form_value(name, payload.decode("utf-8", "replace"))
    return fields, _edit_record("multipart", field_name, loaded, mask_info, dict(fields))


def _form_value(name: str, text: str) -> Any:
    if name in MULTIPART_INTS and re.fullmatch(r"-?\d+", text.strip()):
        return int(text)
    if name == "stream" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _edit_record(
    mode: str,
    field_name: str | None,
    loaded: list[dict[str, Any]],
    mask_info: dict[str, Any] | None,
    others: dict[str, Any],
) -> dict[str, Any]:
    def size(entry: dict[str, Any] | None) -> str | None:
        if entry and entry.get("width"):
            return f"{entry['width']}x{entry['height']}"
        return None

    return {
        "mode": mode,
        "image_field": field_name,
        "image_count": len(loaded),
        "images": loaded,
        "image_sizes": [size(entry) for entry in loaded],
        "mask": mask_info is not None,
        "mask_size": size(mask_info),
        "mask_info": mask_info,
        "fields": others,
    }


# --- validation ------------------------------------------------------------------------------


def model_family(model: str) -> str:
    if model in ("dall-e-2", "dall-e-3"):
        return model
    if model.startswith("gpt-image-2"):
        return "gpt-2"
    if model.startswith(("gpt-image", "chatgpt-image")):
        return "gpt"
    return "generic"


def build_job(
    dialect: str,
    endpoint: str,
    body: dict[str, Any],
    prompt: str,
    scenario: dict[str, Any],
    edit: dict[str, Any] | None,
) -> ImageJob:
    """Check a request like the real service would and settle everything the answer needs."""
    model = _model(dialect, endpoint, body)
    family = model_family(model)
    _check_prompt(body, family)
    if edit is not None:
        _check_edit(edit, family)
    n = _int(body, "n", 1, 1, 10)
    if family == "dall-e-3" and n != 1:
        raise invalid("n", "Invalid 'n': dall-e-3 only supports n=1.")
    if family.startswith("dall-e"):
        for name in GPT_ONLY_PARAMS:
            if body.get(name) is not None:
                raise invalid(
                    name,
                    f"The '{name}' parameter is only supported for the GPT image models.",
                    "unsupported_parameter",
                )
    fmt = _output_format(dialect, body, family)
    compression = _compression(body, fmt)
    quality = _enum(body, "quality", _qualities(endpoint, family))
    background = _enum(body, "background", ("transparent", "opaque", "auto")) or "auto"
    if background == "transparent" and fmt == "jpeg":
        raise invalid(
            "background",
            f"Transparent background is not supported for output format '{fmt}'; use png or webp.",
        )
    _enum(body, "moderation", ("low", "auto"))
    _enum(body, "style", ("vivid", "natural"))
    _enum(body, "input_fidelity", ("high", "low"))
    response_format = _enum(body, "response_format", ("url", "b64_json"))
    if body.get("stream") not in (None, False):
        raise invalid(
            "stream",
            "Streaming is not supported by this gateway; send stream=false.",
            "unsupported_parameter",
        )
    _int(body, "partial_images", 0, 0, 3)
    width, height = _size(dialect, endpoint, body, family, edit)
    return ImageJob(
        dialect=dialect,
        endpoint=endpoint,
        model=model,
        family=family,
        prompt=prompt,
        n=n,
        width=width,
        height=height,
        fmt=fmt,
        compression=compression,
        background="transparent" if background == "transparent" else "opaque",
        quality={"auto": "medium", "standard": "medium", "hd": "high", None: "medium"}.get(
            quality, quality
        ),
        delivery=_delivery(dialect, family, response_format, scenario),
        scenario=scenario,
        input_images=edit["images"] if edit else [],
    )


def _model(dialect: str, endpoint: str, body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        model = _default_model(dialect, endpoint, body)
    if not isinstance(model, str):
        raise invalid("model", "Invalid type for 'model': expected a string.", "invalid_type")
    if model not in {name for name, _ in MODELS[dialect]}:
        raise _model_not_found(model)
    if endpoint == "edits" and model == "dall-e-3":
        raise invalid("model", "Invalid value for 'model': dall-e-3 does not support image edits.")
    return model


def _default_model(dialect: str, endpoint: str, body: dict[str, Any]) -> str:
    if dialect == "openai":
        # OpenAI: dall-e-2, unless a parameter only the GPT image models take is present.
        if endpoint == "edits" or any(body.get(name) is not None for name in GPT_ONLY_PARAMS):
            return "gpt-image-1.5"
        return "dall-e-2"
    model = DEFAULT_MODEL.get(dialect)
    if model is None:
        raise invalid("model", "Missing required parameter: 'model'.", "missing_required_parameter")
    return model


def _check_prompt(body: dict[str, Any], family: str) -> None:
    prompt = body.get("prompt")
    if prompt is None:
        raise invalid(
            "prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter"
        )
    if not isinstance(prompt, str):
        raise invalid("prompt", "Invalid type for 'prompt': expected a string.", "invalid_type")
    if not prompt.strip():
        message = "Invalid 'prompt': string too short. Expected a string with minimum length 1."
        raise invalid("prompt", message, "empty_string")
    limit = PROMPT_LIMITS.get(family, 32000)
    if len(prompt) > limit:
        message = (
            f"Invalid 'prompt': string too long. Expected a string with maximum length {limit}, "
            f"but got a string with length {len(prompt)} instead."
        )
        raise invalid("prompt", message, "string_above_max_length")


def _check_edit(edit: dict[str, Any], family: str) -> None:
    count = edit["image_count"]
    if count == 0:
        raise invalid("image", "Missing required parameter: 'image'.", "missing_required_parameter")
    if count > MAX_EDIT_IMAGES:
        raise invalid(
            "image",
            f"Invalid 'image': too many images. Expected at most {MAX_EDIT_IMAGES}, got {count}.",
        )
    if family == "dall-e-2":
        _check_dalle2_edit(edit)
    first, mask = edit["image_sizes"][0], edit["mask_size"]
    if first and mask and first != mask:
        message = (
            "Invalid mask image: mask size must match image size "
            f"(mask is {mask}, image is {first})."
        )
        raise invalid("mask", message)


def _check_dalle2_edit(edit: dict[str, Any]) -> None:
    if edit["mode"] != "multipart":
        raise invalid("image", "dall-e-2 edits take multipart/form-data image uploads only.")
    if edit["image_count"] != 1:
        raise invalid("image", "dall-e-2 edits take exactly one image.")
    image = edit["images"][0]
    if image.get("format") != "png" or image.get("width") != image.get("height"):
        raise invalid(
            "image",
            "Invalid input image - dall-e-2 needs a square PNG image.",
            "invalid_image_format",
        )


def _qualities(endpoint: str, family: str) -> tuple[str, ...]:
    allowed = QUALITIES["gpt" if family == "gpt-2" else family]
    # OpenAI's multipart edit schema also lists "standard" for the GPT image models.
    return (*allowed, "standard") if endpoint == "edits" and family.startswith("gpt") else allowed


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(
            name,
            f"Invalid type for '{name}': expected an integer, but got {type(value).__name__}.",
            "invalid_type",
        )
    if value < low:
        message = (
            f"Invalid '{name}': integer below minimum value. "
            f"Expected a value >= {low}, but got {value} instead."
        )
        raise invalid(name, message, "integer_below_min_value")
    if value > high:
        message = (
            f"Invalid '{name}': integer above maximum value. "
            f"Expected a value <= {high}, but got {value} instead."
        )
        raise invalid(name, message, "integer_above_max_value")
    return value


def _enum(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if value not in allowed:
        listed = ", ".join(f"'{item}'" for item in allowed)
        raise invalid(name, f"Invalid value: '{value}'. Supported values are: {listed}.")
    return value


def _output_format(dialect: str, body: dict[str, Any], family: str) -> str:
    name = "output_format"
    if dialect == "quickrouter" and body.get("output_format") is None:
        name = "format"  # quickrouter's own spelling; it takes OpenAI's too
    value = _enum(body, name, images.FORMATS)
    if family.startswith("dall-e"):
        return "png"  # dall-e only ever made PNGs
    return value or "png"


def _compression(body: dict[str, Any], fmt: str) -> int | None:
    compression = body.get("output_compression")
    if compression is None:
        return None
    compression = _int(body, "output_compression", 100, 0, 100)
    if fmt == "png" and compression < 100:
        message = (
            "Compression less than 100 is not supported for PNG output format; use jpeg or webp."
        )
        raise invalid("output_compression", message)
    return compression


def _size(
    dialect: str,
    endpoint: str,
    body: dict[str, Any],
    family: str,
    edit: dict[str, Any] | None,
) -> tuple[int, int]:
    if dialect == "routmy" and body.get("image_config") is not None:
        return _image_config_size(body["image_config"])
    value = body.get("size")
    if value is not None and not isinstance(value, str):
        raise invalid("size", "Invalid type for 'size': expected a string.", "invalid_type")
    if family.startswith("dall-e"):
        allowed = DALLE_SIZES[family]
        if value in (None,) or value in allowed:
            return _parse_size(value or "1024x1024")
        raise _size_error(value, allowed)
    if value is None or value == "auto":
        return _auto_size(edit)
    if family == "gpt":
        if value not in GPT_STANDARD_SIZES:
            raise _size_error(value, (*GPT_STANDARD_SIZES, "auto"))
        return _parse_size(value)
    match = SIZE_RE.match(value)
    if not match:
        raise invalid(
            "size", f"Invalid value: '{value}'. Expected 'auto' or WIDTHxHEIGHT, e.g. '1536x864'."
        )
    width, height = int(match[1]), int(match[2])
    if family == "gpt-2":
        _check_gpt2_size(value, width, height)
    elif not (0 < width <= GENERIC_MAX_EDGE and 0 < height <= GENERIC_MAX_EDGE):
        raise invalid(
            "size",
            f"Invalid value: '{value}'. Width and height must be between 1 and {GENERIC_MAX_EDGE}.",
        )
    return width, height


def _check_gpt2_size(value: str, width: int, height: int) -> None:
    problem = None
    if width % 16 or height % 16 or not width or not height:
        problem = "width and height must both be positive multiples of 16"
    elif max(width, height) > GPT2_MAX_EDGE:
        problem = f"the longest edge must be at most {GPT2_MAX_EDGE} pixels"
    elif width * height > GPT2_MAX_PIXELS:
        problem = "the maximum supported resolution is 3840x2160"
    elif max(width, height) / min(width, height) > GPT2_MAX_RATIO:
        problem = "the aspect ratio must be between 1:3 and 3:1"
    if problem:
        raise invalid("size", f"Invalid value: '{value}'. For gpt-image-2, {problem}.")


def _size_error(value: str, allowed: tuple[str, ...]) -> ApiError:
    listed = ", ".join(f"'{item}'" for item in allowed[:-1]) + f", and '{allowed[-1]}'"
    return invalid("size", f"Invalid value: '{value}'. Supported values are: {listed}.")


def _parse_size(value: str) -> tuple[int, int]:
    width, _, height = value.partition("x")
    return int(width), int(height)


def _auto_size(edit: dict[str, Any] | None) -> tuple[int, int]:
    """The first input image's size for edits (scaled into the model's limits), else 1024x1024."""
    first = edit["images"][0] if edit and edit["images"] else {}
    width, height = first.get("width"), first.get("height")
    if not width or not height:
        return 1024, 1024
    scale = min(
        1.0, GPT2_MAX_EDGE / max(width, height), math.sqrt(GPT2_MAX_PIXELS / (width * height))
    )
    return max(1, int(width * scale)), max(1, int(height * scale))


def _image_config_size(config: Any) -> tuple[int, int]:
    """routmy's image_config: 1K/2K/4K is the long edge, the aspect ratio sets the other one."""
    if not isinstance(config, dict):
        raise invalid(
            "image_config", "Invalid type for 'image_config': expected an object.", "invalid_type"
        )
    ratio = config.get("aspect_ratio") or "1:1"
    label = config.get("image_size") or "1K"
    match = ASPECT_RE.match(ratio) if isinstance(ratio, str) else None
    if not match or not float(match[1]) or not float(match[2]):
        raise invalid(
            "image_config.aspect_ratio", f"Invalid aspect_ratio {ratio!r}; expected e.g. '16:9'."
        )
    a, b = float(match[1]), float(match[2])
    if max(a, b) / min(a, b) > 4:
        raise invalid(
            "image_config.aspect_ratio", f"Unsupported aspect_ratio {ratio!r}; at most 4:1."
        )
    edge = IMAGE_SIZE_EDGES.get(label.upper()) if isinstance(label, str) else None
    if edge is None:
        raise invalid(
            "image_config.image_size", f"Invalid image_size {label!r}; expected 1K, 2K or 4K."
        )
    short = max(16, round(edge * min(a, b) / max(a, b) / 16) * 16)
    return (edge, short) if a >= b else (short, edge)


def _delivery(
    dialect: str, family: str, response_format: str | None, scenario: dict[str, Any]
) -> str:
    if "huge_b64" in scenario:
        return "b64_json"
    if "url_expired" in scenario or "url_redirect_private" in scenario:
        return "url"  # these scenarios are about handed-out URLs, so hand some out
    if dialect == "openai" and family in ("gpt", "gpt-2"):
        return "b64_json"  # GPT image models ignore response_format
    default = "b64_json" if dialect == "routmy" else "url"
    return response_format or default
