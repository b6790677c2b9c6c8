"""Performs one run: claim it, call the upstream, store the images, record the outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from playground.gallery.models import Image
from playground.jobs.heartbeat import WORKER_ID, heartbeat
from playground.jobs.models import INPUT_CONTENT_TYPES, INPUT_EXTENSIONS, Run, RunInput
from playground.providers.crypto import KeyDecryptionError
from playground.upstream.client import UpstreamClient
from playground.upstream.errors import UpstreamError
from playground.upstream.fetch import FetchPolicy, fetch_image, verify_image
from playground.upstream.requests import (
    build_edit_json_body,
    build_edit_multipart,
    build_generation_body,
    endpoint_url,
)
from playground.upstream.types import UpstreamResult

logger = logging.getLogger(__name__)

# Keys of Run.params that are ours, not the upstream's.
LOCAL_PARAMS = {"provider", "api_key", "custom_size"}


def upstream_params(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in LOCAL_PARAMS}


def fetch_policy(provider) -> FetchPolicy:
    local = frozenset()
    if provider.is_local:
        parts = urlsplit(provider.base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        local = frozenset({(parts.hostname, port)})
    return FetchPolicy(
        max_bytes=settings.MAX_IMAGE_BYTES,
        timeout=settings.FETCH_TIMEOUT_SECONDS,
        max_pixels=settings.MAX_IMAGE_PIXELS,
        local_origins=local,
    )


def execute_run(run_id) -> None:
    if not Run.objects.claim(run_id, WORKER_ID):
        return  # someone else has it, or it already ended: never send twice
    heartbeat.hold(run_id)
    secrets: list[str] = []
    try:
        run = Run.objects.select_related("provider", "api_key").get(pk=run_id)
        secret = _secret_for(run)
        if secret:
            secrets.append(secret)
        _perform(run, secret)
    except UpstreamError as exc:
        error = exc.redacted(secrets)
        _fail(run_id, error.kind, error.message, error.status)
    except KeyDecryptionError as exc:
        _fail(run_id, "auth", f"The stored API key cannot be used: {exc}.", None)
    except Exception:
        logger.exception("run %s failed unexpectedly", run_id)
        _fail(run_id, "internal", "The playground failed while handling this run; see server logs.")
    finally:
        heartbeat.release(run_id)


def _secret_for(run: Run) -> str | None:
    provider = run.provider
    if provider is None or not provider.enabled:
        raise UpstreamError("bad_request", "This provider is no longer available.")
    if run.api_key is not None:
        return run.api_key.reveal()
    if provider.requires_key:
        raise UpstreamError("auth", f"You have no API key for {provider.name}; add one on Keys.")
    return None


def _perform(run: Run, secret: str | None) -> None:
    provider = run.provider
    if run.kind == Run.Kind.EDIT:
        run.request, send = _edit_request(run, provider)
    else:
        body = build_generation_body(upstream_params(run.params), provider.dialect)
        run.request = {
            "method": "POST",
            "url": endpoint_url(provider.base_url, "images/generations"),
            "body": body,
        }

        def send(client: UpstreamClient) -> UpstreamResult:
            return client.generate(body)

    run.upstream_started_at = timezone.now()
    run.save(update_fields=["request", "upstream_started_at"])
    if run.api_key is not None:
        type(run.api_key).objects.filter(pk=run.api_key.pk).update(last_used_at=timezone.now())

    with UpstreamClient(
        provider.base_url,
        secret,
        timeout=provider.timeout,
        max_image_bytes=settings.MAX_IMAGE_BYTES,
    ) as client:
        try:
            result = send(client)
        finally:
            Run.objects.filter(pk=run.pk).update(upstream_finished_at=timezone.now())
    run.upstream_finished_at = timezone.now()
    _store_images(run, result, provider)
    run.finish(
        WORKER_ID,
        status=Run.Status.SUCCEEDED,
        usage=result.usage,
        response_summary={"shape": result.shape, "body": result.summary},
        error_kind="",
        error_message="",
    )


Sender = Callable[[UpstreamClient], UpstreamResult]
FileField = tuple[str, bytes, str]


def _edit_request(run: Run, provider) -> tuple[dict, Sender]:
    """The edit as this provider takes it, and the record of it (image bytes left out)."""
    inputs = list(run.inputs.all())
    references = sorted((i for i in inputs if i.role == RunInput.Role.REFERENCE),
                        key=lambda i: i.position)  # fmt: skip
    mask = next((i for i in inputs if i.role == RunInput.Role.MASK), None)
    params = upstream_params(run.params)
    dialect = provider.dialect
    url = endpoint_url(provider.base_url, "images/edits")
    if dialect.edit_mode == "multipart":
        # Everything travels as a file: URLs are downloaded here, through the guarded fetcher.
        policy = fetch_policy(provider)
        files = [
            _as_file(ref, f"image-{n}", policy, f"Reference {n}")
            for n, ref in enumerate(references, 1)
        ]
        mask_file = _as_file(mask, "mask", policy, "The mask") if mask else None
        if mask_file and files:
            _check_mask_size(files[0], mask_file)
        data, parts = build_edit_multipart(params, files, mask_file, dialect=dialect)
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
        return record, lambda client: client.edit_multipart(data, parts)
    # JSON: stored images as data URLs, URLs as given (the gateway fetches them itself).
    images = [ref.data_url() if ref.is_stored else ref.url for ref in references]
    mask_ref = (mask.data_url() if mask.is_stored else mask.url) if mask else None
    body = build_edit_json_body(
        params, images, mask_ref, dialect, mask_as_object=wants_mask_object(provider)
    )
    record = {"method": "POST", "url": url, "body": elide_data_urls(body)}
    return record, lambda client: client.edit_json(body)


def wants_mask_object(provider) -> bool:
    """OpenAI's own JSON edit takes `mask` as {"image_url"}; the relays document a URL string.

    Only OpenAI's API itself gets the object: relays (routescope and the gateways copying it)
    get what they document. A relay that forwards bodies to OpenAI untouched should be set to
    the multipart edit mode instead.
    """
    host = urlsplit(provider.base_url).hostname or ""
    return provider.dialect.edit_mode == "json_images" and host == "api.openai.com"


def _as_file(item: RunInput, stem: str, policy: FetchPolicy, label: str) -> FileField:
    if item.is_stored:
        return (f"{stem}.{item.extension}", item.read(), item.content_type)
    try:
        fetched = fetch_image(item.url, policy)
    except UpstreamError as exc:
        raise UpstreamError(
            exc.kind, f"{label} could not be downloaded from {item.url}: {exc.message}"
        ) from None
    ext = INPUT_EXTENSIONS.get(fetched.format, "bin")
    return (f"{stem}.{ext}", fetched.data, INPUT_CONTENT_TYPES.get(fetched.format, ""))


def _check_mask_size(first: FileField, mask: FileField) -> None:
    """Known only now for URL inputs: refuse before a call the upstream would refuse anyway."""
    sizes = []
    for _, data, _ in (first, mask):
        _, width, height = verify_image(
            data, max_pixels=settings.MAX_IMAGE_PIXELS,
            allowed_formats=frozenset(INPUT_CONTENT_TYPES),
        )  # fmt: skip
        sizes.append((width, height))
    if sizes[0] != sizes[1]:
        (iw, ih), (mw, mh) = sizes
        raise UpstreamError(
            "bad_request",
            f"The mask is {mw}x{mh} pixels but the first reference is {iw}x{ih}; "
            "a mask must have the same size as the image it applies to.",
        )


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


def _store_images(run: Run, result: UpstreamResult, provider) -> None:
    policy = fetch_policy(provider)
    for index, item in enumerate(result.images):
        if item.data is not None:
            image_format, width, height = verify_image(
                item.data, max_pixels=policy.max_pixels, allowed_formats=policy.allowed_formats
            )
            data, source = item.data, ""
        else:
            fetched = fetch_image(item.url, policy)
            data, source = fetched.data, item.url
            image_format, width, height = fetched.format, fetched.width, fetched.height
        Image.store(
            run,
            index,
            data,
            image_format=image_format,
            width=width,
            height=height,
            revised_prompt=item.revised_prompt or "",
            source_url=source,
        )


def _fail(run_id, kind: str, message: str, status: int | None = None) -> None:
    run = Run(pk=run_id)
    run.finish(
        WORKER_ID,
        status=Run.Status.FAILED,
        error_kind=kind,
        error_message=message,
        error_status=status,
    )
