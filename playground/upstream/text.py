"""Upstream words made fit to show: quoted, shortened, HTML pages reduced to their gist."""

from __future__ import annotations

import html
import re

QUOTE_CHARS = 300

_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HTML_SKIP = re.compile(r"<(script|style)[^>]*>.*?</\1>", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]+>")


def quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…"


def looks_like_html(text: str, content_type: str) -> bool:
    head = text[:1024].lower()
    return "text/html" in content_type.lower() or "<html" in head or "<!doctype html" in head


def html_gist(text: str) -> str:
    title = _HTML_TITLE.search(text)
    gist = title.group(1) if title else _HTML_TAG.sub(" ", _HTML_SKIP.sub(" ", text))
    gist = " ".join(html.unescape(gist).split())
    return quote(gist) if gist else "(no text)"


def not_json_message(content: bytes | bytearray | str) -> str:
    if not isinstance(content, str):
        content = content.decode("utf-8", errors="replace")
    text = content.strip()
    if not text:
        return "The answer is empty"
    if looks_like_html(text, ""):
        return f"The answer is an HTML page, not JSON: {html_gist(text)}"
    return f"The answer is not valid JSON: {quote(text)}"
