"""The upstream fault matrix, over real HTTP against the fake gateway, through the real runner.

Each case ends in a clear state with a readable message: never a traceback, never a stuck run.
"""

from __future__ import annotations

import socket
import time

import pytest

from playground.jobs.models import Run
from playground.jobs.runner import execute_run
from tests.conftest import CANARY_KEY

FAILURES = [
    # (prompt directives, error kind, words the message must contain)
    ("[fake:status=401]", "auth", ""),
    ("[fake:status=403]", "forbidden", ""),
    ("[fake:status=404]", "not_found", ""),
    ("[fake:status=429] [fake:retry_after=3600]", "rate_limited", ""),
    ("[fake:html_error=500]", "upstream_error", "HTML"),
    ("[fake:status=502]", "upstream_error", ""),
    ("[fake:status=503]", "upstream_error", ""),
    ("[fake:status=504]", "timeout", ""),
    ("[fake:html_error=502]", "upstream_error", "HTML"),
    ("[fake:malformed_json]", "bad_response", ""),
    ("[fake:truncated]", "bad_response", "cut off"),
    ("[fake:html_200]", "bad_response", ""),
    ("[fake:data_empty]", "bad_response", ""),
    ("[fake:data_missing]", "bad_response", ""),
    ("[fake:no_image_fields]", "bad_response", ""),
    ("[fake:url_expired]", "not_found", "expired"),
    ("[fake:url_redirect_private]", "blocked", ""),
]


def make_run(owner, key, prompt: str, **params) -> Run:
    params = {"n": 1, **params}
    return Run.objects.create(
        owner=owner,
        provider=key.provider,
        provider_name=key.provider.name,
        api_key=key,
        model=params.pop("model", "gpt-image-1"),
        prompt=prompt,
        params={"provider": key.provider_id, **params},
    )


def run_to_end(owner, key, prompt: str, **params) -> Run:
    run = make_run(owner, key, prompt, **params)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.is_finished
    return run


def generation_posts(fake) -> list[dict]:
    return [r for r in fake.app.requests if r["endpoint"] == "generations"]


@pytest.mark.parametrize(("directives", "kind", "words"), FAILURES)
def test_it_ends_failed_with_a_readable_reason(owner, owner_key, fake, directives, kind, words):
    run = run_to_end(owner, owner_key, f"{directives} a cat", response_format=None)
    assert run.status == "failed"
    assert run.error_kind == kind, run.error_message
    assert run.error_message and "Traceback" not in run.error_message
    assert words in run.error_message
    assert CANARY_KEY[-8:] not in run.error_message
    assert len(generation_posts(fake)) == 1  # a paid call is never retried


@pytest.mark.parametrize(
    "directives", ["[fake:data_object]", "[fake:chat_markdown]", "[fake:chat_data_uri]"]
)
def test_it_accepts_every_valid_answer_shape(owner, owner_key, fake, directives):
    run = run_to_end(owner, owner_key, f"{directives} a dog")
    assert run.status == "succeeded", run.error_message
    assert run.images.count() == 1


def test_it_retries_a_429_that_says_when_and_then_stops(owner, owner_key, fake, retry_waits):
    run = run_to_end(owner, owner_key, "[fake:status=429] [fake:retry_after=1] busy")
    assert run.status == "failed" and run.error_kind == "rate_limited"
    assert "after 3 attempts" in run.error_message
    assert len(generation_posts(fake)) == 3
    assert retry_waits == [1.0, 1.0]


def test_it_retries_a_429_given_as_an_http_date(owner, owner_key, fake, retry_waits):
    run = run_to_end(owner, owner_key, "[fake:status=429] [fake:retry_after_date] busy")
    assert run.error_kind == "rate_limited"
    # Each answer names a time 7 s ahead (to the second): two waits of 6-7 s fit the budget.
    assert len(retry_waits) == 2 and all(4 < wait <= 7 for wait in retry_waits), retry_waits
    assert len(generation_posts(fake)) == 3


def test_it_honours_the_providers_read_timeout(owner, owner_key, fake):
    provider = owner_key.provider
    provider.timeout = 1
    provider.save()
    started = time.monotonic()
    run = run_to_end(owner, owner_key, "[fake:hang] forever")
    elapsed = time.monotonic() - started
    assert run.error_kind == "timeout"
    assert elapsed < provider.timeout + 1, elapsed
    assert len(generation_posts(fake)) == 1


def test_it_reports_a_refused_connection_after_bounded_retries(owner, owner_key, retry_waits):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nobody listens here
    provider = owner_key.provider
    provider.base_url = f"http://127.0.0.1:{port}/v1"
    provider.save()
    owner_key.set_secret(CANARY_KEY)
    owner_key.save()
    run = run_to_end(owner, owner_key, "nobody home")
    assert run.error_kind == "connection"
    assert "after 3 attempts" in run.error_message
    assert retry_waits == [0.5, 0.5]


def test_it_reports_a_connect_timeout(owner, owner_key, retry_waits):
    # A listening socket whose backlog is full drops further SYNs: the connect hangs.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        provider = owner_key.provider
        provider.base_url = f"http://127.0.0.1:{port}/v1"
        provider.timeout = 1
        provider.save()
        owner_key.set_secret(CANARY_KEY)
        owner_key.save()
        started = time.monotonic()
        run = run_to_end(owner, owner_key, "stuck at the door")
        assert run.error_kind == "timeout", run.error_message
        assert retry_waits == [0.5, 0.5]  # never connected, so retried: three 1 s connects
        assert time.monotonic() - started < 5
    finally:
        for filler in fillers:
            filler.close()
        server.close()


def test_it_refuses_an_oversized_b64_payload_before_decoding(owner, owner_key, fake, settings):
    settings.MAX_IMAGE_BYTES = 1024 * 1024
    run = run_to_end(owner, owner_key, "[fake:huge_b64=3] big")
    assert run.status == "failed" and run.error_kind == "too_large"
