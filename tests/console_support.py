"""Helpers shared by the staff console tests (their fixtures are in tests/console_fixtures.py)."""

from __future__ import annotations

from django.urls import reverse

from playground.jobs.models import Run
from playground.jobs.runner import execute_run
from playground.jobs.services import submit_run

# A fake key (split so secret scanners do not take it for a real one).
TEAM_SECRET = "sk-" + "teamcanary-7e6d5c4b3a29180f7e6d5c4b3a2918"


def generate(client, provider, **fields):
    """POST the generate form; the response (302 to the run, or the form with its errors)."""
    data = {"provider": provider.pk, "model": "gpt-image-1", "prompt": "a lighthouse", "n": 1}
    data.update(fields)
    return client.post(reverse("studio:generate"), data)


def run_now(run: Run) -> Run:
    """Perform a queued run in this thread (tests' transactions never reach the executor)."""
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def submit(owner, provider, key=None, **params) -> Run:
    """submit_run as a form would call it: params hold what goes upstream."""
    params = {"n": 1, **params}
    return submit_run(
        owner=owner,
        provider=provider,
        provider_name=provider.name,
        api_key=key,
        team=params.pop("team", None),
        model=params.pop("model", "gpt-image-1"),
        prompt=params.pop("prompt", "a lighthouse"),
        params={"provider": provider.pk, **params},
    )


def latest_run() -> Run:
    return Run.objects.latest("created_at")
