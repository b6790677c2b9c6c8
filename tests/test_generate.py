from __future__ import annotations

import pytest
from django.urls import reverse

from playground.jobs.models import Run
from playground.studio.forms import GenerateForm


def form_data(provider, **overrides):
    data = {"provider": provider.pk, "model": "gpt-image-1", "prompt": "a red fox", "n": 2}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def make_form(owner, provider, **overrides):
    return GenerateForm(form_data(provider, **overrides), user=owner)


def test_it_sends_only_what_the_user_set(owner, owner_key):
    form = make_form(
        owner, owner_key.provider, quality="high", output_format="webp", output_compression=80
    )
    assert form.is_valid(), form.errors
    assert form.upstream_params() == {
        "model": "gpt-image-1",
        "prompt": "a red fox",
        "n": 2,
        "quality": "high",
        "output_format": "webp",
        "output_compression": 80,
    }


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"n": 11}, "n", "less than or equal to 10"),
        ({"n": 0}, "n", "greater than or equal to 1"),
        ({"model": "dall-e-3", "n": 2}, "n", "at most 1 image"),
        ({"model": "dall-e-2", "prompt": "x" * 1001}, "prompt", "at most 1,000 characters"),
        ({"model": "dall-e-3", "prompt": "x" * 4001}, "prompt", "at most 4,000 characters"),
        ({"output_compression": 50}, "output_compression", "only to jpeg or webp"),
        ({"output_format": "jpeg", "output_compression": 101}, "output_compression", "less than"),
        ({"size": "custom", "custom_size": "big"}, "custom_size", "WIDTHxHEIGHT"),
        ({"size": "custom"}, "custom_size", "Enter the custom size"),
        ({"size": "custom", "custom_size": "1000x1000"}, "custom_size", "takes these sizes"),
        (
            {"model": "gpt-image-2", "size": "custom", "custom_size": "1000x1000"},
            "custom_size",
            "multiples of 16",
        ),
        (
            {"model": "gpt-image-2", "size": "custom", "custom_size": "3200x960"},
            "custom_size",
            "between 1:3 and 3:1",
        ),
        ({"model": "dall-e-2", "size": "1536x1024"}, "size", "takes these sizes"),
        ({"model": "dall-e-3", "quality": "high"}, "quality", "takes quality standard, hd"),
        ({"model": "dall-e-3", "background": "transparent"}, "background", "Only the GPT image"),
        ({"model": "gpt-image-1", "style": "vivid"}, "style", "Only dall-e-3"),
        ({"background": "transparent", "output_format": "jpeg"}, "background", "png or webp"),
        ({"aspect_ratio": "16:9"}, "aspect_ratio", "not set up to take image_config"),
        ({"prompt": ""}, "prompt", "required"),
    ],
)
def test_it_validates_against_openais_rules(owner, owner_key, overrides, field, message):
    form = make_form(owner, owner_key.provider, **overrides)
    assert not form.is_valid()
    assert message in " ".join(form.errors[field]), form.errors


def test_it_accepts_custom_sizes_for_gpt_image_2_and_any_model_on_gateways(owner, owner_key):
    form = make_form(
        owner, owner_key.provider, model="gpt-image-2", size="custom", custom_size="1536x864"
    )
    assert form.is_valid(), form.errors
    assert form.upstream_params()["size"] == "1536x864"
    form = make_form(
        owner,
        owner_key.provider,
        model="vendor/some-image-model",
        size="custom",
        custom_size="1000x700",
        style="anime",
    )
    assert not form.is_valid()  # style is a choice field
    form = make_form(
        owner,
        owner_key.provider,
        model="vendor/some-image-model",
        size="custom",
        custom_size="1000x700",
    )
    assert form.is_valid(), form.errors


def test_it_sends_image_config_where_the_provider_takes_it(owner, owner_key):
    provider = owner_key.provider
    provider.supports_image_config = True
    provider.save()
    form = make_form(
        owner, provider, model="fake/image-model", aspect_ratio="16:9", image_size="2K"
    )
    assert form.is_valid(), form.errors
    params = form.upstream_params()
    assert params["aspect_ratio"] == "16:9" and params["image_size"] == "2K"


def test_it_requires_a_key_for_providers_that_need_one(owner, provider):
    form = make_form(owner, provider)
    assert not form.is_valid()
    assert "no API key" in str(form.errors["provider"])


def test_it_creates_a_queued_run_and_redirects_without_javascript(owner_client, owner_key):
    response = owner_client.post(reverse("studio:generate"), form_data(owner_key.provider))
    run = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("gallery:run", args=[run.pk])
    assert run.status == "queued" and run.api_key == owner_key
    assert run.params["n"] == 2 and run.params["provider"] == owner_key.provider_id


def test_it_returns_a_polling_card_to_htmx(owner_client, owner_key):
    response = owner_client.post(
        reverse("studio:generate"), form_data(owner_key.provider), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    run = Run.objects.get()
    assert f'id="run-{run.pk}"' in html
    assert 'hx-trigger="every 1s"' in html
    assert "Queued" in html


def test_it_keeps_everything_typed_when_invalid(owner_client, owner_key):
    data = form_data(
        owner_key.provider, n=42, prompt="keep this prompt", user="team-7", quality="high"
    )
    response = owner_client.post(reverse("studio:generate"), data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response["HX-Retarget"] == "#generate-form"
    assert "keep this prompt" in html and 'value="team-7"' in html
    assert '<option value="high" selected>' in html
    assert "less than or equal to 10" in html
    assert not Run.objects.exists()


def test_it_fills_the_form_from_a_run(owner_client, owner, owner_key):
    run = Run.objects.create(
        owner=owner,
        provider=owner_key.provider,
        provider_name="x",
        model="gpt-image-2",
        prompt="settings source",
        params={
            "provider": owner_key.provider_id,
            "model": "gpt-image-2",
            "prompt": "settings source",
            "n": 3,
            "size": "1536x864",
            "quality": "low",
        },
    )
    html = owner_client.get(reverse("studio:generate"), {"from": run.pk}).content.decode()
    assert "settings source" in html
    assert 'value="1536x864"' in html
    assert '<option value="custom" selected>' in html
    assert '<option value="low" selected>' in html


def test_it_labels_every_control(owner_client, owner_key):
    html = owner_client.get(reverse("studio:generate")).content.decode()
    for name in GenerateForm.base_fields:
        if name == "api_key":
            continue  # shown only when there is a choice to make (see the team key test)
        assert f'for="id_{name}"' in html, name
    assert "Number of images (n)" in html


@pytest.fixture
def team_key(owner, owner_key):
    from playground.accounts.models import Membership, Team
    from playground.providers.models import ApiKey

    team = Team.objects.create(name="Studio")
    Membership.objects.create(team=team, user=owner)
    key = ApiKey(team=team, provider=owner_key.provider, label="shared")
    key.set_secret("sk-team-secret-0000000000009999")
    key.save()
    return key


def test_it_lets_a_member_choose_a_team_key_without_seeing_it(owner_client, owner, team_key):
    html = owner_client.get(reverse("studio:generate")).content.decode()
    assert 'for="id_api_key"' in html
    assert "team Studio key (shared)" in html
    assert "9999" not in html and "sk-team" not in html
    keys_page = owner_client.get(reverse("providers:keys")).content.decode()
    assert "9999" not in keys_page
    data = form_data(team_key.provider, api_key=team_key.pk, team=team_key.team_id)
    assert owner_client.post(reverse("studio:generate"), data).status_code == 302
    run = Run.objects.get()
    assert run.api_key == team_key and run.team == team_key.team


def test_it_refuses_someone_elses_or_a_revoked_key(owner, outsider, team_key):
    from django.utils import timezone

    form = GenerateForm(form_data(team_key.provider, api_key=team_key.pk), user=outsider)
    assert not form.is_valid()
    assert "api_key" in form.errors
    team_key.revoked_at = timezone.now()
    team_key.save()
    form = GenerateForm(form_data(team_key.provider, api_key=team_key.pk), user=owner)
    assert not form.is_valid()
    assert "api_key" in form.errors
