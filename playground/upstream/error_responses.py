"""A gateway's error answer, in whatever shape it came, as one `UpstreamError`."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from .errors import UpstreamError
from .text import html_gist, looks_like_html, quote


def parse_error_response(status: int, headers: Mapping[str, str], content: bytes) -> UpstreamError:
    """One `UpstreamError` for a non-2xx answer, with the upstream's own words as message."""
    lower_headers = {k.lower(): v for k, v in headers.items()}
    err = _error_from_body(status, lower_headers, content)
    return UpstreamError(
        _kind_for_status(status),
        err.message,
        status=status,
        retry_after=parse_retry_after(lower_headers),
        code=err.code,
        param=err.param,
        error_type=err.error_type,
    )


def _kind_for_status(status: int) -> str:
    kinds = {
        401: "auth",
        403: "forbidden",
        404: "not_found",
        408: "timeout",
        429: "rate_limited",
        504: "timeout",
    }
    if status in kinds:
        return kinds[status]
    if 400 <= status < 500:
        return "bad_request"
    if 300 <= status < 400:
        # We never follow redirects; one almost always means a wrong base URL.
        return "bad_response"
    return "upstream_error"


def _error_from_body(status: int, headers: dict[str, str], content: bytes) -> UpstreamError:
    if 300 <= status < 400 and headers.get("location"):
        message = f"HTTP {status} redirect to {headers['location']}; check the base URL"
        return UpstreamError("upstream_error", message)
    text = content.decode("utf-8", errors="replace").strip()
    if not text:
        return UpstreamError("upstream_error", f"HTTP {status} with an empty body")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):  # deep nesting is not an answer
        body = None
    if isinstance(body, dict):
        return error_from_json(body, status)
    if looks_like_html(text, headers.get("content-type", "")):
        return UpstreamError(
            "upstream_error", f"HTTP {status} with an HTML page: {html_gist(text)}"
        )
    return UpstreamError("upstream_error", f"HTTP {status}: {quote(text)}")


def error_from_json(body: dict[str, Any], status: int) -> UpstreamError:
    error = body.get("error")
    if isinstance(error, dict):
        message = _text(error.get("message")) or _text(error.get("msg"))
        return UpstreamError(
            "upstream_error",
            message or _text(error.get("code")) or _text(error.get("type")) or f"HTTP {status}",
            code=_text(error.get("code")),
            param=_text(error.get("param")),
            error_type=_text(error.get("type")),
        )
    message = (
        _text(error)
        or _text(body.get("message"))
        or _detail_text(body.get("detail"))
        or _text(body.get("msg"))
    )
    return UpstreamError(
        "upstream_error",
        message or f"HTTP {status}: {quote(json.dumps(body, ensure_ascii=False))}",
        code=_text(body.get("code")),
        error_type=_text(body.get("type")),
    )


def _detail_text(detail: Any) -> str | None:
    # FastAPI-style validation errors: [{"loc": [...], "msg": "..."}].
    if isinstance(detail, list):
        msgs = [_text(d.get("msg")) if isinstance(d, dict) else _text(d) for d in detail]
        return "; ".join(m for m in msgs if m) or None
    return _text(detail)


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    lower = {k.lower(): v for k, v in headers.items()}
    millis = _float_or_none(lower.get("retry-after-ms"))
    if millis is not None and millis >= 0:
        return millis / 1000
    value = (lower.get("retry-after") or "").strip()
    if not value:
        return None
    seconds = _float_or_none(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _float_or_none(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None
