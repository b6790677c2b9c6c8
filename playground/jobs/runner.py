"""Performs one run: claim it, call the upstream, store the images, record the outcome."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from playground.gallery.models import Image
from playground.jobs.heartbeat import WORKER_ID, heartbeat
from playground.jobs.models import Run
from playground.providers.crypto import KeyDecryptionError
from playground.upstream.client import UpstreamClient
from playground.upstream.errors import UpstreamError
from playground.upstream.fetch import FetchPolicy, fetch_image, verify_image
from playground.upstream.requests import build_generation_body, endpoint_url
from playground.upstream.types import UpstreamResult

logger = logging.getLogger(__name__)

# Keys of Run.params that are ours, not the upstream's.
LOCAL_PARAMS = {"provider", "api_key", "custom_size"}


def upstream_params(params: dict) -> dict:
    return {k: v for k, v in params.items() if k not in LOCAL_PARAMS}


def fetch_policy(provider) -> FetchPolicy:
    local = frozenset()
    if provider.is_local:
        from urllib.parse import urlsplit

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
    body = build_generation_body(upstream_params(run.params), provider.dialect)
    run.request = {
        "method": "POST",
        "url": endpoint_url(provider.base_url, "images/generations"),
        "body": body,
    }
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
            result = client.generate(body)
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
