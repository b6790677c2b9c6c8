"""Request bodies for the images endpoints, per gateway dialect.

Everything here is pure: the caller decides what to send, these functions only spell it the way
the provider understands. Only values the user actually set go out, so each gateway applies its
own defaults instead of ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

EDIT_MODES = ("json_images", "json_image", "json_image_urls", "multipart")


@dataclass(frozen=True)
class Dialect:
    # "format" for gateways (quickrouter) that renamed OpenAI's output_format.
    output_format_field: str = "output_format"
    # Provider understands image_config {aspect_ratio, image_size} (routmy).
    image_config: bool = False
    # How edits carry their input images: one of EDIT_MODES.
    edit_mode: str = "json_images"

    def __post_init__(self) -> None:
        if self.edit_mode not in EDIT_MODES:
            raise ValueError(f"unknown edit mode {self.edit_mode!r}; expected one of {EDIT_MODES}")
        if not self.output_format_field:
            raise ValueError("output_format_field must not be empty")


GENERATION_PARAMS = (
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "style",
    "response_format",
    "background",
    "moderation",
    "output_format",
    "output_compression",
    "user",
    "aspect_ratio",
    "image_size",
    "stream",
    "partial_images",
)
EDIT_PARAMS = (*GENERATION_PARAMS, "input_fidelity", "watermark")

# Not top-level fields anywhere: they travel inside `image_config`.
IMAGE_CONFIG_PARAMS = ("aspect_ratio", "image_size")


def normalize_base_url(url: str) -> str:
    """The canonical `scheme://host[:port][/prefix]/v1` form of a provider's base URL.

    People paste base URLs with and without `/v1` and trailing slashes; storing one form keeps
    endpoint URLs and key bindings (a key belongs to one base URL) unambiguous.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"base URL must start with http:// or https://, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"base URL has no host: {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base URL must not have a query or fragment: {url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def endpoint_url(base_url: str, path: str) -> str:
    return f"{normalize_base_url(base_url)}/{path.lstrip('/')}"


def build_generation_body(params: Mapping[str, Any], dialect: Dialect) -> dict[str, Any]:
    """JSON body for POST /images/generations."""
    return _json_fields(params, GENERATION_PARAMS, dialect)


def build_edit_json_body(
    params: Mapping[str, Any],
    images: list[str],
    mask: str | None,
    dialect: Dialect,
    *,
    mask_as_object: bool = False,
) -> dict[str, Any]:
    """JSON body for POST /images/edits with input images given as URLs or data URLs.

    The relays document `mask` as a URL string; OpenAI's own JSON body (EditImageBodyJsonParam)
    wants an image reference object `{"image_url": ...}`, which `mask_as_object` selects.
    """
    if not images:
        raise ValueError("an edit needs at least one input image")
    body = _json_fields(params, EDIT_PARAMS, dialect)
    if dialect.edit_mode == "json_images":
        body["images"] = [{"image_url": url} for url in images]
    elif dialect.edit_mode == "json_image":
        body["image"] = images[0] if len(images) == 1 else list(images)
    elif dialect.edit_mode == "json_image_urls":
        body["image_urls"] = list(images)
    else:
        raise ValueError(f"edit mode {dialect.edit_mode!r} is not a JSON mode")
    if mask:
        body["mask"] = {"image_url": mask} if mask_as_object else mask
    return body


FileField = tuple[str, bytes, str]  # (filename, content, content type)


def build_edit_multipart(
    params: Mapping[str, Any],
    images: list[FileField],
    mask: FileField | None,
    *,
    dialect: Dialect | None = None,
) -> tuple[dict[str, str], list[tuple[str, FileField]]]:
    """Form fields and files for a multipart POST /images/edits (OpenAI's own form).

    Returns `(data, files)` ready for httpx's `data=` and `files=`.
    """
    if not images:
        raise ValueError("an edit needs at least one input image")
    fields = _set_values(params, EDIT_PARAMS)
    nested = [name for name in IMAGE_CONFIG_PARAMS if name in fields]
    if nested:
        # A nested object has no agreed multipart spelling; better to fail than to guess.
        raise ValueError(f"{', '.join(nested)} cannot be sent in a multipart edit")
    output_format_field = (dialect or Dialect()).output_format_field
    data = {_rename(name, output_format_field): _form_value(v) for name, v in fields.items()}
    files: list[tuple[str, FileField]] = [("image[]", image) for image in images]
    if mask is not None:
        files.append(("mask", mask))
    return data, files


def _json_fields(
    params: Mapping[str, Any], allowed: tuple[str, ...], dialect: Dialect
) -> dict[str, Any]:
    fields = _set_values(params, allowed)
    config = {name: fields.pop(name) for name in IMAGE_CONFIG_PARAMS if name in fields}
    body = {_rename(name, dialect.output_format_field): value for name, value in fields.items()}
    if config:
        if not dialect.image_config:
            raise ValueError(f"{', '.join(config)} need a provider that supports image_config")
        body["image_config"] = config
    return body


def _set_values(params: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"unknown image parameters: {', '.join(unknown)}")
    # Unset means "let the provider decide", so it must not reach the wire at all.
    return {name: value for name, value in params.items() if value is not None and value != ""}


def _rename(name: str, output_format_field: str) -> str:
    return output_format_field if name == "output_format" else name


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
