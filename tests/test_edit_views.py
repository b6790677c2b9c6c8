"""The edit page, its gallery picker, stored inputs' permissions, the run page and re-running."""

from __future__ import annotations

import pytest
from django.urls import reverse

from playground.accounts.models import Membership, Team
from playground.jobs.models import Image, Run, RunInput
from tests.conftest import CANARY_KEY, png_bytes, wait_for
from tests.test_edit_form import edit_data, image_bytes, mask_bytes, upload

API_NAMES = (
    "(model)",
    "(prompt)",
    "(image)",
    "(mask)",
    "(n)",
    "(size)",
    "(quality)",
    "(background)",
    "(output_format)",
    "(output_compression)",
    "(moderation)",
    "(input_fidelity)",
    "(watermark)",
    "(response_format)",
    "(user)",
)


def make_image(owner, provider, prompt="a red fox", size=(64, 48), team=None) -> Image:
    run = Run.objects.create(
        owner=owner,
        provider=provider,
        provider_name=provider.name,
        model="gpt-image-1",
        prompt=prompt,
        params={},
        status="succeeded",
        team=team,
    )
    return Image.store(run, 0, png_bytes(size), image_format="PNG", width=size[0], height=size[1])


def test_it_requires_login_for_the_edit_pages(client, db):
    for name in ("studio:edit", "studio:edit_picker"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_it_shows_every_parameter_labelled_with_its_api_name(owner_client, owner_key):
    page = owner_client.get(reverse("studio:edit")).content.decode()
    for name in API_NAMES:
        assert name in page, name
    assert 'enctype="multipart/form-data"' in page
    assert 'value="1024x1024" selected' in page  # the default size
    assert reverse("studio:edit") in page and 'aria-current="page">Edit<' in page
    assert "mask-painter.js" in page


def test_it_preselects_the_image_to_edit(owner_client, owner, owner_key):
    image = make_image(owner, owner_key.provider)
    page = owner_client.get(reverse("studio:edit"), {"image": str(image.pk)}).content.decode()
    assert f'value="{image.pk}" checked' in page
    assert page.count(f'value="{image.pk}"') == 1  # not offered a second time in the picker


def test_it_404s_editing_an_image_the_user_may_not_see(client, owner, outsider, provider):
    image = make_image(owner, provider)
    client.force_login(outsider)
    assert client.get(reverse("studio:edit"), {"image": str(image.pk)}).status_code == 404
    page = client.get(reverse("studio:edit")).content.decode()
    assert str(image.pk) not in page  # the picker only offers what the user may see


def test_it_pages_the_gallery_picker(owner_client, owner, owner_key):
    images = [make_image(owner, owner_key.provider, prompt=f"p{n}") for n in range(13)]
    page = owner_client.get(reverse("studio:edit")).content.decode()
    assert "More images" in page and "?picker_page=2" in page
    more = owner_client.get(
        reverse("studio:edit_picker"), {"page": 2, "exclude": str(images[-1].pk)}
    ).content.decode()
    # 12 per page, newest first, one excluded: the two oldest remain for page 2.
    assert str(images[0].pk) in more and str(images[1].pk) in more
    assert str(images[-1].pk) not in more and "More images" not in more
    assert "<html" not in more  # a fragment


def test_it_serves_stored_inputs_only_to_those_who_may_see_them(client, owner, outsider, owner_key):
    pending = RunInput.store(
        image_bytes(), owner=owner, source="upload", image_format="PNG", width=64, height=48
    )
    client.force_login(owner)
    response = client.get(reverse("jobs:input", args=[pending.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == pending.file.open("rb").read()
    thumb = client.get(reverse("jobs:input_thumb", args=[pending.pk]))
    assert thumb["Content-Type"] == "image/webp"
    client.force_login(outsider)
    for name in ("jobs:input", "jobs:input_thumb"):
        assert client.get(reverse(name, args=[pending.pk])).status_code == 404


def test_it_shows_a_teams_edit_inputs_to_its_members_only(client, owner, outsider, owner_key):
    team = Team.objects.create(name="studio")
    Membership.objects.create(team=team, user=owner)
    run = Run.objects.create(
        owner=owner,
        provider=owner_key.provider,
        provider_name="x",
        kind="edit",
        prompt="p",
        team=team,
    )
    item = RunInput.store(
        image_bytes(), owner=owner, source="upload", image_format="PNG", width=64, height=48
    )
    item.run = run
    item.save()
    client.force_login(outsider)
    assert client.get(reverse("jobs:input", args=[item.pk])).status_code == 404
    Membership.objects.create(team=team, user=outsider)
    assert client.get(reverse("jobs:input", args=[item.pk])).status_code == 200


def finished_edit(client, owner_key, **fields) -> Run:
    response = client.post(reverse("studio:edit"), edit_data(owner_key.provider, **fields))
    assert response.status_code == 302, response.context["form"].errors
    run = Run.objects.filter(kind="edit").latest("created_at")
    wait_for(lambda: Run.objects.get(pk=run.pk).is_finished)
    return Run.objects.get(pk=run.pk)


@pytest.mark.django_db(transaction=True)
def test_it_shows_references_and_mask_beside_the_results(owner_client, owner, owner_key, fake):
    image = make_image(owner, owner_key.provider, size=(64, 48))
    run = finished_edit(
        owner_client,
        owner_key,
        gallery=[str(image.pk)],
        urls="https://cdn.example.com/b.png",
        mask_painted=upload("painted-mask.png", mask_bytes((64, 48))),
    )
    assert run.status == "succeeded", run.error_message
    page = owner_client.get(reverse("gallery:run", args=[run.pk])).content.decode()
    side = page.split('class="run-side"', 1)[1]
    refs, mask = run.reference_inputs, run.mask_input
    assert reverse("jobs:input_thumb", args=[refs[0].pk]) in side
    assert "https://cdn.example.com/b.png" in side
    assert reverse("jobs:input_thumb", args=[mask.pk]) in side and "painted" in side
    result = run.images.get()
    assert f"{reverse('studio:edit')}?image={result.pk}" in page  # "Edit this image"
    card = owner_client.get(reverse("jobs:card", args=[run.pk])).content.decode()
    assert f"?image={result.pk}" in card


@pytest.mark.django_db(transaction=True)
def test_it_reruns_an_edit_without_uploading_again(owner_client, owner, owner_key, fake):
    # routescope takes `watermark`, which OpenAI refuses.
    owner_key.provider.base_url = fake.base_url("routescope")
    owner_key.provider.save()
    owner_key.set_secret(CANARY_KEY)
    owner_key.save()
    run = finished_edit(
        owner_client,
        owner_key,
        files=[upload("photo.png", image_bytes((64, 48)))],
        urls="https://cdn.example.com/b.png",
        mask_file=upload("mask.png", mask_bytes((64, 48))),
        quality="low",
        watermark="true",
    )
    # "Use these settings" of an edit leads to the edit page with the stored inputs kept.
    response = owner_client.get(reverse("studio:generate"), {"from": str(run.pk)})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('studio:edit')}?from={run.pk}"
    page = owner_client.get(response["Location"])
    form = page.context["form"]
    assert [i.pk for i in form.chosen_inputs] == [i.pk for i in run.reference_inputs]
    assert form.kept_mask.pk == run.mask_input.pk
    assert form["quality"].value() == "low" and form["watermark"].value() == "true"
    assert form["prompt"].value() == run.prompt

    # Submitting the page as it is (what the browser sends) repeats the edit.
    again = finished_edit(
        owner_client,
        owner_key,
        references=[str(i.pk) for i in form.chosen_inputs],
        mask_keep=str(form.kept_mask.pk),
        quality="low",
        watermark="true",
    )
    assert run.status == "succeeded", run.error_message
    assert again.pk != run.pk and again.status == "succeeded", again.error_message
    assert again.request["body"]["watermark"] is True
    old, new = run.reference_inputs, again.reference_inputs
    assert [i.source for i in new] == ["upload", "url"]
    assert new[0].file.name == old[0].file.name and new[0].pk != old[0].pk  # shared bytes
    assert again.mask_input.file.name == run.mask_input.file.name
    assert RunInput.objects.filter(run=run).count() == 3  # the original keeps its own inputs


def test_it_lets_a_teammate_repeat_a_shared_edit(client, owner, outsider, owner_key, fake):
    from playground.providers.models import ApiKey

    team = Team.objects.create(name="studio")
    Membership.objects.create(team=team, user=owner)
    Membership.objects.create(team=team, user=outsider)
    run = Run.objects.create(
        owner=owner,
        provider=owner_key.provider,
        provider_name="x",
        kind="edit",
        prompt="p",
        team=team,
        params={"model": "gpt-image-1", "prompt": "p"},
    )
    item = RunInput.store(
        image_bytes(), owner=owner, source="upload", image_format="PNG", width=64, height=48
    )
    RunInput.objects.filter(pk=item.pk).update(run=run)
    key = ApiKey(user=outsider, provider=owner_key.provider)
    key.set_secret("sk-teammate-key-0000")
    key.save()
    client.force_login(outsider)
    response = client.post(
        reverse("studio:edit"), edit_data(owner_key.provider, references=[str(item.pk)])
    )
    assert response.status_code == 302
    mine = Run.objects.filter(owner=outsider).get()
    assert mine.reference_inputs[0].file.name == item.file.name
    assert mine.reference_inputs[0].owner == outsider


@pytest.mark.parametrize("field", ["references", "mask_keep"])
def test_it_does_not_reuse_inputs_of_runs_the_user_cannot_see(
    client, owner, outsider, owner_key, field
):
    run = Run.objects.create(
        owner=owner, provider=owner_key.provider, provider_name="x", kind="edit", prompt="p"
    )
    item = RunInput.store(
        mask_bytes(), owner=owner, source="upload", image_format="PNG", width=64, height=48
    )
    RunInput.objects.filter(pk=item.pk).update(run=run)
    client.force_login(outsider)
    response = client.post(
        reverse("studio:edit"),
        edit_data(
            owner_key.provider, urls="https://cdn.example.com/a.png", **{field: str(item.pk)}
        ),
    )
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert client.get(reverse("studio:edit"), {"from": str(run.pk)}).status_code == 404
