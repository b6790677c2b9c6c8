from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse

from playground.providers import crypto
from playground.providers.models import ApiKey, Provider
from tests.conftest import CANARY_KEY


def test_it_encrypts_keys_and_shows_only_a_hint(owner, provider):
    key = ApiKey(user=owner, provider=provider)
    key.set_secret(CANARY_KEY)
    key.save()
    stored = ApiKey.objects.values("ciphertext", "hint").get(pk=key.pk)
    assert CANARY_KEY not in stored["ciphertext"]
    assert stored["hint"] == "sk-…b7a6"
    assert key.reveal() == CANARY_KEY


def test_it_decrypts_with_an_older_key_after_rotation(settings, owner, provider):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [old]
    token = crypto.encrypt(CANARY_KEY)
    settings.ENCRYPTION_KEYS = [new, old]
    assert crypto.decrypt(token) == CANARY_KEY
    rotated = crypto.rotate(token)
    settings.ENCRYPTION_KEYS = [new]
    assert crypto.decrypt(rotated) == CANARY_KEY
    with pytest.raises(crypto.KeyDecryptionError):
        crypto.decrypt(token)


def test_it_requires_reentry_when_the_provider_moves(owner_key):
    provider = owner_key.provider
    provider.base_url = "https://elsewhere.example.com/v1/"
    provider.save()
    owner_key.refresh_from_db()
    assert owner_key.needs_reentry
    with pytest.raises(crypto.KeyDecryptionError):
        owner_key.reveal()


def test_it_accepts_base_urls_with_or_without_v1(db):
    a = Provider.objects.create(name="A", base_url="https://api.example.com")
    b = Provider.objects.create(name="B", base_url="https://api.example.com/v1/")
    assert a.base_url == b.base_url == "https://api.example.com/v1"


def test_it_saves_replaces_and_deletes_a_key(owner_client, owner, provider):
    url = reverse("providers:save_key", args=[provider.pk])
    response = owner_client.post(
        url, {f"p{provider.pk}-secret": CANARY_KEY, f"p{provider.pk}-label": "mine"}
    )
    assert response.status_code == 302
    key = ApiKey.objects.get(user=owner, provider=provider)
    assert key.label == "mine"
    page = owner_client.get(reverse("providers:keys"))
    html = page.content.decode()
    assert "sk-…b7a6" in html
    assert CANARY_KEY not in html and key.ciphertext not in html

    owner_client.post(url, {f"p{provider.pk}-secret": "sk-replacement-0123456789wxyz"})
    key.refresh_from_db()
    assert key.hint == "sk-…wxyz"
    assert ApiKey.objects.filter(user=owner).count() == 1

    owner_client.post(reverse("providers:delete_key", args=[key.pk]))
    assert not ApiKey.objects.filter(user=owner).exists()


def test_it_keeps_the_label_and_explains_a_bad_key(owner_client, provider):
    url = reverse("providers:save_key", args=[provider.pk])
    response = owner_client.post(
        url, {f"p{provider.pk}-secret": "has space", f"p{provider.pk}-label": "kept"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "An API key has no spaces" in html
    assert 'value="kept"' in html
    assert "has space" not in html  # a password field never echoes what was typed


def test_it_404s_for_someone_elses_key(client, outsider, owner_key):
    client.force_login(outsider)
    assert client.post(reverse("providers:test_key", args=[owner_key.pk])).status_code == 404
    assert client.post(reverse("providers:delete_key", args=[owner_key.pk])).status_code == 404
    assert ApiKey.objects.filter(pk=owner_key.pk).exists()


def test_it_tests_a_key_against_the_models_endpoint(owner_client, owner_key, fake):
    response = owner_client.post(
        reverse("providers:test_key", args=[owner_key.pk]), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "OK" in html and "models available" in html
    assert fake.app.requests[-1]["headers"]["authorization"] == f"Bearer {CANARY_KEY}"
    owner_key.provider.refresh_from_db()
    assert "gpt-image-1" in owner_key.provider.models_catalogue


def test_it_shows_the_upstream_error_without_the_key_when_a_test_fails(
    owner_client, owner_key, fake
):
    fake.app.config.required_key = "sk-the-right-one-000000000000"
    response = owner_client.post(
        reverse("providers:test_key", args=[owner_key.pk]), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "Incorrect API key" in html
    assert CANARY_KEY not in html and CANARY_KEY[-8:] not in html
    owner_key.refresh_from_db()
    assert owner_key.last_test_ok is False
    assert CANARY_KEY[-8:] not in owner_key.last_test_message


def test_it_lists_models_for_the_generate_form(owner_client, owner_key):
    response = owner_client.get(reverse("providers:models"), {"provider": owner_key.provider_id})
    html = response.content.decode()
    assert '<option value="gpt-image-1">' in html
