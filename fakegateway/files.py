"""Result images handed out by URL, kept in memory until they expire like OpenAI's do."""

from __future__ import annotations

import email.utils
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from . import images
from .transport import Request, send

# A bound on memory: a long benchmark must not keep every image it was ever sent.
MAX_FILES = 2000
BLOB_NOT_FOUND = (
    '<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code>'
    "<Message>The specified blob does not exist.\nRequestId:{rid}\nTime:{time}</Message></Error>"
)
PRIVATE_REDIRECT = "http://169.254.169.254/latest/meta-data/"


@dataclass
class StoredFile:
    data: bytes
    content_type: str
    created: float
    behaviour: str  # "ok", "expired" or "redirect"


class FileStore:
    def __init__(self) -> None:
        self._files: OrderedDict[str, StoredFile] = OrderedDict()

    def clear(self) -> None:
        self._files.clear()

    def put(self, blob: bytes, fmt: str, behaviour: str, ttl: float, now: float) -> str:
        """Keep `blob` (it is `now`); the file name (token and extension) it is served under."""
        while self._files:
            oldest = next(iter(self._files.values()))
            if len(self._files) < MAX_FILES and now - oldest.created <= ttl:
                break
            self._files.popitem(last=False)
        token = secrets.token_urlsafe(18)
        self._files[token] = StoredFile(blob, images.CONTENT_TYPES[fmt], now, behaviour)
        return f"{token}.{fmt}"

    def get(self, name: str, ttl: float, now: float) -> StoredFile | None:
        """The file served under `name`; None once it is gone or expired (as of `now`)."""
        stored = self._files.get(name.rsplit(".", 1)[0])
        if stored is None or stored.behaviour == "expired":
            return None
        if now - stored.created > ttl:
            return None
        return stored


async def serve_file(request: Request, stored: StoredFile | None) -> None:
    # Answers like the blob storage behind OpenAI's URLs, so clients meet its real 404.
    if stored is None:
        page = BLOB_NOT_FOUND.format(
            rid=secrets.token_hex(16), time=email.utils.formatdate(usegmt=True)
        )
        return await send(request, 404, page.encode(), "application/xml")
    if stored.behaviour == "redirect":
        return await send(request, 302, b"", "text/plain", [("location", PRIVATE_REDIRECT)])
    await send(request, 200, stored.data, stored.content_type, [("cache-control", "private")])
