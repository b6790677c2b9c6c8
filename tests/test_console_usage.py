"""Usage figures equal what the runs against the fake gateway produced."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from playground.console.usage import (
    accounted_runs,
    build_chart,
    filtered_runs,
    usage_rows,
)
from playground.jobs.models import Run
from playground.providers.models import ApiKey, Provider
from tests.conftest import CANARY_KEY
from tests.console_support import TEAM_SECRET, run_now, submit

pytest_plugins = ["tests.console_fixtures"]  # its fixtures: staff_client, team, team_key


@pytest.fixture
def scenario(owner, outsider, team, provider, owner_key, fake):
    """Runs of two users, a team key and three gateway dialects, performed by the fake."""
    routmy = Provider.objects.create(
        name="Routmy",
        base_url=fake.base_url("routmy"),
        is_local=True,
        timeout=60,
        supports_image_config=True,
        quota_multiplier=Decimal("1.5"),
    )
    quick = Provider.objects.create(
        name="Quick",
        base_url=fake.base_url("quickrouter"),
        is_local=True,
        timeout=60,
        output_format_field="format",
        quota_multiplier=Decimal("0.5"),
    )
    team_key = ApiKey(team=team, provider=routmy)
    team_key.set_secret(TEAM_SECRET)
    team_key.save()
    quick_key = ApiKey(user=outsider, provider=quick)
    quick_key.set_secret(CANARY_KEY)
    quick_key.save()
    runs = [
        submit(owner, provider, owner_key, n=2, size="1024x1024"),
        submit(owner, routmy, team_key, model="gpt-image-2", image_size="4K", aspect_ratio="16:9"),
        submit(owner, routmy, team_key, model="gpt-image-2", n=2, image_size="1K"),
        submit(owner, provider, owner_key, prompt="[fake:status=500] down"),
        submit(outsider, quick, quick_key, model="gpt-image-2"),
    ]
    runs = [run_now(run) for run in runs]
    assert [run.status for run in runs] == ["succeeded"] * 3 + ["failed", "succeeded"]
    return {"runs": runs, "routmy": routmy, "quick": quick, "team_key": team_key}


def expected(runs: list[Run], group) -> dict[str, dict]:
    """The figures computed in Python from each stored run, to compare with the database's."""
    out: dict[str, dict] = {}
    for run in runs:
        run.refresh_from_db()
        images = run.images.count()
        usage = run.usage or {}
        tokens = usage.get("total_tokens") or (
            usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
        )
        base = 12_500 if run.params.get("image_size") == "4K" else 5_000
        row = out.setdefault(
            str(group(run)), dict.fromkeys(("runs", "images", "failures", "tokens", "units"), 0)
        )
        row["runs"] += 1
        row["images"] += images
        row["failures"] += run.status == "failed"
        row["tokens"] += tokens
        row["units"] += images * base * run.provider.quota_multiplier
    return out


def csv_rows(client, **params) -> list[dict]:
    response = client.get(reverse("console:usage_csv"), params)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def by_group(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for row in rows:
        if row["day"] == "total":
            continue
        got = out.setdefault(
            row["group_id"], dict.fromkeys(("runs", "images", "failures", "tokens", "units"), 0)
        )
        for name in ("runs", "images", "failures", "tokens"):
            got[name] += int(row[name])
        got["units"] += Decimal(row["quota_units"])
    return out


@pytest.mark.parametrize(
    ("group", "key_of"),
    [
        ("provider", lambda run: run.provider_name),
        ("user", lambda run: run.owner_id),
        ("team", lambda run: run.api_key.team_id if run.api_key.team_id else ""),
        ("key", lambda run: run.api_key_id),
        ("model", lambda run: run.model),
    ],
)
def test_it_sums_what_the_fake_produced_per_group(staff_client, scenario, group, key_of):
    want = expected(scenario["runs"], key_of)
    got = by_group(csv_rows(staff_client, group=group))
    assert got == want


def test_it_applies_the_quota_rule(staff_client, scenario):
    got = by_group(csv_rows(staff_client, group="provider"))
    assert got["Fake OpenAI"]["units"] == 2 * 5_000  # two images, multiplier 1
    assert got["Routmy"]["units"] == Decimal(12_500 * 1.5 + 2 * 5_000 * 1.5)  # 4K + two 1K
    assert got["Quick"]["units"] == Decimal(5_000 * 0.5)
    assert got["Fake OpenAI"]["failures"] == 1 and got["Fake OpenAI"]["runs"] == 2
    assert got["Fake OpenAI"]["tokens"] == scenario["runs"][0].usage["total_tokens"] > 0
    # quickrouter answers chat-shaped: prompt/completion tokens.
    quick_usage = scenario["runs"][4].usage
    assert "prompt_tokens" in quick_usage
    assert got["Quick"]["tokens"] == quick_usage["total_tokens"]


def test_it_reads_tokens_from_every_usage_shape(owner, provider):
    shapes = [
        ({"total_tokens": 40, "input_tokens": 1, "output_tokens": 1}, 40),
        ({"input_tokens": 10, "output_tokens": 5}, 15),
        ({"prompt_tokens": 3, "completion_tokens": 4}, 7),
        (None, 0),
        ({}, 0),
    ]
    for usage, _ in shapes:
        Run.objects.create(
            owner=owner, provider=provider, provider_name="p", prompt=str(usage), usage=usage
        )
    tokens = dict(accounted_runs().values_list("prompt", "tokens"))
    assert tokens == {str(usage): want for usage, want in shapes}


def test_it_filters_by_date_team_key_provider_and_model(staff_client, scenario, team):
    today = timezone.localdate()
    old = scenario["runs"][0]
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    rows = csv_rows(staff_client, start=today.isoformat(), end=today.isoformat())
    assert rows[-1]["day"] == "total" and int(rows[-1]["runs"]) == 4  # the old run is out
    week = csv_rows(staff_client, start=(today - timedelta(days=6)).isoformat())
    days = sorted({r["day"] for r in week if r["day"] != "total"})
    assert days == [(today - timedelta(days=3)).isoformat(), today.isoformat()]
    assert by_group(csv_rows(staff_client, team=team.pk, group="team")) == {
        str(team.pk): expected(scenario["runs"][1:3], lambda run: team.pk)[str(team.pk)]
    }
    assert list(by_group(csv_rows(staff_client, key=scenario["team_key"].pk))) == ["Routmy"]
    assert list(by_group(csv_rows(staff_client, provider=scenario["quick"].pk))) == ["Quick"]
    assert list(by_group(csv_rows(staff_client, model="gpt-image-2", group="model"))) == [
        "gpt-image-2"
    ]


def test_it_shows_the_usage_page_with_a_chart_and_totals(staff_client, scenario):
    html = staff_client.get(reverse("console:usage")).content.decode()
    assert '<svg class="chart"' in html and "<script" not in html.split("<main", 1)[1]
    assert "Quota units per day, per provider" in html
    # Routmy: one 4K image (12,500 × 1.5) plus two 1K ones (2 × 5,000 × 1.5).
    assert "33,750" in html and "10,000" in html and "2,500" in html
    # Every series of today's stack is drawn, with a tooltip.
    assert html.count('<rect class="series-') == 3 + 3  # three bars + three legend swatches
    assert "Routmy: 33.8k units" in html
    assert 'href="/console/usage.csv?' in html
    per_user = staff_client.get(reverse("console:usage"), {"group": "user", "metric": "runs"})
    assert "Runs per day, per user" in per_user.content.decode()


def test_it_explains_bad_filters(staff_client, db):
    params = {"start": "2026-05-02", "end": "2026-05-01"}
    html = staff_client.get(reverse("console:usage"), params).content.decode()
    assert "The start date is after the end date." in html and '<svg class="chart"' not in html
    response = staff_client.get(reverse("console:usage_csv"), params)
    assert response.status_code == 400
    html = staff_client.get(reverse("console:usage"), {"start": "yesterday"}).content.decode()
    assert "Enter a valid date." in html


def test_it_defuses_spreadsheet_formulas_in_the_csv(staff_client, owner, provider):
    Run.objects.create(
        owner=owner,
        provider=provider,
        provider_name="p",
        prompt="x",
        model='=HYPERLINK("http://evil")',
    )
    rows = csv_rows(staff_client, group="model")
    assert rows[0]["group"].startswith("'=HYPERLINK")


def test_it_groups_days_in_the_configured_time_zone(settings, owner, provider):
    settings.TIME_ZONE = "America/New_York"
    Run.objects.create(
        owner=owner,
        provider=provider,
        provider_name="p",
        prompt="x",
        created_at=datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
    )
    runs = filtered_runs({"start": date(2026, 3, 1), "end": date(2026, 3, 1)})
    [row] = usage_rows(runs, "provider")
    assert row.day == date(2026, 3, 1) and row.runs == 1
    assert not usage_rows(
        filtered_runs({"start": date(2026, 3, 2), "end": date(2026, 3, 2)}), "provider"
    )


def test_it_draws_stacked_bars_to_scale(owner, provider):
    rows = usage_rows(accounted_runs(), "user")
    chart = build_chart(rows, date(2026, 1, 1), date(2026, 1, 7), "units")
    assert chart.empty and chart.segments == []
    assert [label for _, label in chart.x_ticks] == ["Jan 1", "Jan 3", "Jan 5", "Jan 7"]

    for name, n in (("a", 1), ("b", 3)):
        run = Run.objects.create(owner=owner, provider=provider, provider_name=name, prompt="x")
        for index in range(n):
            run.images.create(
                index=index,
                file="f",
                thumbnail="t",
                format="PNG",
                width=1,
                height=1,
                bytes=1,
                sha256="0",
            )
    today = timezone.localdate()
    rows = usage_rows(accounted_runs(), "provider")
    chart = build_chart(rows, today - timedelta(days=1), today, "images")
    a, b = sorted(chart.segments, key=lambda s: s.height)
    assert b.height == pytest.approx(3 * a.height)
    assert a.y + a.height == pytest.approx(b.y)  # stacked: a sits on top of b
    assert b.y + b.height == pytest.approx(chart.plot_bottom)
    assert [label for _, label in chart.legend] == ["b", "a"]
