"""Edit runs end to end against the fake gateway, one test per request mode and field."""

from __future__ import annotations

import httpx
import pytest

from playground.jobs.models import Run, RunInput
from playground.jobs.runner import execute_run
from playground.upstream.fetch import FetchPolicy
from playground.upstream.prepare import InputImage, Target, prepare_edit
from playground.upstream.requests import Dialect, build_edit_json_body
from tests.conftest import CANARY_KEY
from tests.test_edit_form import image_bytes, mask_bytes
from tests.test_upstream_requests import validate

URL_A = "https://cdn.example.com/a.png"


def stored(owner, size=(64, 48), fmt="PNG", source="upload", data=None) -> RunInput:
    data = data or image_bytes(size, fmt=fmt)
    return RunInput.store(
        data, owner=owner, source=source, image_format=fmt, width=size[0], height=size[1]
    )


def url_input(owner, url: str = URL_A) -> RunInput:
    return RunInput.objects.create(owner=owner, source="url", url=url)


def make_edit(owner, key, references, mask=None, **params) -> Run:
    params = {"n": 1, **params}
    run = Run.objects.create(
        owner=owner,
        provider=key.provider,
        provider_name=key.provider.name,
        api_key=key,
        kind=Run.Kind.EDIT,
        model=params.pop("model", "gpt-image-1"),
        prompt=params.pop("prompt", "add a red hat"),
        params={"provider": key.provider_id, **params},
    )
    for position, item in enumerate(references):
        item.run, item.role, item.position = run, "reference", position
        item.save()
    if mask is not None:
        mask.run, mask.role = run, "mask"
        mask.save()
    return run


def mask_input(owner, size=(64, 48)) -> RunInput:
    return stored(owner, size, data=mask_bytes(size), source="painted")


def set_mode(key, mode: str, dialect: str = "openai"):
    provider = key.provider
    provider.edit_mode = mode
    if dialect != "openai":
        provider.base_url = provider.base_url.replace("/v1", f"/{dialect}/v1")
    provider.save()
    if dialect != "openai":
        key.set_secret(CANARY_KEY)  # a key is re-entered for a new address
        key.save()


def edit_record(fake) -> dict:
    posts = [r for r in fake.app.requests if r["path"].endswith("/images/edits")]
    assert len(posts) == 1, posts
    return posts[0]


def run_it(run: Run) -> Run:
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def fake_image_url(fake) -> str:
    """A 256x256 PNG the fake serves on its own host (the provider's origin, so fetchable)."""
    response = httpx.post(
        fake.base_url() + "/images/generations",
        json={"model": "dall-e-2", "prompt": "a reference", "size": "256x256"},
        headers={"Authorization": f"Bearer {CANARY_KEY}"},
    )
    url = response.json()["data"][0]["url"]
    fake.app.requests.clear()
    return url


# --- JSON modes -----------------------------------------------------------------------------


def test_it_sends_json_images_with_data_urls_and_urls(owner, owner_key, fake):
    run = make_edit(
        owner, owner_key, [stored(owner), url_input(owner)], mask_input(owner), size="1024x1024"
    )
    run = run_it(run)
    assert run.status == "succeeded", run.error_message
    assert run.images.count() == 1
    record = edit_record(fake)
    edit = record["edit"]
    assert (edit["mode"], edit["image_field"], edit["image_count"]) == ("json", "images", 2)
    assert edit["image_sizes"] == ["64x48", None]
    assert [i["source"] for i in edit["images"]] == ["data_url", "url"]
    assert edit["images"][1]["url"] == URL_A
    assert edit["mask"] is True and edit["mask_size"] == "64x48"
    assert edit["mask_info"]["source"] == "data_url"
    body = run.request["body"]
    assert run.request["url"].endswith("/v1/images/edits")
    assert body["images"][0]["image_url"].startswith("data:image/png;base64,<")
    assert body["images"][1] == {"image_url": URL_A}
    assert isinstance(body["mask"], str) and body["mask"].startswith("data:image/png;base64,<")
    assert {k: v for k, v in body.items() if k not in ("images", "mask")} == {
        "model": "gpt-image-1",
        "prompt": "add a red hat",
        "n": 1,
        "size": "1024x1024",
    }
    assert CANARY_KEY not in str(run.request)


def test_it_sends_one_image_as_a_string_in_image_mode(owner, owner_key, fake):
    set_mode(owner_key, "json_image", "routescope")
    run = run_it(make_edit(owner, owner_key, [url_input(owner)], model="gpt-image-2"))
    assert run.status == "succeeded", run.error_message
    assert run.request["body"]["image"] == URL_A
    edit = edit_record(fake)["edit"]
    assert (edit["image_field"], edit["image_count"]) == ("image", 1)


def test_it_sends_several_images_as_a_list_in_image_mode(owner, owner_key, fake):
    set_mode(owner_key, "json_image", "routescope")
    refs = [stored(owner, (32, 32)), url_input(owner)]
    run = run_it(make_edit(owner, owner_key, refs, model="gpt-image-2"))
    assert run.status == "succeeded", run.error_message
    image = run.request["body"]["image"]
    assert isinstance(image, list) and image[1] == URL_A
    edit = edit_record(fake)["edit"]
    assert (edit["image_field"], edit["image_count"]) == ("image", 2)
    assert edit["image_sizes"] == ["32x32", None]


def test_it_sends_image_urls_with_the_mask_as_a_url_string(owner, owner_key, fake):
    set_mode(owner_key, "json_image_urls", "routescope")
    mask = RunInput.objects.create(owner=owner, source="url", url="https://cdn.example.com/m.png")
    run = run_it(make_edit(owner, owner_key, [url_input(owner)], mask, model="gpt-image-2"))
    assert run.status == "succeeded", run.error_message
    body = run.request["body"]
    assert body["image_urls"] == [URL_A] and body["mask"] == "https://cdn.example.com/m.png"
    edit = edit_record(fake)["edit"]
    assert (edit["image_field"], edit["image_count"], edit["mask"]) == ("image_urls", 1, True)


def test_it_gives_openai_itself_the_mask_as_an_image_reference_object(owner, owner_key):
    provider = owner_key.provider
    provider.base_url, provider.is_local = "https://api.openai.com/v1", False
    provider.save()
    reference = InputImage("Reference 1", data=image_bytes((64, 48)), format="PNG")
    mask = InputImage("The mask", data=mask_bytes((64, 48)), format="PNG")
    target = Target(provider.base_url, provider.dialect)
    params = {"model": "gpt-image-1", "prompt": "add a red hat"}
    prepared = prepare_edit(target, params, [reference], mask, FetchPolicy())
    assert set(prepared.record["body"]["mask"]) == {"image_url"}
    # ...and for every relay, the URL string its docs describe.
    assert not Target("https://api.routescope.ai/v1").wants_mask_object
    assert not Target("https://api.openai.com/v1", Dialect(edit_mode="multipart")).wants_mask_object


def test_it_builds_openai_json_edits_that_match_openais_schema(schemas):
    data_url = "data:image/png;base64,iVBORw0KGgo="
    body = build_edit_json_body(
        {"model": "gpt-image-1.5", "prompt": "p", "input_fidelity": "high", "size": "auto"},
        [URL_A, data_url],
        data_url,
        Dialect(),
        mask_as_object=True,
    )
    validate(schemas, "EditImageBodyJsonParam", body)
    assert body["mask"] == {"image_url": data_url}


# --- multipart ------------------------------------------------------------------------------


def test_it_sends_multipart_files_fetching_urls_through_the_guarded_fetcher(owner, owner_key, fake):
    set_mode(owner_key, "multipart")
    url = fake_image_url(fake)
    refs = [stored(owner, (256, 256)), url_input(owner, url)]
    run = run_it(make_edit(owner, owner_key, refs, mask_input(owner, (256, 256)), quality="low"))
    assert run.status == "succeeded", run.error_message
    record = edit_record(fake)
    edit = record["edit"]
    assert (edit["mode"], edit["image_field"], edit["image_count"]) == ("multipart", "image[]", 2)
    assert edit["image_sizes"] == ["256x256", "256x256"]
    assert [i["source"] for i in edit["images"]] == ["file", "file"]
    assert edit["mask"] is True and edit["mask_size"] == "256x256"
    assert record["form"] == {
        "model": "gpt-image-1",
        "prompt": "add a red hat",
        "n": 1,
        "quality": "low",
    }
    # The fetch went to the fake's file URL before the edit was sent.
    fetched = [r for r in fake.app.requests if r["path"].startswith("/files/")]
    assert len(fetched) == 1 and fetched[0]["id"] < record["id"]
    assert run.request["content_type"] == "multipart/form-data"
    assert [(f["field"], f["filename"]) for f in run.request["files"]] == [
        ("image[]", "image-1.png"),
        ("image[]", "image-2.png"),
        ("mask", "mask.png"),
    ]
    assert run.request["fields"]["quality"] == "low"


def test_it_sends_dall_e_2_its_one_square_png_as_multipart(owner, owner_key, fake):
    set_mode(owner_key, "multipart")
    refs = [stored(owner, (256, 256))]
    run = run_it(
        make_edit(
            owner, owner_key, refs, mask_input(owner, (256, 256)), model="dall-e-2", size="256x256"
        )
    )
    assert run.status == "succeeded", run.error_message
    image = run.images.get()
    assert (image.width, image.height) == (256, 256)
    assert edit_record(fake)["edit"]["image_count"] == 1


def test_it_refuses_to_fetch_a_reference_url_that_points_inside(owner, owner_key, fake):
    set_mode(owner_key, "multipart")
    inside = "http://127.0.0.1:9/secret.png"  # not the provider's own origin
    run = run_it(make_edit(owner, owner_key, [url_input(owner, inside)]))
    assert run.status == "failed" and run.error_kind == "blocked"
    assert run.error_message.startswith(f"Reference 1 could not be downloaded from {inside}")
    assert not [r for r in fake.app.requests if r["path"].endswith("/images/edits")]


def test_it_refuses_a_mask_that_does_not_fit_a_fetched_reference(owner, owner_key, fake):
    set_mode(owner_key, "multipart")
    url = fake_image_url(fake)  # 256x256, known only once fetched
    run = run_it(make_edit(owner, owner_key, [url_input(owner, url)], mask_input(owner, (64, 48))))
    assert run.status == "failed" and run.error_kind == "bad_request"
    assert "The mask is 64x48 pixels but the first reference is 256x256" in run.error_message
    assert not [r for r in fake.app.requests if r["path"].endswith("/images/edits")]


def test_it_ends_with_the_upstreams_reason_when_an_edit_is_refused(owner, owner_key, fake):
    run = run_it(make_edit(owner, owner_key, [stored(owner)], model="dall-e-2"))
    assert run.status == "failed" and run.error_kind == "bad_request"
    assert "multipart" in run.error_message


# --- stored inputs --------------------------------------------------------------------------


def test_it_shares_stored_bytes_between_runs_and_deletes_them_with_the_last(owner, owner_key):
    first = make_edit(owner, owner_key, [stored(owner)])
    item = first.reference_inputs[0]
    second = make_edit(owner, owner_key, [])
    copy = item.copy_for(second, "reference", 0)
    assert copy.file.name == item.file.name and copy.pk != item.pk
    storage = item.file.storage
    first.delete()
    assert storage.exists(copy.file.name)
    second.delete()
    assert not storage.exists(copy.file.name) and not storage.exists(copy.thumbnail.name)


@pytest.fixture(scope="module")
def schemas():
    import yaml

    from tests.test_upstream_requests import MISSING_SCHEMAS, SCHEMAS_FILE

    return {**MISSING_SCHEMAS, **yaml.safe_load(SCHEMAS_FILE.read_text())}
