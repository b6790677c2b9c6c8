"""The export: a zip of original images and one JSON sidecar per run, streamed, never a secret."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
import zipfile

from django.urls import reverse
from django.utils import timezone
from PIL import Image as PILImage

from playground.gallery.export import CHUNK_BYTES
from playground.gallery.models import Comment, Favourite, Rating, Review, RunTag, Tag
from playground.jobs.models import Image, Run
from tests.conftest import CANARY_KEY, png_bytes


def make_run(owner, provider, prompt="a red fox", images=1, **fields) -> Run:
    fields.setdefault("status", Run.Status.SUCCEEDED)
    run = Run.objects.create(
        owner=owner,
        provider=provider,
        provider_name=provider.name,
        model="gpt-image-1",
        prompt=prompt,
        params={"n": images, "quality": "low", "provider": provider.pk},
        **fields,
    )
    for index in range(images):
        Image.store(
            run,
            index,
            png_bytes(color=(20 * index, 80, 160)),
            image_format="PNG",
            width=64,
            height=48,
            revised_prompt=f"revised {index}",
        )
    return run


def download(client, **params) -> zipfile.ZipFile:
    response = client.get(reverse("gallery:export"), params)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="gallery-')
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    return archive


def test_it_exports_originals_and_a_sidecar_that_matches_the_database(
    owner_client, owner, provider, owner_key
):
    now = timezone.now()
    sent = {"method": "POST", "url": "u", "body": {"n": 2}}
    times = {"started_at": now, "upstream_started_at": now, "upstream_finished_at": now}
    run = make_run(
        owner,
        provider,
        images=2,
        api_key=owner_key,
        usage={"total_tokens": 42},
        finished_at=now,
        request=sent,
        **times,
    )
    run.params["api_key"] = owner_key.pk
    run.save()
    Rating.objects.create(run=run, user=owner, stars=4)
    RunTag.objects.create(run=run, tag=Tag.objects.create(name="keeper"))
    Comment.objects.create(run=run, author=owner, body="the second is better")
    Review.objects.create(run=run, state=Review.State.APPROVED, decided_by=owner, decided_at=now)
    Favourite.objects.create(run=run, user=owner)

    archive = download(owner_client, run=str(run.pk))
    folder = f"{timezone.localtime(run.created_at):%Y%m%d-%H%M%S}-{str(run.pk)[:8]}"
    images = list(run.images.all())
    assert sorted(archive.namelist()) == sorted(
        [f"{folder}/run.json"] + [f"{folder}/{i.download_name}" for i in images]
    )
    for image in images:
        assert archive.read(f"{folder}/{image.download_name}") == image.file.open("rb").read()
    sidecar = json.loads(archive.read(f"{folder}/run.json"))
    assert sidecar["id"] == str(run.pk)
    assert sidecar["prompt"] == run.prompt and sidecar["owner"] == "alice"
    assert sidecar["parameters"] == {"model": "gpt-image-1", "n": 2, "quality": "low"}
    assert sidecar["request"] == run.request and sidecar["usage"] == {"total_tokens": 42}
    assert sidecar["timings"]["finished_at"] == run.finished_at.isoformat()
    assert sidecar["timings"]["total_ms"] == run.total_ms
    assert [i["sha256"] for i in sidecar["images"]] == [i.sha256 for i in images]
    assert sidecar["images"][1]["revised_prompt"] == "revised 1"
    review = sidecar["review"]
    assert review["state"] == "approved" and review["decided_by"] == "alice"
    assert review["rating"] == {"average": 4.0, "count": 1, "by": [{"user": "alice", "stars": 4}]}
    assert review["tags"] == ["keeper"] and review["favourite"] is True
    assert review["comments"][0]["body"] == "the second is better"
    # Never a secret: not the key, not its hint, not even which key it was.
    raw = b"".join(archive.read(name) for name in archive.namelist())
    assert CANARY_KEY.encode() not in raw
    assert owner_key.hint.encode() not in raw and b"api_key" not in raw


def test_it_exports_the_filtered_view_or_chosen_images(owner_client, owner, provider):
    keep = make_run(owner, provider, prompt="keep me", images=2)
    make_run(owner, provider, prompt="leave me")
    RunTag.objects.create(run=keep, tag=Tag.objects.create(name="keeper"))
    archive = download(owner_client, tag="keeper")
    sidecars = [n for n in archive.namelist() if n.endswith("run.json")]
    assert len(sidecars) == 1 and json.loads(archive.read(sidecars[0]))["prompt"] == "keep me"
    second = keep.images.get(index=1)
    archive = download(owner_client, image=str(second.pk))
    pictures = [n for n in archive.namelist() if not n.endswith(".json")]
    assert pictures == [archive.namelist()[0]] and pictures[0].endswith(second.download_name)
    everything = download(owner_client)
    assert len([n for n in everything.namelist() if n.endswith("run.json")]) == 2


def test_it_says_when_an_image_file_is_missing(owner_client, owner, provider):
    run = make_run(owner, provider)
    image = run.images.get()
    image.file.storage.delete(image.file.name)
    archive = download(owner_client, run=str(run.pk))
    sidecar = json.loads(archive.read(next(n for n in archive.namelist() if n.endswith(".json"))))
    assert sidecar["images"][0]["missing"] is True and sidecar["images"][0]["file"] is None


def test_it_exports_failed_runs_with_their_error(owner_client, owner, provider):
    run = make_run(
        owner,
        provider,
        images=0,
        status=Run.Status.FAILED,
        error_kind="auth",
        error_message="Invalid key",
        error_status=401,
    )
    archive = download(owner_client, run=str(run.pk))
    sidecar = json.loads(archive.read(archive.namelist()[0]))
    assert sidecar["error"] == {"kind": "auth", "message": "Invalid key", "status": 401}
    assert sidecar["images"] == []


def noisy_png(seed: int, edge: int = 300) -> bytes:
    # Random pixels do not compress: each file is about edge² × 3 bytes.
    out = io.BytesIO()
    PILImage.frombytes("RGB", (edge, edge), os.urandom(edge * edge * 3)).save(out, "PNG")
    return out.getvalue()


def test_it_streams_without_holding_the_archive_in_memory(owner_client, owner, provider):
    count = 24
    for i in range(count):
        run = Run.objects.create(
            owner=owner,
            provider=provider,
            provider_name=provider.name,
            prompt=f"noise {i}",
            status=Run.Status.SUCCEEDED,
        )
        Image.store(run, 0, noisy_png(i), image_format="PNG", width=300, height=300)
    total_images = sum(i.bytes for i in Image.objects.all())
    assert total_images > 6_000_000

    response = owner_client.get(reverse("gallery:export"))
    chunks = 0
    largest = 0
    received = 0
    tracemalloc.start()
    try:
        for chunk in response.streaming_content:
            chunks += 1
            largest = max(largest, len(chunk))
            received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received > total_images
    assert chunks > count * 3  # many small pieces, not one archive at the end
    assert largest <= CHUNK_BYTES + 4096
    print(f"exported {received:,} bytes in {chunks} chunks, peak traced memory {peak:,} bytes")
    assert peak < total_images / 4, f"peak {peak:,} bytes while exporting {total_images:,}"
