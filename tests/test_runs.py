from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image as PILImage

from playground.jobs.heartbeat import WORKER_ID
from playground.jobs.models import Run
from playground.jobs.runner import execute_run
from tests.conftest import CANARY_KEY


def make_run(owner, key, **params) -> Run:
    params = {"n": 1, **params}
    return Run.objects.create(
        owner=owner,
        provider=key.provider,
        provider_name=key.provider.name,
        api_key=key,
        model=params.pop("model", "gpt-image-1"),
        prompt=params.pop("prompt", "a lighthouse"),
        params={"provider": key.provider_id, **params},
    )


def test_it_stores_b64_images_with_thumbnails(owner, owner_key, fake):
    run = make_run(owner, owner_key, n=2, size="1024x1536", output_format="webp")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error_message
    images = list(run.images.all())
    assert [(i.width, i.height, i.format) for i in images] == [(1024, 1536, "WEBP")] * 2
    assert images[0].sha256 != images[1].sha256
    with images[0].thumbnail.open("rb") as fh, PILImage.open(fh) as thumb:
        assert thumb.format == "WEBP" and max(thumb.size) == 512
    assert run.usage["total_tokens"] > 0
    assert run.request["body"] == {
        "model": "gpt-image-1",
        "prompt": "a lighthouse",
        "n": 2,
        "size": "1024x1536",
        "output_format": "webp",
    }
    assert run.request["url"].endswith("/v1/images/generations")
    assert run.upstream_ms is not None and run.saving_ms is not None
    assert "b64_json" not in str(run.response_summary) or "bytes>" in str(run.response_summary)


def test_it_downloads_url_results_at_once(owner, owner_key, fake):
    run = make_run(owner, owner_key, model="dall-e-3", size="1792x1024", response_format="url")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error_message
    image = run.images.get()
    assert (image.width, image.height, image.format) == (1792, 1024, "PNG")
    assert image.source_url.startswith(fake.url)
    assert image.revised_prompt


@pytest.mark.parametrize("dialect", ["routescope", "quickrouter", "routmy", "applerouter"])
def test_it_normalises_every_gateway_dialect(owner, owner_key, fake, dialect):
    provider = owner_key.provider
    provider.base_url = fake.base_url(dialect)
    provider.output_format_field = "format" if dialect == "quickrouter" else "output_format"
    provider.save()
    owner_key.set_secret(CANARY_KEY)  # re-entered for the new address
    owner_key.save()
    run = make_run(owner, owner_key, model="gpt-image-2", n=1, size="1024x1024")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error_message
    assert run.images.count() == 1


def test_it_fails_with_the_upstreams_words(owner, owner_key, fake, retry_waits):
    run = make_run(owner, owner_key, prompt="[fake:status=429] busy")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error_kind == "rate_limited" and run.error_status == 429
    assert run.error_message and "after 3 attempts" in run.error_message
    assert retry_waits == [7.0, 7.0]  # the fake's Retry-After: 7, asked for, not waited out


def test_it_never_stores_a_key_the_upstream_echoes(owner, owner_key, fake, caplog):
    caplog.set_level(logging.DEBUG)
    run = make_run(owner, owner_key, prompt="[fake:echo_key] leak")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and run.error_kind == "auth"
    row = str(Run.objects.filter(pk=run.pk).values().get())
    for fragment in (CANARY_KEY, CANARY_KEY[:12], CANARY_KEY[-12:]):
        assert fragment not in row
        assert fragment not in caplog.text


def test_it_refuses_a_result_url_that_points_inside(owner, owner_key, fake):
    provider = owner_key.provider
    provider.is_local = False  # only a local provider may hand out local URLs
    provider.save()
    run = make_run(owner, owner_key, model="dall-e-2", response_format="url")
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and run.error_kind == "blocked"


def test_it_sends_a_run_only_once(owner, owner_key, fake):
    run = make_run(owner, owner_key)
    execute_run(run.pk)
    execute_run(run.pk)
    posts = [r for r in fake.app.requests if r["path"].endswith("/images/generations")]
    assert len(posts) == 1


def test_it_interrupts_runs_nobody_works_on(owner, owner_key):
    run = make_run(owner, owner_key)
    assert Run.objects.claim(run.pk, "dead-worker")
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    fresh = make_run(owner, owner_key)
    Run.objects.claim(fresh.pk, WORKER_ID)
    assert Run.objects.sweep_stale() == 1
    run.refresh_from_db()
    fresh.refresh_from_db()
    assert run.status == "interrupted" and "not sent again" in run.error_message
    assert fresh.status == "running"
