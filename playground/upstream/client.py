"""The one HTTP client for a gateway's images API.

Every way a call can fail leaves this module as an `UpstreamError` whose texts have the API key
removed, so callers can store and show errors without thinking about secrets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from .error_responses import parse_error_response
from .errors import UpstreamError
from .requests import normalize_base_url
from .responses import parse_images_response, parse_models_response
from .tls import tls_context
from .types import UpstreamResult

T = TypeVar("T")

USER_AGENT = "image-playground/0.1"
# Error pages are small; past this we keep what we have and stop reading.
MAX_ERROR_BODY_BYTES = 1024 * 1024
# Image calls are paid. Only failures that provably cost nothing are retried: the connection was
# never made, or the upstream said 429 and when to come back. Bounded in count and in waiting.
MAX_RETRIES = 2
MAX_RETRY_WAIT = 20.0

# How a client waits between retries when it was not given `sleep=`. Looked up at each wait, so
# tests can replace it for clients built elsewhere (the runner's) and never wait for real.
retry_sleep: Callable[[float], None] = time.sleep


class UpstreamClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 150.0,
        transport: httpx.BaseTransport | None = None,
        max_response_bytes: int = 256 * 1024 * 1024,
        max_image_bytes: int | None = None,
        max_retries: int = MAX_RETRIES,
        max_retry_wait: float = MAX_RETRY_WAIT,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.max_image_bytes = max_image_bytes
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        # None: the module's `retry_sleep` (time.sleep unless replaced).
        self._sleep = sleep
        # Requests sent by the last call, retries included (1 when nothing was retried).
        self.attempts = 0
        # Keys are pasted by people; a stray newline must not become a header error.
        self._api_key = (api_key or "").strip() or None
        self._secrets = [s for s in (api_key, self._api_key) if s]
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        self._key_unsendable = self._api_key is not None and not _header_safe(self._api_key)
        if self._api_key and not self._key_unsendable:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            follow_redirects=False,
            transport=transport,
            verify=tls_context(),
        )

    # --- endpoints ----------------------------------------------------------------------------

    def generate(self, body: dict[str, Any]) -> UpstreamResult:
        return self._images("images/generations", json=body)

    def edit_json(self, body: dict[str, Any]) -> UpstreamResult:
        return self._images("images/edits", json=body)

    def edit_multipart(self, data: dict[str, str], files: list[Any]) -> UpstreamResult:
        return self._images("images/edits", data=data, files=files)

    def list_models(self) -> list[str]:
        return self._call("GET", "models", parse_models_response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> UpstreamClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _images(self, path: str, **request: Any) -> UpstreamResult:
        result = self._call("POST", path, self._parse_images, **request)
        for image in result.images:
            if image.url and image.url.startswith("/"):
                image.url = urljoin(self.base_url, image.url)
        return result

    def _parse_images(self, content: bytes) -> UpstreamResult:
        return parse_images_response(content, max_image_bytes=self.max_image_bytes)

    def _call(self, method: str, path: str, parse: Callable[[bytes], T], **request: Any) -> T:
        self.attempts = 0
        waited = 0.0
        while True:
            self.attempts += 1
            try:
                return self._send(method, path, parse, **request)
            except UpstreamError as exc:
                error = exc
            wait = self._retry_wait(error)
            if wait is None or self.attempts > self.max_retries:
                break
            if waited + wait > self.max_retry_wait:
                break
            waited += wait
            (self._sleep or retry_sleep)(wait)
        if self.attempts > 1:
            error.message = f"{error.message} (after {self.attempts} attempts)"
        # Raised outside the except block so the unredacted original is not chained to it.
        raise error.redacted(self._secrets)

    @staticmethod
    def _retry_wait(error: UpstreamError) -> float | None:
        """Seconds to wait before retrying, or None when a retry could bill twice."""
        if error.kind == "rate_limited" and error.retry_after is not None:
            return error.retry_after
        if error.kind in ("connection", "timeout") and error.not_sent:
            return 0.5
        return None

    def _send(self, method: str, path: str, parse: Callable[[bytes], T], **request: Any) -> T:
        """Send one request and parse its 2xx body; anything else raises UpstreamError."""
        if self._key_unsendable:
            raise UpstreamError(
                "auth", "The API key contains characters that cannot be sent in an HTTP header"
            )
        url = f"{self.base_url}/{path}"
        # The provider's timeout is the budget for the whole call, not per network read.
        deadline = time.monotonic() + self.timeout + min(0.5, self.timeout * 0.1)
        with (
            self._translate_transport_errors(),
            self._http.stream(method, url, **request) as response,
        ):
            if not response.is_success:
                content = self._read(response, deadline, MAX_ERROR_BODY_BYTES, truncate=True)
                raise parse_error_response(response.status_code, response.headers, content)
            content = self._read(response, deadline, self.max_response_bytes)
        try:
            return parse(content)
        except UpstreamError as exc:
            exc.status = exc.status or response.status_code
            raise

    def _read(
        self, response: httpx.Response, deadline: float, limit: int, *, truncate: bool = False
    ) -> bytes | bytearray:
        declared = response.headers.get("content-length", "")
        if not truncate and declared.isdigit() and int(declared) > limit:
            raise self._too_large(limit, response.status_code)
        # One growing buffer, not chunks joined at the end (the answer twice in memory); the
        # JSON parser empties it once it has the text (see responses._load_json_object).
        content = bytearray()
        for chunk in self._body_chunks(response):
            if time.monotonic() > deadline:
                raise UpstreamError(
                    "timeout",
                    f"The answer took longer than the {self.timeout:g} s allowed",
                    status=response.status_code,
                )
            content += chunk
            if len(content) > limit:
                if truncate:
                    return bytes(content[:limit])
                raise self._too_large(limit, response.status_code)
        return bytes(content) if truncate else content

    @staticmethod
    def _body_chunks(response: httpx.Response) -> Iterator[bytes]:
        # The status line has arrived, so a reset now means the answer was cut off, not that the
        # upstream could not be reached (a server closing with unread input sends RST, not FIN).
        try:
            yield from response.iter_bytes()
        except httpx.ReadError as exc:
            raise UpstreamError(
                "bad_response",
                f"The answer was cut off or malformed: {_reason(exc)}",
                status=response.status_code,
            ) from None

    @staticmethod
    def _too_large(limit: int, status: int) -> UpstreamError:
        return UpstreamError(
            "too_large", f"The answer is larger than {limit} bytes; stopped reading", status=status
        )

    @contextmanager
    def _translate_transport_errors(self) -> Iterator[None]:
        host = urlsplit(self.base_url).netloc
        try:
            yield
        except httpx.ConnectTimeout:
            raise UpstreamError(
                "timeout",
                f"Connecting to {host} timed out after {min(10.0, self.timeout):g} s",
                not_sent=True,
            ) from None
        except httpx.ConnectError as exc:
            raise UpstreamError(
                "connection", f"Could not connect to {host}: {_reason(exc)}", not_sent=True
            ) from None
        except httpx.WriteTimeout:
            raise UpstreamError(
                "timeout", f"Sending the request to {host} took longer than {self.timeout:g} s"
            ) from None
        except httpx.PoolTimeout:
            raise UpstreamError(
                "timeout", f"No free connection to {host} within {self.timeout:g} s"
            ) from None
        except httpx.ReadTimeout:
            raise UpstreamError(
                "timeout", f"{host} did not answer within {self.timeout:g} s"
            ) from None
        except (httpx.RemoteProtocolError, httpx.DecodingError) as exc:
            raise UpstreamError(
                "bad_response",
                f"The answer from {host} was cut off or malformed: {_reason(exc)}",
            ) from None
        except httpx.HTTPError as exc:
            raise UpstreamError(
                "connection", f"The connection to {host} failed: {_reason(exc)}"
            ) from None


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable()
