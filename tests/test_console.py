"""The staff console: access, providers, keys (user and team), teams, audit log, no leaks."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.urls import reverse

from playground.accounts.models import Membership, Team
from playground.audit.models import AuditEvent
from playground.jobs.models import Limit, Run
from playground.jobs.services import RunRefused
from playground.providers import crypto
from playground.providers.models import ApiKey, Provider
from tests.conftest import CANARY_KEY
from tests.console_support import TEAM_SECRET, generate, latest_run, run_now, submit

pytest_plugins = ["tests.console_fixtures"]  # its fixtures: staff_client, team, team_key

ROTATED_SECRET = "sk-" + "rotated-0a1b2c3d4e5f60718293a4b5c6d7e8f9"


@pytest.fixture
def everything(owner, team, team_key, owner_key):
    membership = Membership.objects.get(team=team, user=owner)
    limit = Limit.objects.create(team=team, max_images_per_day=100)
    return {
        "p": team_key.provider_id,
        "k": team_key.pk,
        "t": team.pk,
        "m": membership.pk,
        "l": limit.pk,
    }


def console_urls(ids: dict) -> list[tuple[str, str]]:
    """(method, url) of every console page and action."""
    gets = [
        ("home", []),
        ("providers", []),
        ("provider_new", []),
        ("provider_edit", [ids["p"]]),
        ("key_list", []),
        ("key_new", []),
        ("key", [ids["k"]]),
        ("teams", []),
        ("team", [ids["t"]]),
        ("limits", []),
        ("limit_edit", [ids["l"]]),
        ("usage", []),
        ("usage_csv", []),
        ("audit", []),
    ]
    posts = [
        ("provider_new", []),
        ("provider_edit", [ids["p"]]),
        ("provider_toggle", [ids["p"]]),
        ("provider_refresh", [ids["p"]]),
        ("key_new", []),
        ("key_rotate", [ids["k"]]),
        ("key_revoke", [ids["k"]]),
        ("key_test", [ids["k"]]),
        ("teams", []),
        ("team", [ids["t"]]),
        ("member_role", [ids["t"], ids["m"]]),
        ("member_remove", [ids["t"], ids["m"]]),
        ("limits", []),
        ("limit_edit", [ids["l"]]),
        ("limit_delete", [ids["l"]]),
    ]
    return [("get", reverse(f"console:{n}", args=a)) for n, a in gets] + [
        ("post", reverse(f"console:{n}", args=a)) for n, a in posts
    ]


def test_it_404s_every_page_and_action_for_non_staff(client, outsider, owner, everything, fake):
    for user in (outsider, owner):  # a stranger, and a member of the team concerned
        client.force_login(user)
        for method, url in console_urls(everything):
            data = {"name": "Hijack", "secret": "sk-hijack-000000000000", "role": "reviewer"}
            response = getattr(client, method)(url, data if method == "post" else None)
            assert response.status_code == 404, (user, method, url)
    key = ApiKey.objects.get(pk=everything["k"])
    assert key.revoked_at is None and key.reveal() == TEAM_SECRET
    assert Membership.objects.filter(pk=everything["m"]).exists()
    assert Limit.objects.filter(pk=everything["l"]).exists()
    assert Provider.objects.get(pk=everything["p"]).enabled
    assert not Team.objects.filter(name="Hijack").exists()
    assert not AuditEvent.objects.exists()
    assert fake.app.requests == []


def test_it_sends_anonymous_visitors_to_the_login_page(client, everything):
    for method, url in console_urls(everything):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_it_shows_every_page_to_staff_and_a_console_link(staff_client, everything, fake):
    for method, url in console_urls(everything):
        if method == "get":
            assert staff_client.get(url).status_code == 200, url
    nav = staff_client.get(reverse("studio:generate")).content.decode()
    assert f'href="{reverse("console:home")}"' in nav


def test_it_hides_the_console_link_from_non_staff(owner_client):
    assert (
        reverse("console:home") not in owner_client.get(reverse("studio:generate")).content.decode()
    )


# --- providers ----------------------------------------------------------------------------------


def provider_form(**overrides) -> dict:
    data = {
        "name": "Routmy",
        "base_url": "https://api.rout.my",
        "timeout": 150,
        "quota_multiplier": "1.5",
        "edit_mode": "multipart",
        "output_format_field": "format",
        "supports_image_config": "on",
        "enabled": "on",
        "requires_key": "on",
    }
    data.update(overrides)
    return data


def test_it_adds_a_provider_with_its_dialect_options(staff_client, staff):
    response = staff_client.post(reverse("console:provider_new"), provider_form())
    assert response.status_code == 302
    provider = Provider.objects.get(name="Routmy")
    assert provider.base_url == "https://api.rout.my/v1"
    assert (provider.edit_mode, provider.output_format_field) == ("multipart", "format")
    assert provider.supports_image_config and provider.requires_key and not provider.is_local
    assert str(provider.quota_multiplier) == "1.500" and provider.timeout == 150
    event = AuditEvent.objects.get(action="provider.added")
    assert event.actor == staff and event.target_label == "Routmy"


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("ftp://api.example.com", "http:// or https://"),
        ("https://user:sk-pass@api.example.com/v1", "Leave credentials out"),
        ("https://api.example.com/v1?key=1", "no query"),
    ],
)
def test_it_explains_a_bad_base_url_and_keeps_what_was_typed(staff_client, base_url, message):
    response = staff_client.post(
        reverse("console:provider_new"), provider_form(name="Typed name", base_url=base_url)
    )
    html = response.content.decode()
    assert response.status_code == 200 and message in html
    assert 'value="Typed name"' in html and 'value="1.5"' in html
    assert not Provider.objects.filter(name="Typed name").exists()


def test_it_refuses_a_duplicate_provider_name(staff_client, provider):
    response = staff_client.post(reverse("console:provider_new"), provider_form(name="fake openai"))
    assert "Another provider already has this name." in response.content.decode()


def test_it_makes_keys_need_reentry_and_audits_a_base_url_change(
    staff_client, staff, owner_client, owner_key, provider
):
    old_url = provider.base_url
    response = staff_client.post(
        reverse("console:provider_edit", args=[provider.pk]),
        provider_form(name=provider.name, base_url="https://moved.example.com/", timeout=30),
    )
    assert response.status_code == 302
    owner_key.refresh_from_db()
    assert owner_key.needs_reentry
    with pytest.raises(crypto.KeyDecryptionError):
        owner_key.reveal()
    event = AuditEvent.objects.get(action="provider.url_changed")
    assert event.actor == staff
    assert event.details == {
        "from": old_url,
        "to": "https://moved.example.com/v1",
        "keys_needing_reentry": 1,
    }
    changed = AuditEvent.objects.get(action="provider.changed")
    assert "edit_mode" in changed.details and "base_url" not in changed.details
    listing = staff_client.get(reverse("console:key_list")).content.decode()
    assert "needs re-entry" in listing
    assert "need re-entry" in staff_client.get(reverse("console:providers")).content.decode()
    refused = generate(owner_client, provider)
    assert "enter it again" in refused.content.decode() and not Run.objects.exists()


def test_it_audits_a_base_url_change_made_in_the_django_admin(client, staff, provider):
    client.force_login(staff)
    url = reverse("admin:providers_provider_change", args=[provider.pk])
    data = {
        "name": provider.name,
        "base_url": "https://admin-moved.example.com",
        "timeout": 30,
        "enabled": "on",
        "requires_key": "on",
        "output_format_field": "output_format",
        "edit_mode": "json_images",
        "quota_multiplier": "1",
    }
    assert client.post(url, data).status_code == 302
    event = AuditEvent.objects.get(action="provider.url_changed")
    assert event.actor == staff and event.details["to"] == "https://admin-moved.example.com/v1"


def test_it_disables_and_enables_a_provider(staff_client, provider):
    toggle = reverse("console:provider_toggle", args=[provider.pk])
    staff_client.post(toggle)
    provider.refresh_from_db()
    assert not provider.enabled
    staff_client.post(toggle)
    provider.refresh_from_db()
    assert provider.enabled
    assert AuditEvent.objects.filter(action="provider.changed").count() == 2


def test_it_refreshes_a_providers_model_list_with_a_stored_key(staff_client, owner_key, fake):
    provider = owner_key.provider
    response = staff_client.post(reverse("console:provider_refresh", args=[provider.pk]))
    assert response.status_code == 302
    provider.refresh_from_db()
    assert "gpt-image-1" in provider.models_catalogue and provider.models_fetched_at
    assert fake.app.requests[-1]["path"].endswith("/models")
    assert fake.app.requests[-1]["headers"]["authorization"] == f"Bearer {CANARY_KEY}"


def test_it_says_a_provider_needs_a_key_before_refreshing(staff_client, provider, fake):
    response = staff_client.post(
        reverse("console:provider_refresh", args=[provider.pk]), follow=True
    )
    assert "needs a key to list its models" in response.content.decode()
    assert fake.app.requests == []


# --- keys ---------------------------------------------------------------------------------------


def test_it_lists_every_key_with_owner_runs_and_status(staff_client, owner_key, team_key, owner):
    Run.objects.create(
        owner=owner,
        provider=owner_key.provider,
        provider_name="x",
        api_key=owner_key,
        prompt="p",
        status="succeeded",
    )
    team_key.revoked_at = team_key.created_at
    team_key.save()
    html = staff_client.get(reverse("console:key_list")).content.decode()
    assert "alice" in html and "Team Design" in html
    assert owner_key.hint in html and team_key.hint in html
    assert "revoked" in html and "active" in html
    team_only = staff_client.get(reverse("console:key_list"), {"owner": "team"}).content.decode()
    assert team_key.hint in team_only and owner_key.hint not in team_only
    revoked = staff_client.get(reverse("console:key_list"), {"status": "revoked"}).content.decode()
    assert team_key.hint in revoked and owner_key.hint not in revoked


def test_it_adds_a_team_key_that_members_use_but_never_see(
    staff_client, staff, owner_client, owner, team, provider, fake
):
    response = staff_client.post(
        reverse("console:key_new"),
        {
            "owner": f"team:{team.pk}",
            "provider": provider.pk,
            "label": "studio",
            "secret": TEAM_SECRET,
        },
    )
    key = ApiKey.objects.get(team=team)
    assert response.status_code == 302 and response["Location"] == reverse(
        "console:key", args=[key.pk]
    )
    assert key.user is None and key.reveal() == TEAM_SECRET
    event = AuditEvent.objects.get(action="key.added")
    assert event.actor == staff and event.details == {"hint": key.hint, "by": "staff"}

    # The member sends a run with it (their only key for this provider) through the gateway.
    assert generate(owner_client, provider).status_code == 302
    run = run_now(latest_run())
    assert run.status == "succeeded", run.error_message
    assert run.api_key == key and run.images.count() == 1
    assert fake.app.requests[-1]["headers"]["authorization"] == f"Bearer {TEAM_SECRET}"

    # ...and never sees any part of it.
    pages = [reverse(name) for name in ("studio:generate", "providers:keys", "gallery:index")]
    pages += [reverse("gallery:run", args=[run.pk]), reverse("jobs:card", args=[run.pk])]
    for url in pages:
        html = owner_client.get(url).content.decode()
        assert TEAM_SECRET not in html and key.hint not in html, url
        assert key.ciphertext not in html


def test_it_keeps_a_team_key_from_non_members(client, outsider, team_key, provider, fake):
    client.force_login(outsider)
    response = generate(client, provider, api_key=team_key.pk)
    assert response.status_code == 200 and not Run.objects.exists()
    assert fake.app.requests == []


def test_it_adds_a_key_for_a_user(staff_client, outsider, provider):
    staff_client.post(
        reverse("console:key_new"),
        {"owner": f"user:{outsider.pk}", "provider": provider.pk, "secret": CANARY_KEY},
    )
    key = ApiKey.objects.get(user=outsider)
    assert key.team is None and key.reveal() == CANARY_KEY


def test_it_refuses_a_second_key_for_the_same_owner_and_provider(staff_client, team_key, team):
    response = staff_client.post(
        reverse("console:key_new"),
        {"owner": f"team:{team.pk}", "provider": team_key.provider_id, "secret": CANARY_KEY},
    )
    html = response.content.decode()
    assert "already has a key for Fake OpenAI" in html
    assert ApiKey.objects.filter(team=team).count() == 1
    assert CANARY_KEY not in html  # a typed secret is never sent back


def test_it_explains_a_missing_owner_or_bad_secret(staff_client, provider):
    response = staff_client.post(
        reverse("console:key_new"), {"owner": "team:999", "provider": provider.pk, "secret": "a b"}
    )
    html = response.content.decode()
    assert "Choose a team or a user" in html and "no spaces" in html


def test_it_rotates_a_key_keeping_its_identity_and_history(
    staff_client, owner, team_key, provider, fake
):
    before = Run.objects.create(
        owner=owner,
        provider=provider,
        provider_name=provider.name,
        api_key=team_key,
        prompt="old",
        status="succeeded",
    )
    old_hint, old_ciphertext = team_key.hint, team_key.ciphertext
    response = staff_client.post(
        reverse("console:key_rotate", args=[team_key.pk]), {"secret": ROTATED_SECRET}
    )
    assert response.status_code == 302
    team_key.refresh_from_db()
    assert team_key.reveal() == ROTATED_SECRET and team_key.ciphertext != old_ciphertext
    assert team_key.label == "shared" and team_key.team.name == "Design"
    assert list(team_key.runs.all()) == [before]
    event = AuditEvent.objects.get(action="key.rotated")
    assert event.details == {"from_hint": old_hint, "to_hint": team_key.hint, "reinstated": False}

    run = run_now(submit(owner, provider, team_key))
    assert run.status == "succeeded", run.error_message
    assert fake.app.requests[-1]["headers"]["authorization"] == f"Bearer {ROTATED_SECRET}"


def test_it_explains_a_bad_rotation_secret(staff_client, team_key):
    response = staff_client.post(
        reverse("console:key_rotate", args=[team_key.pk]), {"secret": "short"}
    )
    assert response.status_code == 200 and "too short" in response.content.decode()
    team_key.refresh_from_db()
    assert team_key.reveal() == TEAM_SECRET


def test_it_revokes_a_key_and_runs_with_it_are_refused(
    staff_client, staff, owner, owner_client, team_key, provider, fake
):
    response = staff_client.post(reverse("console:key_revoke", args=[team_key.pk]))
    assert response.status_code == 302
    team_key.refresh_from_db()
    assert team_key.is_revoked
    assert AuditEvent.objects.get(action="key.revoked").actor == staff

    # The form no longer offers it...
    response = generate(owner_client, provider)
    assert "You have no API key for Fake OpenAI" in response.content.decode()
    # ...and submit_run refuses it even if a form still held it.
    with pytest.raises(RunRefused, match="was revoked") as refused:
        submit(owner, provider, team_key)
    assert refused.value.field == "provider" and team_key.hint not in refused.value.message
    assert not Run.objects.exists() and fake.app.requests == []
    # A run queued before the revocation is refused by the runner, never sent.
    team_key.revoked_at = None
    team_key.save()
    queued = Run.objects.create(
        owner=owner,
        provider=provider,
        provider_name=provider.name,
        api_key=team_key,
        model="gpt-image-1",
        prompt="x",
        params={"n": 1},
    )
    staff_client.post(reverse("console:key_revoke", args=[team_key.pk]))
    assert run_now(queued).status == "failed" and "revoked" in queued.error_message
    assert fake.app.requests == []


def test_it_puts_a_revoked_key_back_in_service_when_rotated(staff_client, team_key):
    staff_client.post(reverse("console:key_revoke", args=[team_key.pk]))
    staff_client.post(reverse("console:key_rotate", args=[team_key.pk]), {"secret": ROTATED_SECRET})
    team_key.refresh_from_db()
    assert not team_key.is_revoked and team_key.reveal() == ROTATED_SECRET
    assert AuditEvent.objects.get(action="key.rotated").details["reinstated"] is True


def test_it_tests_a_key_from_the_console(staff_client, staff, team_key, fake):
    response = staff_client.post(reverse("console:key_test", args=[team_key.pk]), follow=True)
    assert "OK — " in response.content.decode()
    assert fake.app.requests[-1]["headers"]["authorization"] == f"Bearer {TEAM_SECRET}"
    team_key.refresh_from_db()
    assert team_key.last_test_ok is True
    event = AuditEvent.objects.get(action="key.tested")
    assert event.actor == staff and event.details == {"ok": True}


def test_it_audits_a_users_own_key_actions_on_the_keys_page(owner_client, owner, provider, fake):
    save = reverse("providers:save_key", args=[provider.pk])
    owner_client.post(save, {f"p{provider.pk}-secret": CANARY_KEY})
    owner_client.post(save, {f"p{provider.pk}-secret": ROTATED_SECRET})
    key = ApiKey.objects.get(user=owner)
    owner_client.post(reverse("providers:test_key", args=[key.pk]))
    owner_client.post(reverse("providers:delete_key", args=[key.pk]))
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", "actor_name"))
    assert actions == [
        ("key.added", "alice"),
        ("key.rotated", "alice"),
        ("key.tested", "alice"),
        ("key.deleted", "alice"),
    ]


def test_it_shows_a_revoked_key_on_its_owners_keys_page(owner_client, owner_key):
    owner_key.revoked_at = owner_key.created_at
    owner_key.save()
    assert "Revoked by staff" in owner_client.get(reverse("providers:keys")).content.decode()


# --- teams --------------------------------------------------------------------------------------


def test_it_creates_a_team_and_manages_its_members(staff_client, staff, owner, outsider):
    response = staff_client.post(reverse("console:teams"), {"name": "Research"})
    team = Team.objects.get(name="Research")
    assert response["Location"] == reverse("console:team", args=[team.pk])
    url = reverse("console:team", args=[team.pk])
    staff_client.post(url, {"username": "ALICE", "role": "member"})
    staff_client.post(url, {"username": "mallory", "role": "reviewer"})
    membership = Membership.objects.get(team=team, user=owner)
    assert membership.role == "member"
    staff_client.post(
        reverse("console:member_role", args=[team.pk, membership.pk]),
        {f"m{membership.pk}-role": "reviewer"},
    )
    membership.refresh_from_db()
    assert membership.role == "reviewer"
    mallory = Membership.objects.get(team=team, user=outsider)
    staff_client.post(reverse("console:member_remove", args=[team.pk, mallory.pk]))
    assert list(team.memberships.values_list("user__username", flat=True)) == ["alice"]
    events = list(
        AuditEvent.objects.order_by("pk").values_list("action", "target_label", "details")
    )
    assert events == [
        ("team.added", "Research", {}),
        ("membership.added", "Research", {"user": "alice", "role": "member"}),
        ("membership.added", "Research", {"user": "mallory", "role": "reviewer"}),
        (
            "membership.role_changed",
            "Research",
            {"user": "alice", "from": "member", "to": "reviewer"},
        ),
        ("membership.removed", "Research", {"user": "mallory", "role": "reviewer"}),
    ]


def test_it_explains_a_bad_member(staff_client, team, owner):
    url = reverse("console:team", args=[team.pk])
    html = staff_client.post(url, {"username": "nobody", "role": "member"}).content.decode()
    assert "There is no active user called “nobody”." in html
    html = staff_client.post(url, {"username": "alice", "role": "member"}).content.decode()
    assert "alice is in Design already." in html
    assert 'value="alice"' in html


def test_it_refuses_a_duplicate_team_name(staff_client, team):
    html = staff_client.post(reverse("console:teams"), {"name": "design"}).content.decode()
    assert "A team with this name exists already." in html


def test_it_404s_a_membership_of_another_team(staff_client, team, owner):
    other = Team.objects.create(name="Other")
    membership = Membership.objects.get(team=team, user=owner)
    url = reverse("console:member_remove", args=[other.pk, membership.pk])
    assert staff_client.post(url).status_code == 404
    assert Membership.objects.filter(pk=membership.pk).exists()


# --- audit log ----------------------------------------------------------------------------------


def test_it_filters_and_paginates_the_audit_log(staff_client, staff, owner, team):
    for i in range(60):
        AuditEvent.record(staff, AuditEvent.Action.MEMBER_ADDED, team, {"i": i})
    AuditEvent.record(owner, AuditEvent.Action.TEAM_ADDED, team)
    url = reverse("console:audit")
    first = staff_client.get(url).content.decode()
    assert "61 events" in first and "Page 1 of 2" in first and "i: 60" not in first
    assert "i: 59" in first and "i: 10" not in first
    second = staff_client.get(url, {"page": 2}).content.decode()
    assert "i: 0" in second
    by_action = staff_client.get(url, {"action": "team.added"}).content.decode()
    assert "1 event" in by_action and "Team added" in by_action and "i: 5" not in by_action
    by_actor = staff_client.get(url, {"actor": "alice"}).content.decode()
    assert "1 event" in by_actor
    filtered_page = staff_client.get(url, {"target_type": "team", "page": 2}).content.decode()
    assert "target_type=team&amp;page=1" in filtered_page
    bad = staff_client.get(url, {"start": "2026-05-02", "end": "2026-05-01"}).content.decode()
    assert "The start date is after the end date." in bad


def test_it_shows_the_audit_log_read_only_in_the_django_admin(client, staff, team):
    event = AuditEvent.record(staff, AuditEvent.Action.TEAM_ADDED, team)
    client.force_login(staff)
    assert "Design" in client.get(reverse("admin:audit_auditevent_changelist")).content.decode()
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_it_refuses_secret_names_in_audit_details(staff, team):
    with pytest.raises(ValueError, match="secret"):
        AuditEvent.record(staff, AuditEvent.Action.KEY_ADDED, team, {"secret": "x"})


# --- no leaks -----------------------------------------------------------------------------------


def test_it_leaks_no_key_or_ciphertext_anywhere_in_the_console(
    staff_client, owner, owner_key, team, team_key, provider, fake, caplog
):
    caplog.set_level(logging.DEBUG)
    ciphertexts = {owner_key.ciphertext, team_key.ciphertext}
    for key in (owner_key, team_key):
        run_now(submit(owner, provider, key, prompt="[fake:echo_key] x"))
    staff_client.post(reverse("console:key_test", args=[team_key.pk]))
    staff_client.post(
        reverse("console:key_rotate", args=[team_key.pk]), {"secret": CANARY_KEY[::-1]}
    )
    staff_client.post(reverse("console:key_revoke", args=[owner_key.pk]))
    staff_client.post(
        reverse("console:key_new"),
        {"owner": f"team:{team.pk}", "provider": provider.pk, "secret": CANARY_KEY},
    )  # refused (team has a key): the form must not echo the secret
    staff_client.post(
        reverse("console:provider_edit", args=[provider.pk]),
        provider_form(name=provider.name, base_url=provider.base_url.replace("/v1", "/x")),
    )
    ciphertexts |= set(ApiKey.objects.values_list("ciphertext", flat=True))
    secrets = (
        CANARY_KEY,
        CANARY_KEY[:14],
        CANARY_KEY[-10:],
        TEAM_SECRET,
        TEAM_SECRET[-10:],
        CANARY_KEY[::-1],
        CANARY_KEY[::-1][-10:],
    )

    everything = {
        "p": provider.pk,
        "k": team_key.pk,
        "t": team.pk,
        "m": Membership.objects.get(team=team).pk,
        "l": Limit.objects.create(user=owner, max_concurrent_runs=3).pk,
    }
    texts = {"logs": caplog.text}
    for method, url in console_urls(everything):
        if method == "get":
            texts[url] = staff_client.get(url).content.decode()
    texts["owner key page"] = staff_client.get(reverse("console:key", args=[owner_key.pk])).content
    texts["csv by key"] = staff_client.get(reverse("console:usage_csv"), {"group": "key"}).content
    texts["audit rows"] = repr(list(AuditEvent.objects.values()))
    for where, text in texts.items():
        text = text.decode() if isinstance(text, bytes) else text
        for needle in (*secrets, *ciphertexts):
            assert needle not in text, f"{needle[:12]}… leaked in {where}"
    # And nothing in the console's own tables.
    with connection.cursor() as cursor:
        for table in ("console_auditevent", "console_limit"):
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - fixed table names
            for row in cursor.fetchall():
                for needle in (*secrets, *ciphertexts):
                    assert needle not in repr(row)
