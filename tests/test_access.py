from __future__ import annotations

import pytest
from django.urls import reverse

from playground.jobs.models import Image, Run
from tests.conftest import png_bytes


@pytest.fixture
def stored_run(owner, provider):
    run = Run.objects.create(
        owner=owner,
        provider=provider,
        provider_name=provider.name,
        model="gpt-image-1",
        prompt="private fox",
        params={"model": "gpt-image-1", "prompt": "private fox", "n": 1},
        status="succeeded",
    )
    Image.store(run, 0, png_bytes(), image_format="PNG", width=64, height=48)
    return run


@pytest.mark.parametrize(
    "name", ["studio:generate", "gallery:index", "providers:keys", "providers:models"]
)
def test_it_requires_login(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_it_shows_the_owner_their_run_and_images(owner_client, stored_run):
    image = stored_run.images.get()
    assert owner_client.get(reverse("gallery:run", args=[stored_run.pk])).status_code == 200
    assert owner_client.get(reverse("jobs:card", args=[stored_run.pk])).status_code == 286
    response = owner_client.get(reverse("gallery:image", args=[image.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == image.file.open("rb").read()
    thumb = owner_client.get(reverse("gallery:thumb", args=[image.pk]))
    assert thumb["Content-Type"] == "image/webp"
    download = owner_client.get(reverse("gallery:image", args=[image.pk]), {"download": "1"})
    assert "attachment" in download["Content-Disposition"]
    gallery = owner_client.get(reverse("gallery:index")).content.decode()
    assert "private fox" in gallery


def test_it_404s_others_runs_and_images(client, outsider, stored_run):
    client.force_login(outsider)
    image = stored_run.images.get()
    urls = [
        reverse("gallery:run", args=[stored_run.pk]),
        reverse("jobs:card", args=[stored_run.pk]),
        reverse("gallery:image", args=[image.pk]),
        reverse("gallery:thumb", args=[image.pk]),
        reverse("studio:generate") + f"?from={stored_run.pk}",
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    assert "private fox" not in client.get(reverse("gallery:index")).content.decode()


def test_it_paginates_the_gallery_newest_first(owner_client, owner, provider):
    for i in range(30):
        Run.objects.create(
            owner=owner,
            provider=provider,
            provider_name="p",
            model="m",
            prompt=f"prompt number {i:02d}",
            params={},
        )
    first = owner_client.get(reverse("gallery:index")).content.decode()
    assert "prompt number 29" in first and "prompt number 05" not in first
    second = owner_client.get(reverse("gallery:index"), {"page": 2}).content.decode()
    assert "prompt number 05" in second
