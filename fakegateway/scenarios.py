"""Misbehaviour on request: `[fake:NAME=VALUE]` directives and the answers they produce.

A directive in a prompt (or a default scenario set through the control API) reproduces a failure
clients meet in the wild: slow or hung calls, error statuses, HTML where JSON was expected,
broken or truncated bodies, odd response shapes, URLs that expire or redirect somewhere private.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import math
import re
import time
from collections.abc import Callable
from typing import Any

from .transport import Request, dumps, pause, send, send_truncated
from .validation import ApiError, invalid

DIRECTIVE_RE = re.compile(r"\[fake:([^\]]*)\]")

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


def request_scenario(default: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The prompt to draw, and the `default` directives overlaid with the prompt's own."""
    try:
        scenario = parse_scenario(default)
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            return "", scenario
        prompt, found = extract_directives(prompt)
    except ValueError as exc:
        raise invalid("prompt", str(exc), "invalid_fake_directive") from None
    return prompt, {**scenario, **found}


def url_behaviour(scenario: dict[str, Any]) -> str:
    """How a handed-out URL answers later: "ok", "expired" or "redirect"."""
    if "url_expired" in scenario:
        return "expired"
    if "url_redirect_private" in scenario:
        return "redirect"
    return "ok"


async def early_answer(request: Request, scenario: dict[str, Any]) -> bool:
    """Answer for a scenario that replaces the whole response; False when there is none."""
    if "hang" in scenario:
        await pause(request.receive, scenario["hang"])
        return True
    if "status" in scenario:
        raise status_error(scenario)
    if "html_error" in scenario:
        code = scenario["html_error"]
        page = NGINX_PAGE.format(code=code, phrase=_phrase(code)).encode()
        await send(request, code, page, "text/html", [("server", "nginx")])
        return True
    return False


async def broken_answer(request: Request, scenario: dict[str, Any], body: Any) -> bool:
    """Send a scenario's spoilt version of a success `body`; False when there is none."""
    if "malformed_json" in scenario:
        broken = (
            b'{"created": '
            + str(int(time.time())).encode()
            + b', "data": [{"b64_json": "iVBORw0KGgo'
        )
        await send(request, 200, broken, "application/json")
    elif "html_200" in scenario:
        await send(request, 200, CONSOLE_PAGE.encode(), "text/html; charset=utf-8")
    elif "truncated" in scenario:
        await send_truncated(request, await asyncio.to_thread(dumps, body))
    else:
        return False
    return True


def status_error(scenario: dict[str, Any]) -> ApiError:
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


def _phrase(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Error"
