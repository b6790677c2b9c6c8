"""`manage.py rotate_key_encryption`: encrypt under A, rotate to B, remove A, all keys decrypt."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.utils import timezone

from playground.accounts.models import Team
from playground.audit.models import AuditEvent
from playground.providers import crypto
from playground.providers.models import ApiKey
from tests.conftest import CANARY_KEY

SECRETS = {
    "alice": CANARY_KEY,
    "team": "sk-" + "team-rotation-99887766554433221100",
    "revoked": "sk-" + "revoked-rotation-11223344556677889900",
}


@pytest.fixture
def key_a(settings) -> str:
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    return settings.ENCRYPTION_KEYS[0]


@pytest.fixture
def keys(key_a, owner, outsider, provider):
    team = Team.objects.create(name="Ops")
    made = {
        "alice": ApiKey(user=owner, provider=provider),
        "team": ApiKey(team=team, provider=provider),
        "revoked": ApiKey(user=outsider, provider=provider, revoked_at=timezone.now()),
    }
    for name, key in made.items():
        key.set_secret(SECRETS[name])
        key.save()
    return made


def rotate(*args) -> str:
    out = io.StringIO()
    call_command("rotate_key_encryption", *args, stdout=out)
    return out.getvalue()


def test_it_reencrypts_every_key_so_the_old_encryption_key_can_go(settings, key_a, keys):
    key_b = Fernet.generate_key().decode()
    before = {k.pk: (k.ciphertext, k.updated_at) for k in ApiKey.objects.all()}
    settings.ENCRYPTION_KEYS = [key_b, key_a]
    assert rotate() == "3 keys re-encrypted under the newest key.\n"
    settings.ENCRYPTION_KEYS = [key_b]  # A removed
    for name, key in keys.items():
        stored = ApiKey.objects.get(pk=key.pk)
        assert crypto.decrypt(stored.ciphertext) == SECRETS[name]
        assert stored.ciphertext != before[key.pk][0]
        assert stored.updated_at == before[key.pk][1]  # the secret itself did not change
    assert ApiKey.objects.get(pk=keys["alice"].pk).reveal() == CANARY_KEY
    event = AuditEvent.objects.get(action="encryption.rotated")
    assert event.actor_name == "system" and event.details == {"keys": 3, "failed": 0}


def test_it_changes_nothing_in_a_dry_run(settings, key_a, keys):
    before = sorted(ApiKey.objects.values_list("ciphertext", flat=True))
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode(), key_a]
    assert rotate("--dry-run") == "3 keys can be re-encrypted.\n"
    assert sorted(ApiKey.objects.values_list("ciphertext", flat=True)) == before
    assert not AuditEvent.objects.exists()


def test_it_names_keys_it_cannot_decrypt_without_showing_them(settings, key_a, keys):
    lost = keys["team"]
    settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # a key that is later lost
    lost.ciphertext = crypto.encrypt("sk-" + "under-a-lost-key-000000000000")
    lost.save()
    key_c = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [key_c, key_a]
    with pytest.raises(CommandError) as error:
        rotate()
    message = str(error.value)
    assert f"#{lost.pk} Fake OpenAI {lost.hint} (team Ops)" in message
    assert lost.ciphertext not in message and "sk-under-a-lost-key" not in message
    settings.ENCRYPTION_KEYS = [key_c]
    assert ApiKey.objects.get(pk=keys["alice"].pk).reveal() == CANARY_KEY
    assert AuditEvent.objects.get().details == {"keys": 2, "failed": 1}
