"""How a provider wants a request: the body or form for its dialect, and the record of it.

The runner hands over plain data (where the provider is, its dialect, the parameters, the input
images) and gets back a `Prepared` call: what to store as "the request as sent" and the function
that sends it. Every dialect decision lives here: JSON or multipart edits, the mask as a string
or an object, which URLs are downloaded first and under which fetch policy, and how data URLs
are left out of the record.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from playground import imaging
from playground.upstream.client import UpstreamClient
from playground.upstream.errors import UpstreamError
from playground.upstream.fetch import FetchedImage, FetchPolicy, fetch_image, verify_image
from playground.upstream.requests import (
    Dialect,
    FileField,
    build_edit_json_body,
    build_edit_multipart,
    build_generation_body,
    endpoint_url,
)
from playground.upstream.types import ResultImage, UpstreamResult

Sender = Callable[[UpstreamClient], UpstreamResult]


@dataclass(frozen=True)
class Target:
    """Where a call goes and how that provider speaks."""

    base_url: str
    dialect: Dialect = field(default_factory=Dialect)
    # Runs on this machine (the offline Demo): URLs on its own host:port may be fetched.
    is_local: bool = False

    def url(self, path: str) -> str:
        return endpoint_url(self.base_url, path)

    @property
    def wants_mask_object(self) -> bool:
        """OpenAI's own JSON edit takes `mask` as {"image_url"}; the relays document a string.

        Only OpenAI's API itself gets the object: relays (routescope and the gateways copying it)
        get what they document. A relay that forwards bodies to OpenAI untouched should be set to
        the multipart edit mode instead.
        """
        host = urlsplit(self.base_url).hostname or ""
        return self.dialect.edit_mode == "json_images" and host == "api.openai.com"

    def fetch_policy(self, *, max_bytes: int, timeout: float, max_pixels: int) -> FetchPolicy:
        local: frozenset[tuple[str, int]] = frozenset()
        if self.is_local:
            parts = urlsplit(self.base_url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            local = frozenset({(parts.hostname or "", port)})
        return FetchPolicy(
            max_bytes=max_bytes, timeout=timeout, max_pixels=max_pixels, local_origins=local
        )


@dataclass(frozen=True)
class InputImage:
    """A reference image or mask of an edit: verified bytes we hold, or a URL as given."""

    label: str  # "Reference 1", "The mask": how messages name it
    url: str = ""
    data: bytes | None = None
    format: str = ""

    def data_url(self) -> str:
        payload = base64.b64encode(self.data or b"").decode("ascii")
        return f"data:{imaging.content_type(self.format)};base64,{payload}"

    def as_reference(self) -> str:
        """How a JSON edit refers to it: a data URL for bytes, the URL as given otherwise."""
        return self.data_url() if self.data is not None else self.url


@dataclass(frozen=True)
class Prepared:
    record: dict[str, Any]  # the request as sent, fit to store: no key, no image bytes
    send: Sender


def prepare_generation(target: Target, params: Mapping[str, Any]) -> Prepared:
    body = build_generation_body(params, target.dialect)
    record = {"method": "POST", "url": target.url("images/generations"), "body": body}
    return Prepared(record, lambda client: client.generate(body))


def prepare_edit(
    target: Target,
    params: Mapping[str, Any],
    references: list[InputImage],
    mask: InputImage | None,
    policy: FetchPolicy,
) -> Prepared:
    """The edit as this provider takes it; URLs are downloaded first for multipart providers."""
    url = target.url("images/edits")
    if target.dialect.edit_mode == "multipart":
        # Everything travels as a file: URLs are downloaded here, through the guarded fetcher.
        files = [_as_file(ref, f"image-{n}", policy) for n, ref in enumerate(references, 1)]
        mask_file = _as_file(mask, "mask", policy) if mask else None
        if mask_file and files:
            _check_mask_size(files[0], mask_file, policy)
        data, parts = build_edit_multipart(params, files, mask_file, dialect=target.dialect)
        record = {
            "method": "POST",
            "url": url,
            "content_type": "multipart/form-data",
            "fields": data,
            "files": [
                {"field": name, "filename": f[0], "content_type": f[2], "bytes": len(f[1])}
                for name, f in parts
            ],
        }
        return Prepared(record, lambda client: client.edit_multipart(data, parts))
    # JSON: our images as data URLs, URLs as given (the gateway fetches them itself).
    body = build_edit_json_body(
        params,
        [ref.as_reference() for ref in references],
        mask.as_reference() if mask else None,
        target.dialect,
        mask_as_object=target.wants_mask_object,
    )
    record = {"method": "POST", "url": url, "body": elide_data_urls(body)}
    return Prepared(record, lambda client: client.edit_json(body))


def result_image(item: ResultImage, policy: FetchPolicy) -> FetchedImage:
    """A result image's verified bytes: decoded base64 checked, a URL downloaded and checked."""
    if item.data is not None:
        image_format, width, height = verify_image(
            item.data, max_pixels=policy.max_pixels, allowed_formats=policy.allowed_formats
        )
        return FetchedImage(item.data, image_format, width, height, item.mime_type, "")
    if not item.url:
        raise UpstreamError("bad_response", "an image of the answer has neither data nor a URL")
    return fetch_image(item.url, policy)


def _as_file(item: InputImage, stem: str, policy: FetchPolicy) -> FileField:
    if item.data is not None:
        return (
            f"{stem}.{imaging.extension(item.format)}",
            item.data,
            imaging.content_type(item.format),
        )
    try:
        fetched = fetch_image(item.url, policy)
    except UpstreamError as exc:
        raise UpstreamError(
            exc.kind, f"{item.label} could not be downloaded from {item.url}: {exc.message}"
        ) from None
    return (
        f"{stem}.{imaging.extension(fetched.format)}",
        fetched.data,
        imaging.CONTENT_TYPES.get(fetched.format, ""),
    )


def _check_mask_size(first: FileField, mask: FileField, policy: FetchPolicy) -> None:
    """Known only now for URL inputs: refuse before a call the upstream would refuse anyway."""
    sizes = []
    for _, data, _ in (first, mask):
        _, width, height = verify_image(
            data, max_pixels=policy.max_pixels, allowed_formats=imaging.ACCEPTED_FORMATS
        )
        sizes.append((width, height))
    problem = imaging.mask_size_problem(sizes[1], sizes[0], sep="x")
    if problem:
        raise UpstreamError("bad_request", problem)


def elide_data_urls(value: Any) -> Any:
    """A request body fit for the run record: data URLs replaced by their type and size."""
    if isinstance(value, str) and value.startswith("data:") and "," in value:
        head, payload = value.split(",", 1)
        return f"{head},<{len(payload) * 3 // 4} bytes>"
    if isinstance(value, dict):
        return {key: elide_data_urls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [elide_data_urls(item) for item in value]
    return value
