"""The edit form: one test per validation rule, and nothing entered is lost on an error."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from PIL import Image as PILImage

from playground.jobs import params
from playground.jobs.models import Image, Run, RunInput
from tests.conftest import png_bytes

URL_A = "https://cdn.example.com/a.png"
URL_B = "https://cdn.example.com/b.png"


def image_bytes(size=(64, 48), fmt="PNG", mode="RGB", color=(200, 40, 40)) -> bytes:
    out = io.BytesIO()
    PILImage.new(mode, size, color).save(out, fmt)
    return out.getvalue()


def mask_bytes(size=(64, 48), hole=(8, 8, 32, 32)) -> bytes:
    """An RGBA mask: opaque everywhere except a transparent rectangle (where to edit)."""
    image = PILImage.new("RGBA", size, (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), hole)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims ten billion pixels: decoding it would eat the machine."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def edit_data(provider, **overrides) -> dict:
    data = {
        "provider": provider.pk,
        "model": "gpt-image-1",
        "prompt": "put a hat on it",
        "n": 1,
        "size": "1024x1024",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post_edit(client, provider, **overrides):
    return client.post(reverse("studio:edit"), edit_data(provider, **overrides))


def edit_runs():
    return Run.objects.filter(kind=Run.Kind.EDIT)


def edit_run() -> Run:
    return edit_runs().get()


def errors_of(response, field: str) -> str:
    assert response.status_code == 200, response.status_code
    return " ".join(response.context["form"].errors.get(field, []))


@pytest.fixture
def gallery_image(owner, provider) -> Image:
    run = Run.objects.create(
        owner=owner,
        provider=provider,
        provider_name=provider.name,
        model="gpt-image-1",
        prompt="a red fox",
        params={"model": "gpt-image-1", "prompt": "a red fox"},
        status="succeeded",
    )
    return Image.store(run, 0, png_bytes((64, 48)), image_format="PNG", width=64, height=48)


# --- references ---------------------------------------------------------------------------------


def test_it_requires_at_least_one_reference(owner_client, owner_key):
    response = post_edit(owner_client, owner_key.provider)
    assert "at least one reference image" in errors_of(response, "references")
    assert not edit_runs().exists()


def test_it_accepts_http_urls_and_sends_them_in_order(owner_client, owner_key):
    response = post_edit(owner_client, owner_key.provider, urls=f"{URL_A}\n\n  {URL_B}  \n")
    run = edit_run()
    assert response.status_code == 302 and response["Location"].endswith(f"/runs/{run.pk}/")
    assert run.kind == "edit"
    assert [(i.source, i.url, i.position) for i in run.reference_inputs] == [
        ("url", URL_A, 0),
        ("url", URL_B, 1),
    ]
    assert run.mask_input is None


@pytest.mark.parametrize(
    "line",
    [
        "ftp://cdn.example.com/a.png",
        "javascript:alert(1)",
        "cdn.example.com/a.png",
        "data:text/plain;base64,aGVsbG8=",
        "https://user:pw@cdn.example.com/a.png",
    ],
)
def test_it_refuses_urls_that_are_not_http_or_data_image(owner_client, owner_key, line):
    response = post_edit(owner_client, owner_key.provider, urls=f"{URL_A}\n{line}")
    assert "Line 2" in errors_of(response, "urls")
    assert not edit_runs().exists()
    page = response.content.decode()
    # The bad line stays in the box to be fixed; the good one is kept as a chosen reference.
    assert line.replace("&", "&amp;") in page or line in response.context["form"].data["urls"]
    assert response.context["form"].data["urls"] == line
    assert [i.url for i in response.context["form"].chosen_inputs] == [URL_A]


def test_it_takes_a_pasted_data_url_and_stores_it_as_a_file(owner_client, owner_key):
    import base64

    data_url = "data:image/png;base64," + base64.b64encode(image_bytes((40, 40))).decode()
    post_edit(owner_client, owner_key.provider, urls=data_url)
    item = edit_run().reference_inputs[0]
    assert (item.source, item.is_stored, item.size_label) == ("pasted", True, "40x40")


def test_it_refuses_a_data_url_that_is_not_base64(owner_client, owner_key):
    response = post_edit(owner_client, owner_key.provider, urls="data:image/png;base64,@@@")
    assert "not valid base64" in errors_of(response, "urls")


def test_it_takes_at_most_16_references(owner_client, owner_key):
    urls = "\n".join(f"https://cdn.example.com/{n}.png" for n in range(17))
    response = post_edit(owner_client, owner_key.provider, urls=urls)
    assert "at most 16 reference images; you gave 17" in errors_of(response, "references")
    sixteen = "\n".join(f"https://cdn.example.com/{n}.png" for n in range(16))
    assert post_edit(owner_client, owner_key.provider, urls=sixteen).status_code == 302


def test_it_refuses_uploads_over_the_size_cap(owner_client, owner_key, settings):
    data = image_bytes((64, 48))
    settings.MAX_UPLOAD_BYTES = len(data) - 1
    response = post_edit(owner_client, owner_key.provider, files=[upload("big.png", data)])
    assert "big.png" in errors_of(response, "files")
    assert "uploads may be at most" in errors_of(response, "files")
    assert not RunInput.objects.exists()


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("anim.gif", image_bytes(fmt="GIF", mode="P", color=1), "image/gif"),
        ("old.bmp", image_bytes(fmt="BMP"), "image/bmp"),
        ("fake.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png"),
        ("empty.png", b"", "image/png"),
    ],
)
def test_it_refuses_formats_outside_the_allowlist(
    owner_client, owner_key, name, data, content_type
):
    response = post_edit(owner_client, owner_key.provider, files=[upload(name, data, content_type)])
    message = errors_of(response, "files")
    assert name in message or "empty" in message
    assert not edit_runs().exists()


def test_it_accepts_png_jpeg_and_webp_uploads(owner_client, owner_key):
    files = [
        upload("a.png", image_bytes(fmt="PNG")),
        upload("b.jpg", image_bytes(fmt="JPEG"), "image/jpeg"),
        upload("c.webp", image_bytes(fmt="WEBP"), "image/webp"),
    ]
    assert post_edit(owner_client, owner_key.provider, files=files).status_code == 302
    refs = edit_run().reference_inputs
    assert [(i.format, i.name, i.source) for i in refs] == [
        ("PNG", "a.png", "upload"),
        ("JPEG", "b.jpg", "upload"),
        ("WEBP", "c.webp", "upload"),
    ]


def test_it_refuses_decompression_bombs(owner_client, owner_key):
    response = post_edit(owner_client, owner_key.provider, files=[upload("bomb.png", bomb_png())])
    message = errors_of(response, "files")
    assert "bomb.png" in message and "too large to decode" in message
    assert not RunInput.objects.exists()


def test_it_refuses_images_over_the_pixel_cap(owner_client, owner_key, settings):
    settings.MAX_IMAGE_PIXELS = 100 * 100
    response = post_edit(
        owner_client, owner_key.provider, files=[upload("wide.png", image_bytes((200, 100)))]
    )
    assert "200x100 pixels; at most 10000 pixels" in errors_of(response, "files")


def test_it_refuses_gallery_images_the_user_may_not_see(client, outsider, owner_key, gallery_image):
    client.force_login(outsider)
    provider = owner_key.provider
    response = client.post(
        reverse("studio:edit"),
        edit_data(provider, gallery=[str(gallery_image.pk)]),
    )
    assert "not available to you" in errors_of(response, "gallery")


# --- the mask -----------------------------------------------------------------------------------


def test_it_refuses_a_mask_without_any_reference(owner_client, owner_key):
    response = post_edit(
        owner_client, owner_key.provider, mask_file=upload("mask.png", mask_bytes())
    )
    assert "A mask needs a reference image" in errors_of(response, "mask_file")


def test_it_refuses_a_mask_whose_size_differs_from_the_first_reference(owner_client, owner_key):
    response = post_edit(
        owner_client,
        owner_key.provider,
        files=[upload("photo.png", image_bytes((64, 48)))],
        mask_file=upload("mask.png", mask_bytes((48, 48))),
    )
    message = errors_of(response, "mask_file")
    assert "The mask is 48×48 pixels but the first reference is 64×48" in message
    assert not edit_runs().exists()


def test_it_checks_a_painted_mask_against_the_first_gallery_pick(
    owner_client, owner_key, gallery_image
):
    wrong = post_edit(
        owner_client,
        owner_key.provider,
        gallery=[str(gallery_image.pk)],
        mask_painted=upload("painted-mask.png", mask_bytes((32, 32))),
    )
    assert "first reference is 64×48" in errors_of(wrong, "mask_painted")
    right = post_edit(
        owner_client,
        owner_key.provider,
        gallery=[str(gallery_image.pk)],
        mask_painted=upload("painted-mask.png", mask_bytes((64, 48))),
    )
    assert right.status_code == 302
    run = edit_run()
    assert run.mask_input.source == "painted" and run.mask_input.size_label == "64x48"
    assert run.reference_inputs[0].picked_from == gallery_image.pk


def test_it_allows_a_mask_when_the_first_references_size_is_unknown(owner_client, owner_key):
    response = post_edit(
        owner_client,
        owner_key.provider,
        urls=URL_A,
        mask_file=upload("mask.png", mask_bytes((48, 48))),
    )
    assert response.status_code == 302


def test_it_refuses_a_mask_that_cannot_mark_anything(owner_client, owner_key):
    refs = {"urls": URL_A}
    opaque = post_edit(
        owner_client, owner_key.provider, mask_file=upload("m.png", image_bytes()), **refs
    )
    assert "has no transparency" in errors_of(opaque, "mask_file")
    jpeg = post_edit(
        owner_client,
        owner_key.provider,
        mask_file=upload("m.jpg", image_bytes(fmt="JPEG"), "image/jpeg"),
        **refs,
    )
    assert "must be a PNG" in errors_of(jpeg, "mask_file")


def test_it_refuses_two_masks_at_once(owner_client, owner_key):
    response = post_edit(
        owner_client,
        owner_key.provider,
        urls=URL_A,
        mask_file=upload("mask.png", mask_bytes()),
        mask_url="https://cdn.example.com/mask.png",
    )
    assert "one way only" in errors_of(response, "mask_url")


def test_it_refuses_a_mask_url_that_is_not_http(owner_client, owner_key):
    response = post_edit(owner_client, owner_key.provider, urls=URL_A, mask_url="file:///etc/x")
    assert "The mask URL is not an http(s) URL" in errors_of(response, "mask_url")
    assert response.context["form"].data["mask_url"] == "file:///etc/x"


# --- model rules --------------------------------------------------------------------------------


def test_it_refuses_dall_e_3_edits(owner_client, owner_key):
    response = post_edit(owner_client, owner_key.provider, model="dall-e-3", urls=URL_A)
    assert "dall-e-3 cannot edit images" in errors_of(response, "model")


def test_it_keeps_dall_e_2_to_one_square_png_in_multipart(owner_client, owner_key):
    provider = owner_key.provider
    json_mode = post_edit(owner_client, provider, model="dall-e-2", urls=URL_A)
    assert "multipart uploads only" in errors_of(json_mode, "model")
    provider.edit_mode = "multipart"
    provider.save()
    two = post_edit(owner_client, provider, model="dall-e-2", urls=f"{URL_A}\n{URL_B}")
    assert "exactly one reference" in errors_of(two, "references")
    wide = post_edit(
        owner_client, provider, model="dall-e-2", files=[upload("w.png", image_bytes((64, 48)))]
    )
    assert "square PNG" in errors_of(wide, "references")


def test_it_refuses_input_fidelity_where_the_model_lacks_it(owner_client, owner_key):
    response = post_edit(
        owner_client,
        owner_key.provider,
        model="gpt-image-1-mini",
        urls=URL_A,
        input_fidelity="high",
    )
    assert "does not take input_fidelity" in errors_of(response, "input_fidelity")


def test_it_sends_the_edit_options_it_was_given(owner_client, owner_key):
    post_edit(
        owner_client,
        owner_key.provider,
        urls=URL_A,
        n=2,
        size="auto",
        quality="high",
        input_fidelity="high",
        background="transparent",
        output_format="webp",
        output_compression=80,
        moderation="low",
        response_format="b64_json",
        watermark="false",
        user="user-42",
    )
    run = edit_run()
    assert params.upstream(run) == {
        "model": "gpt-image-1",
        "prompt": "put a hat on it",
        "n": 2,
        "size": "auto",
        "quality": "high",
        "input_fidelity": "high",
        "background": "transparent",
        "output_format": "webp",
        "output_compression": 80,
        "moderation": "low",
        "response_format": "b64_json",
        "watermark": False,
        "user": "user-42",
    }


# --- nothing entered is lost --------------------------------------------------------------------


def test_it_keeps_everything_on_an_invalid_submission_uploads_included(
    owner_client, owner_key, gallery_image
):
    provider = owner_key.provider
    first = post_edit(
        owner_client,
        provider,
        n=11,
        prompt="keep me",
        gallery=[str(gallery_image.pk)],
        files=[upload("photo.png", image_bytes((64, 48), color=(1, 2, 3)))],
        urls=URL_A,
        mask_file=upload("mask.png", mask_bytes((64, 48))),
    )
    assert "less than or equal to 10" in errors_of(first, "n")
    assert not edit_runs().exists()
    form = first.context["form"]
    assert form.data["prompt"] == "keep me"
    kept = form.chosen_inputs
    # Same order as submitted: gallery pick, upload, URL; all pending, owned by the user.
    assert [i.source for i in kept] == ["gallery", "upload", "url"]
    assert all(i.run_id is None and i.owner == owner_key.user for i in kept)
    assert form.kept_mask is not None and form.kept_mask.source == "upload"
    page = first.content.decode()
    for item in kept[:2]:
        assert reverse("jobs:input_thumb", args=[item.pk]) in page  # previews
    assert reverse("jobs:input_thumb", args=[form.kept_mask.pk]) in page
    assert 'name="prompt"' in page and "keep me" in page

    # Fixing only the bad field is enough: no upload, no pick, no URL again.
    second = post_edit(
        owner_client,
        provider,
        n=1,
        prompt="keep me",
        references=[str(i.pk) for i in kept],
        mask_keep=str(form.kept_mask.pk),
    )
    assert second.status_code == 302
    run = edit_run()
    assert [i.pk for i in run.reference_inputs] == [i.pk for i in kept]
    assert [i.position for i in run.reference_inputs] == [0, 1, 2]
    assert run.mask_input.pk == form.kept_mask.pk
    assert not RunInput.objects.filter(run__isnull=True).exists()


def test_it_refuses_someone_elses_pending_upload(client, owner, outsider, owner_key):
    theirs = RunInput.store(
        image_bytes(), owner=owner, source="upload", image_format="PNG", width=64, height=48
    )
    client.force_login(outsider)
    response = client.post(
        reverse("studio:edit"), edit_data(owner_key.provider, references=[str(theirs.pk)])
    )
    assert "no longer available" in errors_of(response, "references")


def test_it_drops_a_kept_reference_that_is_unticked(owner_client, owner, owner_key):
    kept = RunInput.store(
        image_bytes(), owner=owner, source="upload", image_format="PNG", width=64, height=48
    )
    response = post_edit(owner_client, owner_key.provider, urls=URL_A)
    assert response.status_code == 302
    assert [i.url for i in edit_run().reference_inputs] == [URL_A]
    kept.refresh_from_db()
    assert kept.run_id is None


def test_it_sweeps_pending_uploads_after_a_day(owner, owner_key, media_root):
    from datetime import timedelta

    from django.utils import timezone

    old = RunInput.store(
        image_bytes(), owner=owner, source="upload", image_format="PNG", width=64, height=48
    )
    RunInput.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    fresh = RunInput.store(
        image_bytes((10, 10)), owner=owner, source="upload", image_format="PNG", width=10, height=10
    )
    out = io.StringIO()
    call_command("sweep_runs", stdout=out)
    assert "1 pending edit upload(s) deleted" in out.getvalue()
    assert list(RunInput.objects.all()) == [fresh]
    assert not old.file.storage.exists(old.file.name)
    assert fresh.file.storage.exists(fresh.file.name)


def test_it_keeps_the_other_references_when_one_is_gone(owner_client, owner, owner_key):
    kept = RunInput.store(
        image_bytes(), owner=owner, source="upload", image_format="PNG", width=64, height=48
    )
    gone = "00000000-0000-4000-8000-000000000000"
    response = post_edit(owner_client, owner_key.provider, references=[str(kept.pk), gone])
    assert "no longer available" in errors_of(response, "references")
    assert response.context["form"].chosen_inputs == [kept]
