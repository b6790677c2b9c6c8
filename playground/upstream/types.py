from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ResultImage:
    """One image of a result: either decoded bytes (from b64_json / data URI) or a URL to fetch."""

    data: bytes | None = None
    url: str | None = None
    revised_prompt: str | None = None
    mime_type: str | None = None


@dataclass
class UpstreamResult:
    images: list[ResultImage] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    created: int | None = None
    # Settings the upstream echoed back (size, quality, output_format, background).
    echoed: dict[str, Any] = field(default_factory=dict)
    # The response body with image payloads replaced by short placeholders: safe to store.
    summary: dict[str, Any] = field(default_factory=dict)
    # Which response shape was recognised: "images", "images_object", "chat_completion".
    shape: str = "images"
