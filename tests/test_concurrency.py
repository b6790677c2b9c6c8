"""The embedded executor keeps many slow upstream calls in flight at once in one process."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tasks import task_backends

from playground.jobs.models import Run
from playground.jobs.tasks import perform_run
from tests.conftest import wait_for

RUNS = 70
LATENCY = 3.0


@pytest.fixture
def demo(transactional_db, fake):
    from playground.providers.models import Provider

    return Provider.objects.create(
        name="Demo", base_url=fake.base_url("openai"), requires_key=False, is_local=True
    )


def test_it_keeps_64_plus_runs_in_flight_at_once(demo, owner, fake):
    runs = [
        Run.objects.create(
            owner=owner,
            provider=demo,
            provider_name=demo.name,
            model="gpt-image-1",
            prompt=f"[fake:latency={LATENCY}] picture {i}",
            params={
                "model": "gpt-image-1",
                "prompt": f"[fake:latency={LATENCY}] picture {i}",
                "n": 1,
                "size": "1024x1024",
            },
        )
        for i in range(RUNS)
    ]
    for run in runs:
        perform_run.enqueue(str(run.pk))

    def all_done():
        return Run.objects.filter(status="succeeded").count() == RUNS

    wait_for(all_done, timeout=120, interval=0.2)
    posts = [r for r in fake.app.requests if r["endpoint"] == "generations"]
    assert len(posts) == RUNS  # each sent exactly once
    arrivals = sorted(r["received_at"] for r in posts)
    # Every request arrived before the first one could have been answered: all were in flight
    # together, not queued behind each other.
    assert arrivals[-1] - arrivals[0] < LATENCY, arrivals[-1] - arrivals[0]
    assert not Run.objects.exclude(status="succeeded").exists()
    assert task_backends["default"].wait_idle(timeout=10)
    if connection.vendor == "sqlite":
        assert connection.cursor().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
