from __future__ import annotations

import asyncio
import base64
import email.utils
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from django.core.management import CommandError, call_command
from PIL import Image

from fakegateway.app import FakeConfig, FakeGateway
from fakegateway.server import FakeGatewayServer

SCHEMAS = Path(__file__).parent / "fixtures" / "openai-images-schemas.yaml"
DIALECTS = ("openai", "routescope", "routmy", "quickrouter", "applerouter")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGatewayServer]:
    with FakeGatewayServer() as server:
        yield server


@pytest.fixture
def fake(server: FakeGatewayServer) -> Iterator[FakeGatewayServer]:
    server.app.reset()
    yield server
    server.app.reset()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def generate(
    client: httpx.Client, fake: FakeGatewayServer, dialect: str = "openai", **body: Any
) -> httpx.Response:
    body.setdefault("prompt", "a lighthouse at dusk")
    return client.post(f"{fake.base_url(dialect)}/images/generations", json=body)


def edit(client: httpx.Client, fake: FakeGatewayServer, dialect: str = "openai", **kw: Any):
    return client.post(f"{fake.base_url(dialect)}/images/edits", **kw)


def image_bytes(width: int, height: int, fmt: str = "PNG", mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), (10, 200, 30, 255)[: len(mode)]).save(out, format=fmt)
    return out.getvalue()


def data_url(width: int, height: int) -> str:
    return "data:image/png;base64," + base64.b64encode(image_bytes(width, height)).decode()


def open_b64(value: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(value)))


def fetch(client: httpx.Client, url: str) -> Image.Image:
    response = client.get(url)
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    assert response.headers["content-type"] == f"image/{image.format.lower()}"
    return image


def assert_error(response: httpx.Response, status: int, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if param is not None:
        assert error["param"] == param
    return error


def last_request(fake: FakeGatewayServer) -> dict:
    """The newest recorded API call, skipping the downloads of result URLs."""
    return [r for r in fake.app.requests if r["endpoint"] != "files"][-1]


# --- models and generation shapes ---------------------------------------------------------------


def test_it_lists_models_per_dialect(fake, client):
    ids = {}
    for dialect in DIALECTS:
        body = client.get(f"{fake.base_url(dialect)}/models").json()
        assert body["object"] == "list"
        assert all(m["object"] == "model" and m["owned_by"] for m in body["data"])
        ids[dialect] = [m["id"] for m in body["data"]]
    assert ids["openai"][:1] == ["gpt-image-2"]
    openai_models = {"gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini", "dall-e-3", "dall-e-2"}
    assert openai_models <= set(ids["openai"])
    assert "fake/image-model" in ids["routmy"] and "gpt-image-2" in ids["routmy"]
    assert "gpt-image-2" in ids["quickrouter"]


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_it_answers_gpt_image_models_with_b64_and_usage(fake, client, fmt):
    response = generate(
        client, fake, model="gpt-image-1", size="1536x1024", output_format=fmt, n=2, quality="low"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["size"] == "1536x1024" and body["output_format"] == fmt
    assert body["quality"] == "low" and body["background"] == "opaque"
    assert set(body["usage"]) >= {"input_tokens", "output_tokens", "total_tokens"}
    details = body["usage"]["input_tokens_details"]
    assert body["usage"]["input_tokens"] == details["text_tokens"] + details["image_tokens"]
    assert len(body["data"]) == 2
    for item in body["data"]:
        assert "url" not in item
        image = open_b64(item["b64_json"])
        assert image.size == (1536, 1024) and image.format.lower() == fmt


def test_it_ignores_response_format_for_gpt_image_models(fake, client):
    (item,) = generate(client, fake, model="gpt-image-1.5", response_format="url").json()["data"]
    assert "url" not in item and open_b64(item["b64_json"]).size == (1024, 1024)


def test_it_renders_arbitrary_gpt_image_2_sizes(fake, client):
    body = generate(client, fake, model="gpt-image-2", size="1536x864").json()
    assert body["size"] == "1536x864"
    assert open_b64(body["data"][0]["b64_json"]).size == (1536, 864)


def test_it_answers_usage_deterministically(fake, client):
    first = generate(client, fake, model="gpt-image-1", prompt="same words").json()["usage"]
    second = generate(client, fake, model="gpt-image-1", prompt="same words").json()["usage"]
    longer = generate(client, fake, model="gpt-image-1", prompt="same words " * 20).json()["usage"]
    assert first == second
    assert longer["input_tokens"] > first["input_tokens"]


def test_it_answers_dalle_3_with_a_url_and_revised_prompt(fake, client):
    body = generate(client, fake, model="dall-e-3", size="1792x1024").json()
    assert set(body) == {"created", "data"}
    (item,) = body["data"]
    assert "revised_prompt" in item and "lighthouse" in item["revised_prompt"]
    assert item["url"].startswith(fake.url + "/files/") and item["url"].endswith(".png")
    image = fetch(client, item["url"])
    assert image.size == (1792, 1024) and image.format == "PNG"


def test_it_answers_dalle_2_with_b64_when_asked(fake, client):
    body = generate(client, fake, model="dall-e-2", size="256x256", response_format="b64_json")
    (item,) = body.json()["data"]
    assert open_b64(item["b64_json"]).size == (256, 256)
    assert "revised_prompt" not in item


def test_it_defaults_openai_to_dall_e_2(fake, client):
    body = generate(client, fake, size="512x512").json()
    assert "usage" not in body
    assert fetch(client, body["data"][0]["url"]).size == (512, 512)


def test_it_answers_routescope_with_a_data_object_for_one_image(fake, client):
    one = generate(client, fake, "routescope", model="gpt-image-2").json()
    assert isinstance(one["data"], dict) and "usage" not in one
    assert fetch(client, one["data"]["url"]).size == (1024, 1024)
    two = generate(client, fake, "routescope", model="gpt-image-2", n=2).json()
    assert isinstance(two["data"], list) and len(two["data"]) == 2
    b64 = generate(client, fake, "routescope", response_format="b64_json").json()
    assert open_b64(b64["data"]["b64_json"]).format == "PNG"


def test_it_answers_applerouter_with_urls_and_usage_on_a_trailing_slash(fake, client):
    url = f"{fake.base_url('applerouter')}/images/generations/"
    response = client.post(url, json={"model": "gpt-image-1", "prompt": "otter", "n": 1})
    body = response.json()
    assert response.status_code == 200 and set(body) == {"created", "data", "usage"}
    assert fetch(client, body["data"][0]["url"]).size == (1024, 1024)
    assert body["usage"]["input_tokens_details"]["text_tokens"] > 0
    assert fake.app.requests[0]["dialect"] == "applerouter"


def test_it_answers_routmy_with_b64_and_revised_prompts(fake, client):
    body = generate(client, fake, "routmy", model="fake/image-model", n=2).json()
    assert "usage" not in body
    for item in body["data"]:
        assert item["revised_prompt"] and open_b64(item["b64_json"]).size == (1024, 1024)
    urls = generate(client, fake, "routmy", model="gpt-image-2", response_format="url").json()
    assert fetch(client, urls["data"][0]["url"]).size == (1024, 1024)


@pytest.mark.parametrize(
    "config, size",
    [
        ({"aspect_ratio": "16:9", "image_size": "1K"}, (1024, 576)),
        ({"aspect_ratio": "9:16", "image_size": "2K"}, (1152, 2048)),
        ({"aspect_ratio": "4:3"}, (1024, 768)),
        ({"image_size": "2K"}, (2048, 2048)),
    ],
)
def test_it_sizes_routmy_images_from_image_config(fake, client, config, size):
    body = generate(client, fake, "routmy", model="fake/image-model", image_config=config).json()
    assert open_b64(body["data"][0]["b64_json"]).size == size


def test_it_answers_quickrouter_as_a_chat_completion_with_markdown_links(fake, client):
    response = generate(client, fake, "quickrouter", model="gpt-image-2", n=2, format="jpeg")
    body = response.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    links = re.findall(r"!\[image (\d)\]\(([^)]+)\)", choice["message"]["content"])
    assert [number for number, _ in links] == ["1", "2"]
    for _, url in links:
        assert url.endswith(".jpeg") and fetch(client, url).format == "JPEG"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_it_answers_quickrouter_with_data_uris_when_b64_is_asked(fake, client):
    response = generate(
        client, fake, "quickrouter", model="gpt-image-2", response_format="b64_json"
    )
    content = response.json()["choices"][0]["message"]["content"]
    (uri,) = re.findall(r"\((data:image/png;base64,[^)]+)\)", content)
    assert open_b64(uri.split(",", 1)[1]).size == (1024, 1024)


def test_it_accepts_both_format_spellings_on_quickrouter_only(fake, client):
    webp = generate(client, fake, "quickrouter", model="gpt-image-2", output_format="webp")
    assert ".webp)" in webp.json()["choices"][0]["message"]["content"]
    assert_error(generate(client, fake, model="gpt-image-2", format="jpeg"), 400, "format")


def test_it_draws_different_images_per_prompt_and_index(fake, client):
    two = generate(client, fake, model="gpt-image-1", n=2, prompt="cats").json()["data"]
    other = generate(client, fake, model="gpt-image-1", prompt="dogs").json()["data"]
    again = generate(client, fake, model="gpt-image-1", prompt="cats").json()["data"]
    pixels = [open_b64(item["b64_json"]).convert("RGB").getpixel((600, 600)) for item in two]
    assert pixels[0] != pixels[1]
    assert two[0]["b64_json"] != other[0]["b64_json"]
    assert two[0]["b64_json"] == again[0]["b64_json"]


def test_it_makes_transparent_backgrounds(fake, client):
    body = generate(client, fake, model="gpt-image-1", background="transparent").json()
    image = open_b64(body["data"][0]["b64_json"])
    assert body["background"] == "transparent" and image.mode == "RGBA"
    assert image.getpixel((0, 0))[3] == 0 and image.getpixel((512, 512))[3] == 255


def test_it_answers_in_openais_documented_schemas(fake, client):
    spec = yaml.safe_load(SCHEMAS.read_text())
    spec["Image"] = {"type": "object", "properties": {"b64_json": {"type": "string"}}}
    spec["ImageGenInputUsageDetails"] = {
        "type": "object",
        "required": ["text_tokens", "image_tokens"],
        "properties": {"text_tokens": {"type": "integer"}, "image_tokens": {"type": "integer"}},
    }
    spec["ImageGenOutputTokensDetails"] = {"type": "object"}
    root = {"components": {"schemas": spec}}

    def check(instance: dict, name: str) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", **root}
        jsonschema.validate(instance, schema)

    check(generate(client, fake, model="gpt-image-1", quality="high").json(), "ImagesResponse")
    check(generate(client, fake, model="nope").json(), "ErrorResponse")


# --- URLs -----------------------------------------------------------------------------------------


def test_it_expires_urls_after_the_ttl(fake, client, monkeypatch):
    now = [1_700_000_000.0]
    monkeypatch.setattr(fake.app, "clock", lambda: now[0])
    fake.app.config.url_ttl = 60
    url = generate(client, fake, "routescope").json()["data"]["url"]
    now[0] += 60
    assert client.get(url).status_code == 200  # still there at its TTL
    now[0] += 0.5
    expired = client.get(url)
    assert expired.status_code == 404 and "BlobNotFound" in expired.text
    assert client.get(f"{fake.url}/files/unknown.png").status_code == 404


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, param",
    [
        ({"model": "gpt-image-1", "prompt": None}, "prompt"),
        ({"model": "gpt-image-1", "prompt": ""}, "prompt"),
        ({"model": "gpt-image-1", "n": 0}, "n"),
        ({"model": "gpt-image-1", "n": 11}, "n"),
        ({"model": "gpt-image-1", "n": "2"}, "n"),
        ({"model": "dall-e-3", "n": 2}, "n"),
        ({"model": "dall-e-2", "size": "1792x1024"}, "size"),
        ({"model": "dall-e-3", "size": "512x512"}, "size"),
        ({"model": "gpt-image-1", "size": "1536x864"}, "size"),
        ({"model": "gpt-image-2", "size": "1000x1000"}, "size"),
        ({"model": "gpt-image-2", "size": "3840x1024"}, "size"),
        ({"model": "gpt-image-2", "size": "3840x3840"}, "size"),
        ({"model": "gpt-image-2", "size": "big"}, "size"),
        ({"model": "gpt-image-1", "output_format": "gif"}, "output_format"),
        ({"model": "gpt-image-1", "output_compression": 50}, "output_compression"),
        ({"model": "gpt-image-1", "output_format": "jpeg", "output_compression": 101}, None),
        ({"model": "gpt-image-1", "quality": "hd"}, "quality"),
        ({"model": "dall-e-3", "quality": "low"}, "quality"),
        ({"model": "gpt-image-1", "output_format": "jpeg", "background": "transparent"}, None),
        ({"model": "gpt-image-1", "background": "clear"}, "background"),
        ({"model": "gpt-image-1", "moderation": "none"}, "moderation"),
        ({"model": "dall-e-3", "style": "noir"}, "style"),
        ({"model": "dall-e-2", "output_format": "png"}, "output_format"),
        ({"model": "gpt-image-1", "image_config": {}}, "image_config"),
    ],
)
def test_it_refuses_invalid_generations_like_openai(fake, client, body, param):
    body = {"prompt": "a lighthouse", **body}
    if body["prompt"] is None:
        del body["prompt"]
    error = assert_error(client.post(f"{fake.base_url()}/images/generations", json=body), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param or param is None


def test_it_answers_unknown_models_with_model_not_found(fake, client):
    error = assert_error(generate(client, fake, "routescope", model="gpt-9"), 404)
    assert error["code"] == "model_not_found" and "gpt-9" in error["message"]


def test_it_requires_a_model_on_routmy_and_checks_image_config(fake, client):
    assert_error(generate(client, fake, "routmy"), 400, "model")
    bad = {"aspect_ratio": "16:9", "image_size": "8K"}
    assert_error(generate(client, fake, "routmy", model="fake/image-model", image_config=bad), 400)


def test_it_refuses_bodies_that_are_not_json_objects(fake, client):
    url = f"{fake.base_url()}/images/generations"
    assert_error(client.post(url, content=b"{not json"), 400)
    assert_error(client.post(url, json=["a list"]), 400)


def test_it_answers_unknown_urls_like_openai(fake, client):
    error = assert_error(client.get(f"{fake.base_url()}/images/generations"), 404)
    assert "Invalid URL" in error["message"]


# --- auth -----------------------------------------------------------------------------------------


def test_it_checks_the_bearer_key_when_one_is_required(fake, client):
    fake.app.config.required_key = "sk-abcdefghijklmnopqrstuvwxyz"
    missing = assert_error(generate(client, fake, model="gpt-image-1"), 401)
    assert missing["code"] == "invalid_api_key"
    wrong_key = "sk-ab0123456789secretwxyz"
    wrong = client.post(
        f"{fake.base_url()}/images/generations",
        json={"prompt": "x", "model": "gpt-image-1"},
        headers={"Authorization": f"Bearer {wrong_key}"},
    )
    error = assert_error(wrong, 401)
    assert error["code"] == "invalid_api_key" and "sk-ab...wxyz" in error["message"]
    assert wrong_key not in error["message"]
    right = client.get(
        f"{fake.base_url()}/models",
        headers={"Authorization": "Bearer sk-abcdefghijklmnopqrstuvwxyz"},
    )
    assert right.status_code == 200
    assert client.get(f"{fake.base_url()}/models").status_code == 401


def test_it_echoes_the_key_in_the_echo_key_scenario(fake, client):
    key = "sk-live-0123456789-do-not-leak"
    response = client.post(
        f"{fake.base_url('routescope')}/images/generations",
        json={"prompt": "x [fake:echo_key]"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert key in assert_error(response, 401)["message"]


# --- scenarios ------------------------------------------------------------------------------------


def test_it_strips_directives_from_the_prompt_and_records_them(fake, client):
    body = generate(client, fake, "routmy", model="fake/image-model", prompt="fox [fake:latency=0]")
    assert body.json()["data"][0]["revised_prompt"].startswith("fox,")
    record = last_request(fake)
    assert record["prompt"] == "fox" and record["scenario"] == {"latency": 0.0}


def test_it_refuses_unknown_directives(fake, client):
    error = assert_error(generate(client, fake, prompt="x [fake:explode]"), 400, "prompt")
    assert "explode" in error["message"]


def test_it_waits_the_requested_latency(fake, client):
    started = time.monotonic()
    assert generate(client, fake, prompt="slow [fake:latency=0.2]").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_it_answers_a_simulated_status_as_an_openai_error(fake, client):
    error = assert_error(generate(client, fake, prompt="x [fake:status=500]"), 500)
    assert error["type"] == "server_error"


def test_it_sends_retry_after_with_429(fake, client):
    default = generate(client, fake, prompt="x [fake:status=429]")
    assert assert_error(default, 429)["code"] == "rate_limit_exceeded"
    assert default.headers["retry-after"] == "7"
    seconds = generate(client, fake, prompt="x [fake:status=429] [fake:retry_after=3]")
    assert seconds.headers["retry-after"] == "3"
    dated = generate(client, fake, prompt="x [fake:status=429][fake:retry_after_date]")
    when = email.utils.parsedate_to_datetime(dated.headers["retry-after"]).timestamp()
    assert 4 <= when - time.time() <= 9


def test_it_answers_an_html_error_page(fake, client):
    response = generate(client, fake, prompt="x [fake:html_error=502]")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in response.text and "nginx" in response.text


def test_it_answers_malformed_json_with_200(fake, client):
    response = generate(client, fake, prompt="x [fake:malformed_json]")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_it_cuts_a_truncated_body_short(fake, client):
    try:
        response = generate(client, fake, model="gpt-image-1", prompt="x [fake:truncated]")
    except httpx.RemoteProtocolError:
        return
    assert len(response.content) < int(response.headers["content-length"])


def test_it_answers_an_html_page_with_200(fake, client):
    response = generate(client, fake, prompt="x [fake:html_200]")
    assert response.status_code == 200 and response.text.startswith("<!doctype html>")


@pytest.mark.parametrize(
    "directive, check",
    [
        ("data_object", lambda body: isinstance(body["data"], dict) and "url" in body["data"]),
        ("data_empty", lambda body: body["data"] == []),
        ("data_missing", lambda body: "data" not in body and "created" in body),
        ("no_image_fields", lambda body: all(set(i) <= {"revised_prompt"} for i in body["data"])),
    ],
)
def test_it_bends_the_data_field_on_request(fake, client, directive, check):
    response = generate(client, fake, "applerouter", prompt=f"x [fake:{directive}]", n=2)
    assert response.status_code == 200 and check(response.json())


def test_it_forces_the_chat_shape_on_request(fake, client):
    linked = generate(client, fake, "routescope", prompt="x [fake:chat_markdown]").json()
    content = linked["choices"][0]["message"]["content"]
    (url,) = re.findall(r"\((http[^)]+)\)", content)
    assert fetch(client, url).size == (1024, 1024)
    inline = generate(client, fake, model="gpt-image-1", prompt="x [fake:chat_data_uri]").json()
    assert "(data:image/png;base64," in inline["choices"][0]["message"]["content"]


def test_it_hands_out_urls_that_are_already_expired(fake, client):
    body = generate(client, fake, model="gpt-image-1", prompt="x [fake:url_expired]").json()
    assert client.get(body["data"][0]["url"]).status_code == 404


def test_it_hands_out_urls_that_redirect_to_a_private_address(fake, client):
    body = generate(client, fake, "routescope", prompt="x [fake:url_redirect_private]").json()
    response = client.get(body["data"]["url"])
    assert response.status_code == 302
    assert response.headers["location"] == "http://169.254.169.254/latest/meta-data/"


def test_it_hangs_until_the_client_gives_up(fake):
    with httpx.Client(timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        generate(impatient, fake, prompt="x [fake:hang]")


def test_it_sends_a_huge_but_valid_b64_payload(fake, client):
    body = generate(client, fake, "routmy", model="fake/image-model", prompt="x [fake:huge_b64=2]")
    payload = body.json()["data"][0]["b64_json"]
    assert abs(len(payload) - 2 * 1024 * 1024) < 16
    assert open_b64(payload).size == (1024, 1024)


# --- edits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "images, field",
    [
        ({"images": [{"image_url": data_url(64, 48)}, {"image_url": data_url(32, 32)}]}, "images"),
        ({"image": data_url(64, 48)}, "image"),
        ({"image": [data_url(64, 48), data_url(32, 32)]}, "image"),
        ({"image": {"image_url": data_url(64, 48)}}, "image"),
        ({"image": {"url": data_url(64, 48)}}, "image"),
        ({"image_urls": [data_url(64, 48)]}, "image_urls"),
    ],
)
def test_it_accepts_json_edits_in_every_field_form(fake, client, images, field):
    body = {"model": "gpt-image-2", "prompt": "make it blue", **images}
    response = edit(client, fake, "routescope", json=body)
    assert response.status_code == 200, response.text
    record = last_request(fake)["edit"]
    assert record["mode"] == "json" and record["image_field"] == field
    count = len(images[field]) if isinstance(images[field], list) else 1
    assert record["image_count"] == count and record["image_sizes"][0] == "64x48"
    assert record["mask"] is False and record["fields"]["prompt"] == "make it blue"
    # Without a size the output takes the first image's size.
    assert fetch(client, response.json()["data"]["url"]).size == (64, 48)
    assert "…" in str(last_request(fake)["json"])  # data URIs are shortened in the record


def test_it_records_but_never_fetches_http_image_urls(fake, client):
    body = {
        "prompt": "edit",
        "images": [{"image_url": "https://example.invalid/a.png"}],
        "mask": "https://example.invalid/mask.png",
        "size": "1024x1536",
    }
    response = edit(client, fake, "routescope", json=body)
    assert response.status_code == 200, response.text
    record = last_request(fake)["edit"]
    assert record["images"][0]["url"] == "https://example.invalid/a.png"
    assert record["image_sizes"] == [None] and record["mask"] is True
    assert fetch(client, response.json()["data"]["url"]).size == (1024, 1536)


def test_it_accepts_multipart_edits_with_files_and_a_mask(fake, client):
    files = [
        ("image[]", ("a.png", image_bytes(256, 256), "image/png")),
        ("image[]", ("b.jpg", image_bytes(100, 80, "JPEG", "RGB"), "image/jpeg")),
        ("mask", ("mask.png", image_bytes(256, 256), "image/png")),
    ]
    data = {"model": "gpt-image-1", "prompt": "add a hat", "n": "2", "output_format": "webp"}
    response = edit(client, fake, files=files, data=data)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["data"]) == 2 and body["usage"]["input_tokens_details"]["image_tokens"] > 0
    image = open_b64(body["data"][0]["b64_json"])
    assert image.size == (256, 256) and image.format == "WEBP"
    record = last_request(fake)
    assert record["edit"]["mode"] == "multipart" and record["edit"]["image_field"] == "image[]"
    assert record["edit"]["image_sizes"] == ["256x256", "100x80"]
    assert record["edit"]["mask_size"] == "256x256" and record["form"]["n"] == 2


def test_it_accepts_a_single_image_part_for_dall_e_2(fake, client):
    files = {"image": ("a.png", image_bytes(512, 512), "image/png")}
    data = {"model": "dall-e-2", "prompt": "add a hat", "size": "512x512"}
    response = edit(client, fake, files=files, data=data)
    assert response.status_code == 200, response.text
    assert fetch(client, response.json()["data"][0]["url"]).size == (512, 512)
    assert last_request(fake)["edit"]["image_field"] == "image"


def test_it_refuses_a_mask_of_another_size(fake, client):
    files = [
        ("image[]", ("a.png", image_bytes(256, 256), "image/png")),
        ("mask", ("mask.png", image_bytes(128, 128), "image/png")),
    ]
    response = edit(client, fake, files=files, data={"model": "gpt-image-1", "prompt": "x"})
    assert "mask size must match image size" in assert_error(response, 400, "mask")["message"]
    body = {"prompt": "x", "images": [{"image_url": data_url(64, 64)}], "mask": data_url(32, 32)}
    assert_error(edit(client, fake, json=body), 400, "mask")


@pytest.mark.parametrize(
    "body, param",
    [
        ({"prompt": "x"}, "image"),
        ({"prompt": "x", "images": []}, "image"),
        ({"prompt": "x", "images": [{"image_url": "data:image/png;base64,!!!"}]}, "images[0]"),
        ({"prompt": "x", "image": "ftp://example.invalid/a.png"}, "image[0]"),
        ({"prompt": "x", "model": "dall-e-2", "image": data_url(64, 64)}, "image"),
        ({"prompt": "x", "model": "dall-e-3", "image": data_url(64, 64)}, "model"),
    ],
)
def test_it_refuses_invalid_edits(fake, client, body, param):
    assert_error(edit(client, fake, json=body), 400, param)


def test_it_refuses_files_that_are_not_images(fake, client):
    files = {"image": ("a.png", b"not an image at all", "image/png")}
    response = edit(client, fake, files=files, data={"model": "gpt-image-1", "prompt": "x"})
    assert assert_error(response, 400, "image")["code"] == "invalid_image_format"


# --- control API and recording ----------------------------------------------------------------


def test_it_is_configured_over_the_control_api(fake, client):
    response = client.post(f"{fake.url}/_fake/config", json={"scenario": "status=503"})
    assert response.status_code == 200 and response.json()["scenario"] == "status=503"
    assert_error(generate(client, fake), 503)
    bad = client.post(f"{fake.url}/_fake/config", json={"scenario": "explode"})
    assert_error(bad, 400, "scenario")
    assert_error(client.post(f"{fake.url}/_fake/config", json={"nope": 1}), 400, "nope")
    client.post(f"{fake.url}/_fake/reset")
    assert generate(client, fake).status_code == 200
    assert fake.app.config == FakeConfig()


def test_it_records_requests_for_the_control_api(fake, client):
    client.post(
        f"{fake.base_url('quickrouter')}/images/generations",
        json={"model": "gpt-image-2", "prompt": "recorded"},
        headers={"Authorization": "Bearer sk-recorded"},
    )
    (record,) = client.get(f"{fake.url}/_fake/requests").json()
    assert record["method"] == "POST" and record["path"] == "/quickrouter/v1/images/generations"
    assert record["dialect"] == "quickrouter" and record["endpoint"] == "generations"
    assert record["headers"]["authorization"] == "Bearer sk-recorded"
    assert record["json"] == {"model": "gpt-image-2", "prompt": "recorded"}
    assert record["status"] == 200 and record["received_at"] <= time.time()
    client.post(f"{fake.url}/_fake/reset")
    assert client.get(f"{fake.url}/_fake/requests").json() == []


def test_it_keeps_only_the_newest_recorded_requests(fake, client):
    fake.app.config.max_recorded = 3
    for _ in range(5):
        client.get(f"{fake.base_url()}/models")
    assert len(fake.app.requests) == 3
    assert [r["id"] for r in fake.app.requests] == sorted(r["id"] for r in fake.app.requests)


# --- mounting, concurrency, command ---------------------------------------------------------------


def test_it_works_mounted_under_a_root_path():
    gateway = FakeGateway()
    transport = httpx.ASGITransport(app=gateway, root_path="/demo-gateway")

    async def run() -> tuple[str, int, tuple[int, int]]:
        async with httpx.AsyncClient(transport=transport, base_url="http://demo.test") as client:
            response = await client.post(
                "/demo-gateway/routescope/v1/images/generations",
                json={"prompt": "mounted", "size": "1024x1536"},
            )
            url = response.json()["data"]["url"]
            image = await client.get(url)
            size = Image.open(io.BytesIO(image.content)).size
            return url, image.status_code, size

    url, status, size = asyncio.run(run())
    assert url.startswith("http://demo.test/demo-gateway/files/")
    assert status == 200 and size == (1024, 1536)
    assert gateway.requests[0]["path"] == "/routescope/v1/images/generations"


def test_it_hides_the_control_api_when_mounted_unless_enabled():
    async def status(gateway: FakeGateway) -> int:
        transport = httpx.ASGITransport(app=gateway, root_path="/demo-gateway")
        async with httpx.AsyncClient(transport=transport, base_url="http://demo.test") as client:
            return (await client.get("/demo-gateway/_fake/requests")).status_code

    assert asyncio.run(status(FakeGateway())) == 404
    assert asyncio.run(status(FakeGateway(FakeConfig(control_api=True)))) == 200


def test_it_serves_a_hundred_slow_requests_at_once(fake):
    fake.app.config.latency = 0.5

    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            calls = [
                client.post(
                    f"{fake.base_url()}/images/generations",
                    json={"model": "dall-e-2", "prompt": f"p{i % 5}", "size": "256x256"},
                )
                for i in range(100)
            ]
            return [response.status_code for response in await asyncio.gather(*calls)]

    started = time.monotonic()
    statuses = asyncio.run(run())
    elapsed = time.monotonic() - started
    assert statuses == [200] * 100
    assert 0.5 <= elapsed < 4  # one after the other would take 50 s


def test_it_prints_the_base_urls_from_the_management_command(monkeypatch):
    served = {}
    monkeypatch.setattr(
        "uvicorn.run", lambda app, **kwargs: served.update(app=app, **kwargs), raising=True
    )
    out = io.StringIO()
    call_command(
        "fakegateway", "--port", "8199", "--latency", "2", "--require-key", "k", stdout=out
    )
    assert "http://127.0.0.1:8199/quickrouter/v1" in out.getvalue()
    assert "http://127.0.0.1:8199/v1" in out.getvalue()
    assert served["port"] == 8199 and served["app"].config.latency == 2
    assert served["app"].config.required_key == "k"


def test_it_refuses_an_unknown_scenario_in_the_management_command():
    with pytest.raises(CommandError, match="explode"):
        call_command("fakegateway", "--scenario", "explode")
