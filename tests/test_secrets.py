"""A canary key must appear nowhere but as ciphertext: pages, fragments, logs, run records."""

from __future__ import annotations

import logging

from django.db import connection
from django.urls import reverse

from playground.jobs.models import Run
from playground.jobs.runner import execute_run
from tests.conftest import CANARY_KEY
from tests.test_faults import FAILURES

FRAGMENTS = (CANARY_KEY, CANARY_KEY[:14], CANARY_KEY[-10:])


def assert_clean(text: str, where: str) -> None:
    for fragment in FRAGMENTS:
        assert fragment not in text, f"{fragment!r} leaked in {where}"


def test_it_leaks_the_key_nowhere_even_when_the_upstream_echoes_it(
    owner_client, owner, owner_key, fake, caplog
):
    caplog.set_level(logging.DEBUG)
    runs = []
    prompts = ["[fake:echo_key] leak it", "a normal picture"]
    prompts += [f"{directives} matrix" for directives, _, _ in FAILURES]
    for prompt in prompts:
        response = owner_client.post(
            reverse("studio:generate"),
            {"provider": owner_key.provider_id, "model": "gpt-image-1", "prompt": prompt, "n": 1},
        )
        assert response.status_code == 302
        run = Run.objects.latest("created_at")
        execute_run(run.pk)
        runs.append(run)
    # The key did go upstream, in the header, for each call.
    posts = [r for r in fake.app.requests if r["endpoint"] == "generations"]
    assert posts and all(r["headers"]["authorization"] == f"Bearer {CANARY_KEY}" for r in posts)
    statuses = list(Run.objects.values_list("status", flat=True))
    assert statuses.count("succeeded") == 1 and statuses.count("failed") == len(prompts) - 1

    pages = [reverse("studio:generate"), reverse("gallery:index"), reverse("providers:keys")]
    for run in runs:
        pages += [reverse("gallery:run", args=[run.pk]), reverse("jobs:card", args=[run.pk])]
    for url in pages:
        assert_clean(owner_client.get(url).content.decode(), url)
    test = owner_client.post(
        reverse("providers:test_key", args=[owner_key.pk]), HTTP_HX_REQUEST="1"
    )
    assert_clean(test.content.decode(), "key test fragment")
    assert_clean(caplog.text, "logs")

    # Every column of every table, except the one ciphertext column.
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        for table in tables:
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from introspection
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if table == "providers_apikey" and column == "ciphertext":
                        continue
                    assert_clean(str(value), f"{table}.{column}")
