from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from playground.upstream.requests import (
    EDIT_PARAMS,
    GENERATION_PARAMS,
    Dialect,
    build_edit_json_body,
    build_edit_multipart,
    build_generation_body,
    endpoint_url,
    normalize_base_url,
)

OPENAI = Dialect()
ALIAS = Dialect(output_format_field="format")
ROUTMY = Dialect(image_config=True)

SCHEMAS_FILE = Path(__file__).parent / "fixtures" / "openai-images-schemas.yaml"
DOC_URI = "urn:openai-images"

# The fixture is cut from the full spec, so a few schemas it refers to are not in it. These are
# copied from the full openai-openapi.yaml (shortened to what validation needs).
MISSING_SCHEMAS: dict[str, Any] = {
    "PartialImages": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 3}, {"type": "null"}]},
    "ImagesUsage": {"type": "object"},
    "Image": {"type": "object"},
    "ImageGenOutputTokensDetails": {"type": "object"},
    "ImageGenInputUsageDetails": {"type": "object"},
}


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    loaded = yaml.safe_load(SCHEMAS_FILE.read_text())
    # The file's top level is the `components/schemas` mapping itself, not a whole document.
    assert "CreateImageRequest" in loaded and "components" not in loaded
    return {**MISSING_SCHEMAS, **loaded}


def validate(schemas: dict[str, Any], name: str, body: dict[str, Any]) -> None:
    document = {"components": {"schemas": schemas}}
    registry = Registry().with_resource(DOC_URI, Resource(document, DRAFT202012))
    # Strict about unknown fields: anything outside OpenAI's schema would be a dialect leak.
    # `nullable` is OpenAPI 3.0 and ignored by jsonschema, which is fine: we never send null.
    schema = {
        "$ref": f"{DOC_URI}#/components/schemas/{name}",
        "unevaluatedProperties": False,
    }
    jsonschema.Draft202012Validator(schema, registry=registry).validate(body)


# --- base URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "https://api.x.ai",
        "https://api.x.ai/",
        "https://api.x.ai/v1",
        "https://api.x.ai/v1/",
        "  https://api.x.ai/v1//  ",
        "HTTPS://api.x.ai/v1",
    ],
)
def test_it_normalizes_base_url_variants(raw: str) -> None:
    assert normalize_base_url(raw) == "https://api.x.ai/v1"


def test_it_keeps_port_and_path_prefix() -> None:
    url = "http://127.0.0.1:8000/demo-gateway/v1"
    assert normalize_base_url(url) == url
    assert normalize_base_url(url + "/") == url
    assert normalize_base_url("http://127.0.0.1:8000/demo-gateway") == url


@pytest.mark.parametrize(
    "raw",
    ["ftp://api.x.ai/v1", "api.x.ai/v1", "file:///etc/passwd", "https://", "https:///v1", ""],
)
def test_it_rejects_bad_base_urls(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_base_url(raw)


def test_it_rejects_base_url_with_query() -> None:
    with pytest.raises(ValueError, match="query"):
        normalize_base_url("https://api.x.ai/v1?key=1")


def test_it_builds_endpoint_urls() -> None:
    assert endpoint_url("https://x/v1/", "images/generations") == "https://x/v1/images/generations"
    assert endpoint_url("https://x", "/images/edits") == "https://x/v1/images/edits"
    assert endpoint_url("http://127.0.0.1:9/gw/v1", "models") == "http://127.0.0.1:9/gw/v1/models"


# --- generation bodies ------------------------------------------------------------------------

ALL_PLAIN_PARAMS = {
    "model": "gpt-image-1",
    "prompt": "an otter",
    "n": 2,
    "size": "1024x1536",
    "quality": "high",
    "style": "vivid",
    "response_format": "b64_json",
    "background": "transparent",
    "moderation": "low",
    "output_format": "webp",
    "output_compression": 80,
    "user": "user-7",
    "stream": True,
    "partial_images": 2,
}


def test_it_sends_every_generation_param_as_given() -> None:
    body = build_generation_body(ALL_PLAIN_PARAMS, OPENAI)
    assert body == ALL_PLAIN_PARAMS
    assert isinstance(body["n"], int) and isinstance(body["output_compression"], int)
    assert body["stream"] is True


def test_it_accepts_exactly_the_documented_params() -> None:
    assert set(GENERATION_PARAMS) == {*ALL_PLAIN_PARAMS, "aspect_ratio", "image_size"}
    assert set(EDIT_PARAMS) == {*GENERATION_PARAMS, "input_fidelity", "watermark"}


def test_it_drops_unset_values() -> None:
    params = {
        "model": "gpt-image-1",
        "prompt": "an otter",
        "n": None,
        "size": "",
        "quality": None,
        "style": "",
        "output_format": None,
        "output_compression": None,
        "aspect_ratio": "",
        "image_size": None,
    }
    assert build_generation_body(params, ROUTMY) == {"model": "gpt-image-1", "prompt": "an otter"}


def test_it_keeps_falsy_values_that_are_set() -> None:
    body = build_generation_body({"prompt": "p", "output_compression": 0, "stream": False}, OPENAI)
    assert body == {"prompt": "p", "output_compression": 0, "stream": False}


def test_it_sends_output_format_under_the_alias() -> None:
    body = build_generation_body({"prompt": "p", "output_format": "jpeg"}, ALIAS)
    assert body == {"prompt": "p", "format": "jpeg"}


def test_it_nests_aspect_ratio_and_image_size_in_image_config() -> None:
    body = build_generation_body(
        {"model": "m", "prompt": "p", "aspect_ratio": "16:9", "image_size": "2K"}, ROUTMY
    )
    assert body == {
        "model": "m",
        "prompt": "p",
        "image_config": {"aspect_ratio": "16:9", "image_size": "2K"},
    }


def test_it_nests_only_the_image_config_fields_that_are_set() -> None:
    body = build_generation_body({"prompt": "p", "image_size": "4K", "aspect_ratio": ""}, ROUTMY)
    assert body == {"prompt": "p", "image_config": {"image_size": "4K"}}


def test_it_refuses_image_config_for_a_dialect_without_it() -> None:
    with pytest.raises(ValueError, match="image_config"):
        build_generation_body({"prompt": "p", "aspect_ratio": "1:1"}, OPENAI)


def test_it_refuses_unknown_params() -> None:
    with pytest.raises(ValueError, match="colour"):
        build_generation_body({"prompt": "p", "colour": "red"}, OPENAI)
    # Edit-only params are not generation params.
    with pytest.raises(ValueError, match="watermark"):
        build_generation_body({"prompt": "p", "watermark": True}, OPENAI)


def test_it_refuses_unknown_edit_modes() -> None:
    with pytest.raises(ValueError, match="edit mode"):
        Dialect(edit_mode="form")


@pytest.mark.parametrize(
    "params",
    [
        {
            "model": "gpt-image-1",
            "prompt": "A cute baby sea otter",
            "n": 2,
            "size": "1536x1024",
            "quality": "high",
            "background": "transparent",
            "output_format": "webp",
            "output_compression": 80,
            "moderation": "low",
            "user": "user-1234",
        },
        {
            "model": "dall-e-3",
            "prompt": "A lighthouse at dusk",
            "n": 1,
            "size": "1792x1024",
            "style": "natural",
            "quality": "hd",
            "response_format": "b64_json",
        },
        {
            "model": "dall-e-2",
            "prompt": "A red cube",
            "n": 3,
            "size": "512x512",
            "response_format": "url",
        },
        {
            "model": "gpt-image-1",
            "prompt": "streamed",
            "stream": True,
            "partial_images": 2,
            "quality": "",
            "size": None,
        },
    ],
)
def test_it_builds_generation_bodies_that_match_openais_schema(
    schemas: dict[str, Any], params: dict[str, Any]
) -> None:
    body = build_generation_body(params, OPENAI)
    validate(schemas, "CreateImageRequest", body)


def test_it_schema_check_catches_what_openai_would_refuse(schemas: dict[str, Any]) -> None:
    # Guards the validator itself: an alias field or a bad enum must fail.
    with pytest.raises(jsonschema.ValidationError):
        validate(
            schemas,
            "CreateImageRequest",
            build_generation_body({"prompt": "p", "output_format": "png"}, ALIAS),
        )
    with pytest.raises(jsonschema.ValidationError):
        validate(schemas, "CreateImageRequest", {"prompt": "p", "quality": "ultra"})
    with pytest.raises(jsonschema.ValidationError):
        validate(schemas, "CreateImageRequest", {"prompt": "p", "partial_images": 5})


# --- JSON edits -------------------------------------------------------------------------------

URL_A = "https://cdn.example.com/a.png"
DATA_B = "data:image/png;base64,iVBORw0KGgo="
EDIT_PARAMS_SET = {
    "model": "gpt-image-1",
    "prompt": "add a hat",
    "n": 1,
    "size": "1024x1024",
    "quality": "medium",
    "input_fidelity": "high",
    "output_format": "png",
    "background": "",
    "watermark": None,
}


def test_it_puts_edit_images_in_images_list() -> None:
    body = build_edit_json_body(EDIT_PARAMS_SET, [URL_A, DATA_B], None, OPENAI)
    assert body["images"] == [{"image_url": URL_A}, {"image_url": DATA_B}]
    assert "image" not in body and "image_urls" not in body and "mask" not in body
    assert body["input_fidelity"] == "high"
    assert "background" not in body and "watermark" not in body


def test_it_puts_one_edit_image_as_a_string_in_image_mode() -> None:
    dialect = Dialect(edit_mode="json_image")
    assert build_edit_json_body({"prompt": "p"}, [URL_A], None, dialect) == {
        "prompt": "p",
        "image": URL_A,
    }
    body = build_edit_json_body({"prompt": "p"}, [URL_A, DATA_B], None, dialect)
    assert body["image"] == [URL_A, DATA_B]


def test_it_puts_edit_images_in_image_urls_mode() -> None:
    dialect = Dialect(edit_mode="json_image_urls")
    body = build_edit_json_body({"prompt": "p"}, [URL_A], "https://cdn.example.com/m.png", dialect)
    assert body == {"prompt": "p", "image_urls": [URL_A], "mask": "https://cdn.example.com/m.png"}


def test_it_sends_mask_and_watermark_in_json_edits() -> None:
    body = build_edit_json_body(
        {"prompt": "p", "watermark": False, "output_format": "jpeg"}, [URL_A], DATA_B, ALIAS
    )
    assert body == {
        "prompt": "p",
        "watermark": False,
        "format": "jpeg",
        "images": [{"image_url": URL_A}],
        "mask": DATA_B,
    }


def test_it_refuses_json_edit_for_multipart_mode_or_without_images() -> None:
    with pytest.raises(ValueError, match="not a JSON mode"):
        build_edit_json_body({"prompt": "p"}, [URL_A], None, Dialect(edit_mode="multipart"))
    with pytest.raises(ValueError, match="at least one"):
        build_edit_json_body({"prompt": "p"}, [], None, OPENAI)
    with pytest.raises(ValueError, match="unknown"):
        build_edit_json_body({"prompt": "p", "image": URL_A}, [URL_A], None, OPENAI)


def test_it_builds_json_edit_bodies_that_match_openais_schema(schemas: dict[str, Any]) -> None:
    body = build_edit_json_body(EDIT_PARAMS_SET, [URL_A, DATA_B], None, OPENAI)
    validate(schemas, "EditImageBodyJsonParam", body)
    body = build_edit_json_body(
        {"model": "gpt-image-1", "prompt": "p", "output_compression": 50, "output_format": "webp"},
        [URL_A],
        None,
        OPENAI,
    )
    validate(schemas, "EditImageBodyJsonParam", body)


# --- multipart edits --------------------------------------------------------------------------

PNG_A = ("a.png", b"\x89PNG-a", "image/png")
PNG_B = ("b.png", b"\x89PNG-b", "image/png")
MASK = ("mask.png", b"\x89PNG-m", "image/png")


def test_it_builds_multipart_fields_and_files() -> None:
    data, files = build_edit_multipart(
        {
            "model": "gpt-image-1",
            "prompt": "p",
            "n": 2,
            "stream": False,
            "watermark": True,
            "output_compression": 0,
            "size": "",
            "quality": None,
        },
        [PNG_A, PNG_B],
        MASK,
    )
    assert data == {
        "model": "gpt-image-1",
        "prompt": "p",
        "n": "2",
        "stream": "false",
        "watermark": "true",
        "output_compression": "0",
    }
    assert files == [("image[]", PNG_A), ("image[]", PNG_B), ("mask", MASK)]


def test_it_builds_multipart_without_mask_and_with_alias() -> None:
    data, files = build_edit_multipart(
        {"prompt": "p", "output_format": "webp"}, [PNG_A], None, dialect=ALIAS
    )
    assert data == {"prompt": "p", "format": "webp"}
    assert [name for name, _ in files] == ["image[]"]


def test_it_refuses_multipart_image_config_and_empty_images() -> None:
    with pytest.raises(ValueError, match="aspect_ratio"):
        build_edit_multipart({"prompt": "p", "aspect_ratio": "1:1"}, [PNG_A], None)
    with pytest.raises(ValueError, match="at least one"):
        build_edit_multipart({"prompt": "p"}, [], None)
