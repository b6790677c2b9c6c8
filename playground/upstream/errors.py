from __future__ import annotations

from collections.abc import Iterable

# Every failure talking to an upstream (or fetching a result image) is one of these kinds.
KINDS = {
    "auth": "The upstream rejected the API key",
    "forbidden": "The API key may not use this",
    "not_found": "The upstream has no such endpoint or model",
    "rate_limited": "The upstream is rate limiting",
    "bad_request": "The upstream refused the request",
    "upstream_error": "The upstream failed",
    "timeout": "The upstream did not answer in time",
    "connection": "Could not connect to the upstream",
    "bad_response": "The upstream answered with something that is not a usable image response",
    "too_large": "The upstream's answer is larger than allowed",
    "blocked": "The address is not allowed",
}


class UpstreamError(Exception):
    """One exception for every upstream failure; `message` is the upstream's own words."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        param: str | None = None,
        error_type: str | None = None,
        not_sent: bool = False,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown upstream error kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.code = code
        self.param = param
        self.error_type = error_type
        # True when the request provably never reached the upstream (so it cannot be billed).
        self.not_sent = not_sent

    @property
    def title(self) -> str:
        return KINDS[self.kind]

    def redacted(self, secrets: Iterable[str]) -> UpstreamError:
        """A copy whose texts no longer contain any of `secrets`."""
        clean = UpstreamError(
            self.kind,
            redact(self.message, secrets),
            status=self.status,
            retry_after=self.retry_after,
            code=redact(self.code, secrets) if self.code else self.code,
            param=redact(self.param, secrets) if self.param else self.param,
            error_type=redact(self.error_type, secrets) if self.error_type else self.error_type,
            not_sent=self.not_sent,
        )
        return clean

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "message": self.message,
            "status": self.status,
            "retry_after": self.retry_after,
            "code": self.code,
            "param": self.param,
            "type": self.error_type,
        }

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{self.title}{status}: {self.message}"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove secrets from text, including the partial echoes upstreams like to make.

    OpenAI-style errors echo keys as `sk-abc...wxyz` or with the middle starred out, so besides the
    full secret we also remove any run of 8+ characters taken from its start or its end.
    """
    if not text:
        return text
    for secret in secrets:
        if not secret or len(secret) < 8:
            continue
        text = text.replace(secret, "[redacted]")
        # Prefixes/suffixes of the key that an upstream may print around an ellipsis.
        for size in range(len(secret) - 1, 7, -1):
            head, tail = secret[:size], secret[-size:]
            if head in text:
                text = text.replace(head, "[redacted]")
            if tail in text:
                text = text.replace(tail, "[redacted]")
    return text
