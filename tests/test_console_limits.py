"""Limits: refused before any upstream call, with which limit and when it resets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from playground.audit.models import AuditEvent
from playground.jobs import limits
from playground.jobs.models import Limit, Run
from playground.jobs.services import RunRefused
from tests.console_support import generate, latest_run, run_now, submit

pytest_plugins = ["tests.console_fixtures"]  # its fixtures: staff_client, team, team_key


def queued_run(owner, provider, key=None, n=1, **fields) -> Run:
    """A run as submit_run leaves it (queued), without going through the limits."""
    return Run.objects.create(
        owner=owner,
        provider=provider,
        provider_name=provider.name,
        api_key=key,
        model="m",
        prompt="p",
        params={"n": n},
        **fields,
    )


def test_it_refuses_a_run_over_the_concurrent_runs_limit(owner_client, owner, owner_key, fake):
    provider = owner_key.provider
    Limit.objects.create(user=owner, max_concurrent_runs=2)
    queued_run(owner, provider, owner_key)
    queued_run(owner, provider, owner_key, status="running")
    response = generate(owner_client, provider)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Concurrent-runs limit reached: you may have 2 runs queued or running at a time" in html
    assert "frees up as soon as one of them finishes" in html
    assert Run.objects.count() == 2 and fake.app.requests == []
    assert "a lighthouse</textarea>" in html  # what was typed is kept

    Run.objects.filter(status="running").update(status="succeeded")
    assert generate(owner_client, provider).status_code == 302


def test_it_refuses_images_over_the_daily_limit_next_to_n(owner_client, owner, owner_key, fake):
    provider = owner_key.provider
    Limit.objects.create(user=owner, max_images_per_day=5)
    queued_run(owner, provider, owner_key, n=3, status="succeeded")
    # Yesterday's images do not count.
    queued_run(owner, provider, owner_key, n=9, created_at=timezone.now() - timedelta(days=1))
    response = generate(owner_client, provider, n=3)
    html = response.content.decode()
    _, reset = limits.day_bounds()
    assert (
        "Daily image limit reached: you may request 5 images a day; 3 were requested today" in html
    )
    assert f"resets at midnight ({reset:%Y-%m-%d} 00:00 UTC, in " in html
    # The message sits next to the n field.
    field = html.split('data-param="n"', 1)[1].split('data-param="size"', 1)[0]
    assert "Daily image limit reached" in field
    assert fake.app.requests == [] and Run.objects.count() == 2

    assert generate(owner_client, provider, n=2).status_code == 302
    run = run_now(latest_run())
    assert run.status == "succeeded" and run.images.count() == 2


def test_it_refuses_in_an_htmx_form_fragment(owner_client, owner, owner_key, fake):
    Limit.objects.create(user=owner, max_images_per_day=0)
    response = owner_client.post(
        reverse("studio:generate"),
        {"provider": owner_key.provider_id, "model": "gpt-image-1", "prompt": "x", "n": 1},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and response["HX-Retarget"] == "#generate-form"
    assert "may request 0 images a day" in response.content.decode()
    assert fake.app.requests == []


def test_it_applies_a_team_limit_to_runs_with_the_team_key(owner, team, team_key, owner_key):
    provider = team_key.provider
    Limit.objects.create(team=team, max_concurrent_runs=1, max_images_per_day=4)
    queued_run(owner, provider, team_key)
    with pytest.raises(RunRefused, match="team Design may have 1 run queued") as refused:
        submit(owner, provider, team_key)
    assert refused.value.field is None
    # The member's own key, on a private run, is not the team's to limit.
    submit(owner, provider, owner_key)
    # Shared with the team (visibility) it counts for the team again.
    with pytest.raises(RunRefused, match="team Design"):
        submit(owner, provider, owner_key, team=team)
    Run.objects.update(status="succeeded")
    with pytest.raises(RunRefused, match="team Design may request 4 images a day") as refused:
        submit(owner, provider, team_key, n=4)
    assert refused.value.field == "n"


def test_it_checks_the_users_limit_before_the_teams(owner, team, team_key):
    Limit.objects.create(team=team, max_concurrent_runs=0)
    Limit.objects.create(user=owner, max_concurrent_runs=0)
    with pytest.raises(RunRefused, match="you may have 0 runs"):
        submit(owner, team_key.provider, team_key)


def test_it_counts_the_day_in_the_configured_time_zone(settings, owner, provider):
    settings.TIME_ZONE = "Europe/Berlin"
    now = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 00:30 on March 2nd in Berlin
    start, end = limits.day_bounds(now)
    assert start == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    queued_run(owner, provider, n=2, created_at=datetime(2026, 3, 1, 22, 50, tzinfo=UTC))
    queued_run(owner, provider, n=3, created_at=datetime(2026, 3, 1, 23, 10, tzinfo=UTC))
    assert limits.images_today(owner, now) == 3
    # Summer time: the day after the change is 23 hours long and still ends at midnight.
    start, end = limits.day_bounds(datetime(2026, 3, 29, 12, 0, tzinfo=UTC))
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)


def test_it_counts_a_run_without_n_as_one_image(owner, provider):
    Run.objects.create(owner=owner, provider=provider, provider_name="x", prompt="p", params={})
    assert limits.images_today(owner) == 1


def test_it_manages_limits_in_the_console_with_audit_events(staff_client, staff, owner, team):
    url = reverse("console:limits")
    response = staff_client.post(url, {"owner": f"team:{team.pk}", "max_concurrent_runs": "3"})
    assert response.status_code == 302
    limit = Limit.objects.get(team=team)
    assert (limit.max_concurrent_runs, limit.max_images_per_day) == (3, None)
    page = staff_client.get(url).content.decode()
    assert "0 of 3 in use" in page and "no limit" in page

    edit = reverse("console:limit_edit", args=[limit.pk])
    staff_client.post(edit, {"max_concurrent_runs": "3", "max_images_per_day": "50"})
    limit.refresh_from_db()
    assert limit.max_images_per_day == 50
    staff_client.post(reverse("console:limit_delete", args=[limit.pk]))
    assert not Limit.objects.exists()
    events = list(AuditEvent.objects.order_by("pk").values_list("action", "details"))
    assert events == [
        ("limit.changed", {"max_concurrent_runs": {"from": None, "to": 3}}),
        ("limit.changed", {"max_images_per_day": {"from": None, "to": 50}}),
        ("limit.removed", {"max_concurrent_runs": 3, "max_images_per_day": 50}),
    ]
    assert all(e.actor == staff for e in AuditEvent.objects.all())


def test_it_explains_a_bad_limit(staff_client, owner):
    url = reverse("console:limits")
    html = staff_client.post(url, {"owner": f"user:{owner.pk}"}).content.decode()
    assert "Set at least one of the two" in html
    html = staff_client.post(
        url, {"owner": f"user:{owner.pk}", "max_images_per_day": "-1"}
    ).content.decode()
    assert "greater than or equal to 0" in html
    Limit.objects.create(user=owner, max_concurrent_runs=1)
    html = staff_client.post(
        url, {"owner": f"user:{owner.pk}", "max_concurrent_runs": "2"}
    ).content.decode()
    assert "has a limit already" in html
    assert Limit.objects.get(user=owner).max_concurrent_runs == 1
