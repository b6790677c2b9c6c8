"""Turning whatever a gateway answered into `UpstreamResult` (errors: `error_responses`).

Gateways disagree on the success shape (a `data` list, a `data` object, a chat completion with a
Markdown image) and on the error shape, so each is recognised here and nowhere else.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from .error_responses import error_from_json
from .errors import UpstreamError
from .text import not_json_message, quote
from .types import ResultImage, UpstreamResult

ECHOED_SETTINGS = ("size", "quality", "output_format", "background")
# Keys whose string values are image payloads in OpenAI's responses and stream events.
B64_KEYS = ("b64_json", "partial_image_b64")
# Anything longer is not useful to keep in a stored summary.
SUMMARY_STRING_CHARS = 2000

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif", ".bmp")

_MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?(?P<url>(?:https?://|data:image/)[^\s)>]+)")
_BARE_URL = re.compile(r"(?:https?://|data:image/)[^\s<>()\[\]\"'`]+")
_DATA_URI = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^,;]*)*),")
_DATA_URI_IN_TEXT = re.compile(r"data:[\w.+-]+/[\w.+-]+(?:;[^,;\s]*)*,[^\s)\"'<>]*")

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


# --- success bodies ---------------------------------------------------------------------------


def parse_images_response(content: bytes, *, max_image_bytes: int | None = None) -> UpstreamResult:
    """Normalise a 2xx body of /images/generations or /images/edits."""
    body = _load_json_object(content)
    if "data" in body:
        return _parse_data_body(body, max_image_bytes)
    if body.get("object") == "chat.completion" or "choices" in body:
        return _parse_chat_body(body, max_image_bytes)
    if body.get("error"):
        # Some gateways report failures with a 200 status.
        err = error_from_json(body, status=200)
        raise UpstreamError(
            "bad_response",
            f"The upstream answered with an error instead of images: {err.message}",
            code=err.code,
            param=err.param,
            error_type=err.error_type,
        )
    raise UpstreamError("bad_response", f"The answer has no `data` field (keys: {_key_list(body)})")


def _parse_data_body(body: dict[str, Any], max_image_bytes: int | None) -> UpstreamResult:
    data = body["data"]
    if isinstance(data, list):
        if not data:
            raise UpstreamError("bad_response", "The answer contains no images (`data` is [])")
        items, shape = data, "images"
    elif isinstance(data, dict):
        if not data:
            raise UpstreamError("bad_response", "The answer contains no images (`data` is {})")
        items, shape = [data], "images_object"
    else:
        raise UpstreamError(
            "bad_response", f"`data` should be a list of images, got {_json_type(data)}"
        )
    images = [_parse_item(item, number, max_image_bytes) for number, item in enumerate(items, 1)]
    return UpstreamResult(
        images=images,
        usage=_dict_or_none(body.get("usage")),
        created=_int_or_none(body.get("created")),
        echoed={k: body[k] for k in ECHOED_SETTINGS if body.get(k) is not None},
        summary=summarize(body),
        shape=shape,
    )


def _parse_item(item: Any, number: int, max_image_bytes: int | None) -> ResultImage:
    if not isinstance(item, dict):
        raise UpstreamError(
            "bad_response", f"Image {number} should be an object, got {_json_type(item)}"
        )
    revised_prompt = item.get("revised_prompt")
    if not isinstance(revised_prompt, str):
        revised_prompt = None
    b64 = item.get("b64_json")
    if isinstance(b64, str) and b64:
        image = _image_from_b64(b64, f"image {number}", max_image_bytes)
    else:
        url = item.get("url")
        if not isinstance(url, str) or not url.strip():
            raise UpstreamError(
                "bad_response",
                f"Image {number} has neither `url` nor `b64_json` (keys: {_key_list(item)})",
            )
        image = _image_from_url(url.strip(), f"image {number}", max_image_bytes)
    image.revised_prompt = revised_prompt
    return image


def _parse_chat_body(body: dict[str, Any], max_image_bytes: int | None) -> UpstreamResult:
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise UpstreamError("bad_response", "The chat completion has no choices")
    urls: list[str] = []
    texts: list[str] = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            _collect_message(message, urls, texts)
    if not urls:
        text = " ".join(t.strip() for t in texts if t.strip())
        if not text:
            raise UpstreamError("bad_response", "The chat completion has no image and no text")
        raise UpstreamError(
            "bad_response", f"The chat completion has no image link; it says: {quote(text)}"
        )
    images = [
        _image_from_url(url, f"image {number}", max_image_bytes)
        for number, url in enumerate(urls, 1)
    ]
    return UpstreamResult(
        images=images,
        usage=_dict_or_none(body.get("usage")),
        created=_int_or_none(body.get("created")),
        summary=summarize(body),
        shape="chat_completion",
    )


def _collect_message(message: dict[str, Any], urls: list[str], texts: list[str]) -> None:
    content = message.get("content")
    parts = content if isinstance(content, list) else [content]
    # OpenRouter-style image models put generated images beside the text.
    extra = message.get("images")
    if isinstance(extra, list):
        parts = [*parts, *extra]
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
            _add_unique(urls, _urls_in_text(part))
        elif isinstance(part, dict):
            url = _part_image_url(part)
            if url:
                _add_unique(urls, [url])
            elif isinstance(part.get("text"), str):
                texts.append(part["text"])
                _add_unique(urls, _urls_in_text(part["text"]))


def _part_image_url(part: dict[str, Any]) -> str | None:
    ref = part.get("image_url")
    if isinstance(ref, dict):
        ref = ref.get("url")
    return ref.strip() if isinstance(ref, str) and ref.strip() else None


def _urls_in_text(text: str) -> list[str]:
    found = [m.group("url") for m in _MARKDOWN_IMAGE.finditer(text)]
    # Bare links count only when they look like images, so "see https://status.x" is not one.
    for match in _BARE_URL.finditer(text):
        url = match.group(0).rstrip(".,;:!?")
        if url.startswith("data:") or urlsplit(url).path.lower().endswith(IMAGE_EXTENSIONS):
            found.append(url)
    return found


def _add_unique(target: list[str], urls: list[str]) -> None:
    for url in urls:
        if url not in target:
            target.append(url)


def _image_from_url(url: str, what: str, max_image_bytes: int | None) -> ResultImage:
    if url.startswith("data:"):
        data, mime_type = decode_data_uri(url, what, max_image_bytes)
        return ResultImage(data=data, mime_type=mime_type)
    scheme = urlsplit(url).scheme.lower()
    # Relative URLs are resolved by the client, which knows the base URL.
    if scheme not in ("http", "https") and not url.startswith("/"):
        raise UpstreamError("bad_response", f"{what.capitalize()} has an unusable URL: {url[:200]}")
    return ResultImage(url=url)


def _image_from_b64(b64: str, what: str, max_image_bytes: int | None) -> ResultImage:
    # Some gateways put a whole data URI into b64_json.
    if b64.startswith("data:"):
        return _image_from_url(b64, what, max_image_bytes)
    data = decode_b64(b64, what, max_image_bytes)
    return ResultImage(data=data, mime_type=sniff_mime_type(data))


def decode_b64(b64: str, what: str, max_image_bytes: int | None) -> bytes:
    """Decode a base64 image payload, refusing oversize ones before spending memory on them."""
    _check_size(len(b64) * 3 // 4, what, max_image_bytes)
    compact = "".join(b64.split())  # some encoders wrap lines
    compact += "=" * (-len(compact) % 4)
    try:
        # Straight from the str, validating as it decodes: base64.b64decode would first copy
        # the payload to bytes and scan it with a regex (profiled in BENCHMARKS.md).
        data = binascii.a2b_base64(compact, strict_mode=True)
    except (binascii.Error, ValueError):
        raise UpstreamError("bad_response", f"The base64 data of {what} is not valid") from None
    if not data:
        raise UpstreamError("bad_response", f"The base64 data of {what} is empty")
    return data


def decode_data_uri(uri: str, what: str, max_image_bytes: int | None) -> tuple[bytes, str | None]:
    match = _DATA_URI.match(uri)
    if not match:
        raise UpstreamError("bad_response", f"{what.capitalize()} is not a valid data URI")
    payload = uri[match.end() :]
    mime_type = match.group("mime")
    if ";base64" in match.group("params").lower():
        data = decode_b64(payload, what, max_image_bytes)
    else:
        _check_size(len(payload), what, max_image_bytes)
        data = unquote_to_bytes(payload)
    return data, mime_type.lower() if mime_type else sniff_mime_type(data)


def _check_size(size: int, what: str, max_image_bytes: int | None) -> None:
    if max_image_bytes is not None and size > max_image_bytes:
        raise UpstreamError(
            "too_large",
            f"{what.capitalize()} is about {size} bytes, more than the {max_image_bytes} allowed",
        )


def sniff_mime_type(data: bytes) -> str | None:
    for magic, mime_type in _MAGIC:
        if data.startswith(magic):
            return mime_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


# --- summaries --------------------------------------------------------------------------------


def summarize(value: Any, key: str | None = None) -> Any:
    """A copy of a response body that is safe and small to store: no image payloads."""
    if isinstance(value, dict):
        return {k: summarize(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [summarize(v) for v in value]
    if isinstance(value, str):
        return _summarize_string(value, key)
    return value


def _summarize_string(text: str, key: str | None) -> str:
    if key in B64_KEYS and not text.startswith("data:"):
        return f"<{key}: {_b64_size(text)} bytes>"
    text = _DATA_URI_IN_TEXT.sub(_data_uri_placeholder, text)
    if len(text) > SUMMARY_STRING_CHARS:
        return f"{text[:SUMMARY_STRING_CHARS]}… <{len(text)} characters>"
    return text


def _data_uri_placeholder(match: re.Match[str]) -> str:
    uri = match.group(0)
    head, _, payload = uri.partition(",")
    size = _b64_size(payload) if ";base64" in head.lower() else len(payload)
    return f"<{head}: {size} bytes>"


def _b64_size(b64: str) -> int:
    return len(b64) * 3 // 4 - (b64.count("=", -2) if b64.endswith("=") else 0)


# --- models -----------------------------------------------------------------------------------


def parse_models_response(content: bytes) -> list[str]:
    """Sorted unique model ids from `{"data": [{"id": ...}]}` or a bare list."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):  # deep nesting is not an answer
        raise UpstreamError("bad_response", not_json_message(content)) from None
    items = body.get("data") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise UpstreamError(
            "bad_response", "The model list should be a `data` list of {id}, got something else"
        )
    ids = (item.get("id") if isinstance(item, dict) else item for item in items)
    return sorted({i for i in ids if isinstance(i, str) and i})


# --- helpers ----------------------------------------------------------------------------------


def _load_json_object(content: bytes | bytearray) -> dict[str, Any]:
    try:
        text = content.decode(json.detect_encoding(content), "surrogatepass")  # as json.loads does
    except UnicodeDecodeError:
        raise UpstreamError("bad_response", not_json_message(content)) from None
    if isinstance(content, bytearray):
        # The client's read buffer: emptied now that the text exists, so that a large answer
        # (a 4K image is ~30 MB of base64) is not held twice while it is parsed and decoded.
        content.clear()
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):  # deep nesting is not an answer
        raise UpstreamError("bad_response", not_json_message(text)) from None
    if not isinstance(body, dict):
        raise UpstreamError(
            "bad_response", f"The answer should be a JSON object, got {_json_type(body)}"
        )
    return body


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _key_list(value: dict[str, Any]) -> str:
    return ", ".join(sorted(map(str, value))[:20]) or "none"


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
