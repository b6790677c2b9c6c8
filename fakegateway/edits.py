"""Where an edit's images come from: JSON references or multipart uploads.

Both forms end in one `edit` record (which field carried the images, how many, their sizes, the
mask), kept on the recorded request so tests can assert what a client really sent.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import re
from email.message import MIMEPart
from typing import Any

from . import images
from .validation import invalid

JSON_IMAGE_FIELDS = ("images", "image", "image_urls")
MULTIPART_INTS = ("n", "output_compression", "partial_images")
IMAGE_PART = re.compile(r"^image(\[\d*\])?$")

Ref = str | dict[str, str]


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


def parse_json_edit(body: dict[str, Any]) -> dict[str, Any]:
    """The edit record of a JSON edit: which field carried the images, how many, their sizes."""
    field_name, refs = None, []
    for name in JSON_IMAGE_FIELDS:
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
    others = {k: v for k, v in body.items() if k not in (*JSON_IMAGE_FIELDS, "mask")}
    return _edit_record("json", field_name, loaded, mask_info, shorten(others))


def _refs(name: str, value: Any) -> list[Ref]:
    """Image references as URL strings (or {"file_id": ...}) from any accepted JSON form."""
    items = value if isinstance(value, list) else [value]
    if name == "images" and not isinstance(value, list):
        raise invalid(
            "images", "Invalid type for 'images': expected an array of objects.", "invalid_type"
        )
    refs: list[Ref] = []
    for index, item in enumerate(items):
        ref = _ref(item)
        if ref is None:
            raise invalid(
                f"{name}[{index}]", f"Invalid image reference in '{name}'.", "invalid_type"
            )
        refs.append(ref)
    return refs


def _ref(item: Any) -> Ref | None:
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


def _load_ref(ref: Ref, param: str, index: int) -> dict[str, Any]:
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
    loaded: list[dict[str, Any]] = []
    mask_info: dict[str, Any] | None = None
    field_name: str | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        name = email.utils.collapse_rfc2231_value(name)
        payload = part.get_payload(decode=True) or b""
        assert isinstance(payload, bytes)  # decoded content; None (so b"") for a multipart part
        if name == "mask":
            mask_info = _image_part(part, payload, "mask", 0)
        elif IMAGE_PART.match(name):
            loaded.append(_image_part(part, payload, "image", len(loaded)))
            field_name = field_name or name
        else:
            fields[name] = _form_value(name, payload.decode("utf-8", "replace"))
    return fields, _edit_record("multipart", field_name, loaded, mask_info, dict(fields))


def _image_part(part: MIMEPart, payload: bytes, param: str, index: int) -> dict[str, Any]:
    # A form field without a filename or content type is text: an image URL.
    if part.get_filename() is None and part.get_content_type() == "text/plain":
        return _load_ref(payload.decode("utf-8", "replace").strip(), param, index)
    entry = {"source": "file", "filename": part.get_filename(), "bytes": len(payload)}
    entry["content_type"] = part.get_content_type()
    entry.update(_readable(payload, param, index))
    return entry


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
