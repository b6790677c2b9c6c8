"""The gallery runs a fixed, small number of queries however many runs there are."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from playground.accounts.models import Membership, Team
from playground.gallery.seed import seed_runs

MAX_QUERIES = 16
FILTERED = {"q": "of a", "tag": "keeper", "rating": "2", "sort": "rating", "person": ""}


@pytest.fixture
def seeded(db, owner, provider):
    team = Team.objects.create(name="Studio")
    reviewer = get_user_model().objects.create_user("rita")
    Membership.objects.create(team=team, user=owner)
    Membership.objects.create(team=team, user=reviewer, role=Membership.Role.REVIEWER)

    def seed(count: int) -> None:
        seed_runs(owner, count // 2, team=team, provider=provider, reviewers=[reviewer])
        seed_runs(owner, count - count // 2, provider=provider)
        seed_runs(reviewer, 5, provider=provider)  # private to rita: never on alice's pages

    return seed


def measure(client, params: dict, headers: dict | None = None) -> tuple[int, float, str]:
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("gallery:index"), params, headers=headers or {})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    return len(queries), elapsed, response.content.decode()


def counts(client) -> dict[str, int]:
    first, _, text = measure(client, {})
    assert 'class="tile' in text
    filtered, _, text = measure(client, FILTERED)
    assert 'class="tile' in text
    scrolled, _, _ = measure(client, {"page": 2}, {"HX-Request": "true"})
    return {"first page": first, "filtered page": filtered, "next page (htmx)": scrolled}


def test_it_runs_the_same_few_queries_for_10_and_200_runs(owner_client, seeded):
    seeded(10)
    small = counts(owner_client)
    seeded(190)
    large = counts(owner_client)
    assert small == large
    assert max(large.values()) <= MAX_QUERIES, large


def test_it_keeps_the_count_with_10000_runs(owner_client, seeded):
    seeded(10)
    small = counts(owner_client)
    seeded(9_990)
    large = counts(owner_client)
    assert small == large
    first, first_s, text = measure(owner_client, {})
    assert "10000 runs" in text
    filtered, filtered_s, _ = measure(owner_client, FILTERED)
    print(
        f"\n10,000 runs: first page {first} queries in {first_s * 1000:.0f} ms, "
        f"filtered page {filtered} queries in {filtered_s * 1000:.0f} ms"
    )
