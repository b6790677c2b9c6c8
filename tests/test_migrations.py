"""A database made by the previous main's migrations comes through today's migrations intact.

The restructuring moved Image (gallery → jobs), Limit and AuditEvent (console → jobs, audit) and
took the prompt and model out of `Run.params`. Rows are written with the historical models of the
old migration state, the migrations run forward, and today's models must find every run, image,
key, limit, review and audit event as it was.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from playground.audit.models import AuditEvent
from playground.gallery.models import Comment, Rating, Review
from playground.jobs import params
from playground.jobs.models import Image, Limit, Run
from playground.providers.models import ApiKey, Provider

# The leaf migrations of every app on main before the restructuring.
PREVIOUS_MAIN = [
    ("accounts", "0001_initial"),
    ("providers", "0001_initial"),
    ("jobs", "0002_run_inputs"),
    ("gallery", "0002_review"),
    ("console", "0001_initial"),
]


def migrate_to(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection)


@pytest.mark.django_db(transaction=True)
def test_it_carries_a_database_of_the_previous_main_through_the_restructuring():
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    old = migrate_to(PREVIOUS_MAIN).loader.project_state(PREVIOUS_MAIN).apps
    try:
        User = old.get_model("auth", "User")
        alice = User.objects.create(username="alice")
        team = old.get_model("accounts", "Team").objects.create(name="Studio")
        provider = old.get_model("providers", "Provider").objects.create(
            name="Gateway", base_url="https://gateway.example/v1"
        )
        key = old.get_model("providers", "ApiKey").objects.create(
            provider=provider,
            user=alice,
            ciphertext="gAAAA-ciphertext",
            hint="sk-…abcd",
            saved_for_url=provider.base_url,
        )
        run = old.get_model("jobs", "Run").objects.create(
            owner=alice,
            provider=provider,
            provider_name="Gateway",
            team=team,
            api_key=key,
            status="succeeded",
            model="gpt-image-1",
            prompt="a lighthouse in fog",
            params={
                "model": "gpt-image-1",
                "prompt": "a lighthouse in fog",
                "n": 2,
                "quality": "high",
                "provider": provider.pk,
            },
            usage={"total_tokens": 1234},
        )
        image = old.get_model("gallery", "Image").objects.create(
            run=run,
            index=0,
            file="images/2026/11/a/1-abc.png",
            thumbnail="images/2026/11/a/1-abc-thumb.webp",
            format="PNG",
            width=1024,
            height=1024,
            bytes=5678,
            sha256="ab" * 32,
        )
        old.get_model("gallery", "Rating").objects.create(run=run, user=alice, stars=4)
        old.get_model("gallery", "Comment").objects.create(run=run, author=alice, body="lovely")
        old.get_model("gallery", "Review").objects.create(
            run=run, state="approved", decided_by=alice, decided_at=timezone.now()
        )
        old.get_model("console", "Limit").objects.create(team=team, max_images_per_day=40)
        old.get_model("console", "AuditEvent").objects.create(
            actor=alice,
            actor_name="alice",
            action="key.added",
            target_type="key",
            target_id=str(key.pk),
            target_label="Gateway key sk-…abcd of alice",
            details={"hint": "sk-…abcd"},
        )
    finally:
        migrate_to(leaves)

    moved = Run.objects.get(pk=run.pk)
    assert (moved.prompt, moved.model, moved.status) == (
        "a lighthouse in fog",
        "gpt-image-1",
        "succeeded",
    )
    assert moved.params == {"n": 2, "quality": "high", "provider": provider.pk}
    assert params.upstream(moved) == {
        "model": "gpt-image-1",
        "prompt": "a lighthouse in fog",
        "n": 2,
        "quality": "high",
    }
    assert moved.api_key_id == key.pk and moved.team_id == team.pk
    assert moved.usage == {"total_tokens": 1234}
    stored = Image.objects.get(pk=image.pk)
    assert stored.run_id == run.pk and stored.file.name == "images/2026/11/a/1-abc.png"
    assert (stored.width, stored.bytes, stored.sha256) == (1024, 5678, "ab" * 32)
    assert ApiKey.objects.get(pk=key.pk).hint == "sk-…abcd"
    assert Provider.objects.get(pk=provider.pk).name == "Gateway"
    assert Rating.objects.get(run_id=run.pk).stars == 4
    assert Comment.objects.get(run_id=run.pk).body == "lovely"
    assert Review.objects.get(run_id=run.pk).state == "approved"
    assert Limit.objects.get(team_id=team.pk).max_images_per_day == 40
    event = AuditEvent.objects.get()
    assert event.action == "key.added" and event.details == {"hint": "sk-…abcd"}
