"""Performs one run: claim → prepare → send → store → finish.

How the request is spelled for the provider's dialect, and how result URLs are fetched, is
`upstream`'s business; this module only moves a run through its lifecycle.
"""

from __future__ import annotations

import logging
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from playground.jobs import params
from playground.jobs.heartbeat import WORKER_ID, heartbeat
from playground.jobs.models import Image, Run, RunInput
from playground.providers.crypto import KeyDecryptionError
from playground.providers.models import ApiKey, KeyRefused, Provider, choose_key
from playground.upstream.client import UpstreamClient
from playground.upstream.errors import UpstreamError
from playground.upstream.fetch import FetchPolicy
from playground.upstream.prepare import (
    InputImage,
    Prepared,
    Target,
    prepare_edit,
    prepare_generation,
    result_image,
)
from playground.upstream.types import UpstreamResult

logger = logging.getLogger(__name__)


def execute_run(run_id: UUID | str) -> None:
    if not Run.objects.claim(run_id, WORKER_ID):
        return  # someone else has it, or it already ended: never send twice
    heartbeat.hold(run_id)
    secrets: list[str] = []
    try:
        run = Run.objects.select_related("provider", "api_key", "owner").get(pk=run_id)
        provider, key = _provider_and_key(run)
        secret = key.reveal() if key is not None else None
        if secret:
            secrets.append(secret)
        target = Target(provider.base_url, provider.dialect, is_local=provider.is_local)
        policy = target.fetch_policy(
            max_bytes=settings.MAX_IMAGE_BYTES,
            timeout=settings.FETCH_TIMEOUT_SECONDS,
            max_pixels=settings.MAX_IMAGE_PIXELS,
        )
        prepared = _prepare(run, target, policy)
        result = _send(run, provider, key, secret, prepared)
        _store(run, result, policy)
        _finish(run, result)
    except UpstreamError as exc:
        error = exc.redacted(secrets)
        _fail(run_id, error.kind, error.message, error.status)
    except KeyRefused as exc:
        _fail(run_id, "auth" if exc.code != "unavailable" else "bad_request", exc.message)
    except KeyDecryptionError as exc:
        _fail(run_id, "auth", f"The stored API key cannot be used: {exc}.", None)
    except Exception:
        logger.exception("run %s failed unexpectedly", run_id)
        _fail(run_id, "internal", "The playground failed while handling this run; see server logs.")
    finally:
        heartbeat.release(run_id)


def _provider_and_key(run: Run) -> tuple[Provider, ApiKey | None]:
    """The provider, and the run's key if its owner may still send with it."""
    provider = run.provider
    if (
        provider is not None
        and provider.enabled
        and not provider.requires_key
        and run.api_key_id is None
    ):
        return provider, None  # a keyless gateway (the Demo): nothing to choose
    key = choose_key(run.owner, provider, run.api_key_id)
    assert provider is not None  # choose_key refused a missing provider
    return provider, key


def _prepare(run: Run, target: Target, policy: FetchPolicy) -> Prepared:
    sent = params.upstream(run)
    if run.kind != Run.Kind.EDIT:
        return prepare_generation(target, sent)
    references = [
        _input_image(item, f"Reference {n}") for n, item in enumerate(run.reference_inputs, 1)
    ]
    mask = run.mask_input
    return prepare_edit(
        target, sent, references, _input_image(mask, "The mask") if mask else None, policy
    )


def _input_image(item: RunInput, label: str) -> InputImage:
    if item.is_stored:
        return InputImage(label, data=item.read(), format=item.format)
    return InputImage(label, url=item.url)


def _send(
    run: Run, provider: Provider, key: ApiKey | None, secret: str | None, prepared: Prepared
) -> UpstreamResult:
    run.request = prepared.record
    run.upstream_started_at = timezone.now()
    run.save(update_fields=["request", "upstream_started_at"])
    if key is not None:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    with UpstreamClient(
        provider.base_url,
        secret,
        timeout=provider.timeout,
        max_image_bytes=settings.MAX_IMAGE_BYTES,
    ) as client:
        try:
            return prepared.send(client)
        finally:
            run.upstream_finished_at = timezone.now()
            Run.objects.filter(pk=run.pk).update(upstream_finished_at=run.upstream_finished_at)


def _store(run: Run, result: UpstreamResult, policy: FetchPolicy) -> None:
    for index, item in enumerate(result.images):
        image = result_image(item, policy)
        Image.store(
            run,
            index,
            image.data,
            image_format=image.format,
            width=image.width,
            height=image.height,
            revised_prompt=item.revised_prompt or "",
            source_url=item.url or "" if item.data is None else "",
        )


def _finish(run: Run, result: UpstreamResult) -> None:
    run.finish(
        WORKER_ID,
        status=Run.Status.SUCCEEDED,
        usage=result.usage,
        response_summary={"shape": result.shape, "body": result.summary},
        error_kind="",
        error_message="",
    )


def _fail(run_id: UUID | str, kind: str, message: str, status: int | None = None) -> None:
    Run(pk=run_id).finish(
        WORKER_ID,
        status=Run.Status.FAILED,
        error_kind=kind,
        error_message=message,
        error_status=status,
    )
