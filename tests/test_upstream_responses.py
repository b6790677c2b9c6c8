from __future__ import annotations

import base64
import json
import time
from email.utils import formatdate
from typing import Any

import pytest

from playground.upstream.error_responses import parse_error_response
from playground.upstream.errors import UpstreamError
from playground.upstream.responses import parse_images_response, parse_models_response

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 64
PNG_B64 = base64.b64encode(PNG).decode()
JPEG_B64 = base64.b64encode(JPEG).decode()


def dumps(body: Any) -> bytes:
    return json.dumps(body).encode()


def bad(content: bytes, **kwargs: Any) -> UpstreamError:
    with pytest.raises(UpstreamError) as info:
        parse_images_response(content, **kwargs)
    return info.value


# --- images shapes ----------------------------------------------------------------------------


def test_it_parses_a_data_list_with_urls() -> None:
    body = {
        "created": 1744000000,
        "data": [
            {"url": "https://example.com/1.png", "revised_prompt": "a blue cube"},
            {"url": "https://example.com/2.png"},
        ],
    }
    result = parse_images_response(dumps(body))
    assert result.shape == "images"
    assert result.created == 1744000000
    assert [i.url for i in result.images] == [
        "https://example.com/1.png",
        "https://example.com/2.png",
    ]
    assert [i.data for i in result.images] == [None, None]
    assert result.images[0].revised_prompt == "a blue cube"
    assert result.usage is None
    assert result.echoed == {}
    assert result.summary == body


def test_it_parses_a_data_list_with_b64_usage_and_echoed_settings() -> None:
    usage = {
        "total_tokens": 100,
        "input_tokens": 50,
        "output_tokens": 50,
        "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
    }
    body = {
        "created": 1713833628,
        "data": [{"b64_json": PNG_B64, "revised_prompt": "otter"}, {"b64_json": JPEG_B64}],
        "background": "transparent",
        "output_format": "png",
        "size": "1024x1024",
        "quality": "high",
        "usage": usage,
    }
    result = parse_images_response(dumps(body))
    assert [i.data for i in result.images] == [PNG, JPEG]
    assert [i.mime_type for i in result.images] == ["image/png", "image/jpeg"]
    assert result.images[0].revised_prompt == "otter"
    assert result.usage == usage
    assert result.echoed == {
        "background": "transparent",
        "output_format": "png",
        "size": "1024x1024",
        "quality": "high",
    }


def test_it_parses_data_as_a_single_object() -> None:
    result = parse_images_response(dumps({"created": 1, "data": {"b64_json": PNG_B64}}))
    assert result.shape == "images_object"
    assert len(result.images) == 1 and result.images[0].data == PNG


def test_it_decodes_a_data_uri_given_as_url_or_b64_json() -> None:
    uri = f"data:image/webp;base64,{PNG_B64}"
    result = parse_images_response(dumps({"data": [{"url": uri}, {"b64_json": uri}]}))
    assert [(i.data, i.mime_type, i.url) for i in result.images] == [
        (PNG, "image/webp", None),
        (PNG, "image/webp", None),
    ]


def test_it_accepts_line_wrapped_and_unpadded_b64() -> None:
    wrapped = "\n".join(PNG_B64[i : i + 20] for i in range(0, len(PNG_B64), 20)).rstrip("=")
    result = parse_images_response(dumps({"data": [{"b64_json": wrapped}]}))
    assert result.images[0].data == PNG


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"created": 1, "data": {}}, "`data` is {}"),
        ({"created": 1, "data": []}, "`data` is []"),
        ({"created": 1}, "no `data` field (keys: created)"),
        ({"data": "https://example.com/a.png"}, "`data` should be a list of images, got a string"),
        ({"data": [{"revised_prompt": "x"}]}, "Image 1 has neither `url` nor `b64_json`"),
        ({"data": [{"url": "https://a/1.png"}, {"url": ""}]}, "Image 2 has neither"),
        ({"data": [None]}, "Image 1 should be an object, got null"),
        ({"data": [{"b64_json": "!!!not base64!!!"}]}, "base64 data of image 1 is not valid"),
        ({"data": [{"url": "ftp://example.com/a.png"}]}, "Image 1 has an unusable URL"),
    ],
)
def test_it_refuses_unusable_images_bodies(body: dict[str, Any], expected: str) -> None:
    err = bad(dumps(body))
    assert err.kind == "bad_response"
    assert expected in err.message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "not valid JSON: {not json"),
        (b"", "The answer is empty"),
        (b"[1, 2]", "should be a JSON object, got a list"),
        (b'"ok"', "should be a JSON object, got a string"),
        (
            b"<!DOCTYPE html><html><head><title>Login - Gateway</title></head><body></body></html>",
            "HTML page, not JSON: Login - Gateway",
        ),
    ],
)
def test_it_refuses_bodies_that_are_not_a_json_object(content: bytes, expected: str) -> None:
    err = bad(content)
    assert err.kind == "bad_response"
    assert expected in err.message


def test_it_reports_an_error_object_sent_with_a_2xx_status() -> None:
    body = {"error": {"message": "quota exhausted", "type": "insufficient_quota", "code": 429}}
    err = bad(dumps(body))
    assert err.kind == "bad_response"
    assert "quota exhausted" in err.message
    assert err.code == "429" and err.error_type == "insufficient_quota"


def test_it_refuses_oversize_b64_before_decoding() -> None:
    # Not valid base64 at all: if it were decoded first this would be a bad_response.
    huge = "#" * 4000
    err = bad(dumps({"data": [{"b64_json": huge}]}), max_image_bytes=2000)
    assert err.kind == "too_large"
    assert "3000 bytes" in err.message and "2000" in err.message


def test_it_refuses_oversize_data_uri() -> None:
    uri = "data:image/png;base64," + "#" * 4000
    err = bad(dumps({"data": [{"url": uri}]}), max_image_bytes=100)
    assert err.kind == "too_large"


def test_it_accepts_b64_within_the_limit() -> None:
    result = parse_images_response(
        dumps({"data": [{"b64_json": PNG_B64}]}), max_image_bytes=len(PNG)
    )
    assert result.images[0].data == PNG


def test_it_keeps_no_b64_payload_in_the_summary() -> None:
    big = base64.b64encode(PNG * 1000).decode()
    body = {
        "created": 1,
        "data": [{"b64_json": big, "revised_prompt": "r"}, {"url": f"data:image/png;base64,{big}"}],
        "usage": {"total_tokens": 3},
    }
    result = parse_images_response(dumps(body))
    summary = result.summary
    assert summary["data"][0] == {
        "b64_json": f"<b64_json: {len(PNG) * 1000} bytes>",
        "revised_prompt": "r",
    }
    assert summary["data"][1]["url"] == f"<data:image/png;base64: {len(PNG) * 1000} bytes>"
    assert summary["usage"] == {"total_tokens": 3}
    assert len(json.dumps(summary)) < 400
    assert big[:100] not in json.dumps(summary)


# --- chat.completion shape --------------------------------------------------------------------


def chat(content: Any, **extra: Any) -> bytes:
    return dumps(
        {
            "id": "chatcmpl-123",
            "object": "chat.completion",
            "created": 1677652288,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content, **extra}}
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
        }
    )


def test_it_finds_a_markdown_image_url_in_a_chat_completion() -> None:
    content = "Here you go:\n\n![image](https://files.example.com/abc) [Download](https://files.example.com/abc)"
    result = parse_images_response(chat(content))
    assert result.shape == "chat_completion"
    assert [i.url for i in result.images] == ["https://files.example.com/abc"]
    assert result.usage == {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}
    assert result.created == 1677652288


def test_it_decodes_a_markdown_data_uri_in_a_chat_completion() -> None:
    result = parse_images_response(chat(f"![otter](data:image/png;base64,{PNG_B64})"))
    image = result.images[0]
    assert (image.data, image.mime_type, image.url) == (PNG, "image/png", None)
    content = result.summary["choices"][0]["message"]["content"]
    assert PNG_B64 not in content
    assert content == f"![otter](<data:image/png;base64: {len(PNG)} bytes>)"


def test_it_finds_bare_image_urls_but_not_other_links() -> None:
    text = "Done! https://cdn.example.com/out/1.png. More at https://example.com/help"
    result = parse_images_response(chat(text))
    assert [i.url for i in result.images] == ["https://cdn.example.com/out/1.png"]


def test_it_reads_chat_content_given_as_parts() -> None:
    parts = [
        {"type": "text", "text": "Two images: ![a](https://cdn.example.com/a.webp)"},
        {"type": "image_url", "image_url": {"url": "https://cdn.example.com/b.png"}},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{JPEG_B64}"}},
    ]
    result = parse_images_response(chat(parts))
    assert [i.url for i in result.images[:2]] == [
        "https://cdn.example.com/a.webp",
        "https://cdn.example.com/b.png",
    ]
    assert (result.images[2].data, result.images[2].mime_type) == (JPEG, "image/jpeg")


def test_it_reads_images_beside_the_chat_text() -> None:
    extra = [{"type": "image_url", "image_url": {"url": "https://cdn.example.com/c.png"}}]
    result = parse_images_response(chat("Here is your picture.", images=extra))
    assert [i.url for i in result.images] == ["https://cdn.example.com/c.png"]


def test_it_quotes_a_chat_answer_without_an_image() -> None:
    text = "I can't draw that. " + "Because reasons. " * 40
    err = bad(chat(text))
    assert err.kind == "bad_response"
    assert "no image link; it says: I can't draw that. Because reasons." in err.message
    assert err.message.endswith("…")
    assert len(err.message) < 400


def test_it_refuses_a_chat_completion_without_choices_or_text() -> None:
    assert "no choices" in bad(dumps({"object": "chat.completion", "choices": []})).message
    assert "no image and no text" in bad(chat("")).message


# --- errors -----------------------------------------------------------------------------------


def openai_error(message: str, type_: Any = "invalid_request_error", code: Any = None) -> bytes:
    return dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "bad_request"),
        (401, "auth"),
        (403, "forbidden"),
        (404, "not_found"),
        (408, "timeout"),
        (409, "bad_request"),
        (413, "bad_request"),
        (415, "bad_request"),
        (418, "bad_request"),
        (422, "bad_request"),
        (429, "rate_limited"),
        (500, "upstream_error"),
        (502, "upstream_error"),
        (503, "upstream_error"),
        (504, "timeout"),
    ],
)
def test_it_maps_statuses_to_kinds(status: int, kind: str) -> None:
    err = parse_error_response(status, {}, openai_error("nope"))
    assert (err.kind, err.status, err.message) == (kind, status, "nope")


def test_it_reads_openais_error_object() -> None:
    content = dumps(
        {
            "error": {
                "message": "Invalid value: 'ultra'. Supported values are: 'low', 'medium'.",
                "type": "invalid_request_error",
                "param": "quality",
                "code": "invalid_value",
            }
        }
    )
    err = parse_error_response(400, {"content-type": "application/json"}, content)
    assert err.kind == "bad_request"
    assert err.message.startswith("Invalid value: 'ultra'")
    assert (err.param, err.code, err.error_type) == (
        "quality",
        "invalid_value",
        "invalid_request_error",
    )
    assert err.retry_after is None


def test_it_accepts_null_and_int_error_type_and_code() -> None:
    err = parse_error_response(401, {}, openai_error("Incorrect API key", type_=None, code=None))
    assert (err.kind, err.error_type, err.code, err.param) == ("auth", None, None, None)
    err = parse_error_response(500, {}, openai_error("boom", type_=500, code=10001))
    assert (err.error_type, err.code) == ("500", "10001")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": "model not found"}, "model not found"),
        ({"message": "no such model", "code": 404}, "no such model"),
        ({"detail": "Not Found"}, "Not Found"),
        ({"detail": [{"loc": ["body", "n"], "msg": "must be <= 10"}]}, "must be <= 10"),
        ({"error": {"type": "server_error"}}, "server_error"),
        ({"status": "bad"}, 'HTTP 404: {"status": "bad"}'),
    ],
)
def test_it_reads_other_error_shapes(body: dict[str, Any], message: str) -> None:
    err = parse_error_response(404, {}, dumps(body))
    assert (err.kind, err.message) == ("not_found", message)


def test_it_summarizes_an_html_error_page() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>"
    err = parse_error_response(502, {"Content-Type": "text/html"}, page)
    assert err.kind == "upstream_error"
    assert err.message == "HTTP 502 with an HTML page: 502 Bad Gateway"


def test_it_uses_html_text_when_there_is_no_title() -> None:
    page = b"<html><body><style>p{}</style><p>Upstream   &amp; proxy failed</p></body></html>"
    err = parse_error_response(500, {}, page)
    assert err.message == "HTTP 500 with an HTML page: Upstream & proxy failed"


def test_it_reports_an_empty_error_body() -> None:
    err = parse_error_response(503, {}, b"  ")
    assert (err.kind, err.message) == ("upstream_error", "HTTP 503 with an empty body")


def test_it_quotes_a_plain_text_error() -> None:
    err = parse_error_response(504, {}, b"upstream request timeout")
    assert (err.kind, err.message) == ("timeout", "HTTP 504: upstream request timeout")


def test_it_points_at_the_base_url_on_a_redirect() -> None:
    err = parse_error_response(301, {"Location": "https://api.x.ai/v1/images"}, b"")
    assert err.kind == "bad_response"
    assert "redirect to https://api.x.ai/v1/images" in err.message


def test_it_reads_retry_after_in_seconds() -> None:
    err = parse_error_response(429, {"Retry-After": "20"}, openai_error("slow down"))
    assert (err.kind, err.retry_after) == ("rate_limited", 20.0)


def test_it_reads_retry_after_as_an_http_date() -> None:
    when = formatdate(time.time() + 120, usegmt=True)
    err = parse_error_response(429, {"retry-after": when}, openai_error("slow down"))
    assert err.retry_after is not None and 115 <= err.retry_after <= 121
    past = formatdate(time.time() - 120, usegmt=True)
    assert parse_error_response(429, {"Retry-After": past}, b"").retry_after == 0.0


def test_it_prefers_retry_after_ms_and_ignores_garbage() -> None:
    headers = {"retry-after-ms": "1500", "retry-after": "2"}
    assert parse_error_response(429, headers, b"").retry_after == 1.5
    assert parse_error_response(429, {"Retry-After": "soon"}, b"").retry_after is None
    assert parse_error_response(429, {"Retry-After": "nan"}, b"").retry_after is None


# --- models -----------------------------------------------------------------------------------


def test_it_lists_model_ids_sorted_and_unique() -> None:
    body = {
        "object": "list",
        "data": [{"id": "gpt-image-1"}, {"id": "dall-e-3"}, {"id": "gpt-image-1"}],
    }
    assert parse_models_response(dumps(body)) == ["dall-e-3", "gpt-image-1"]


def test_it_lists_models_from_a_bare_list() -> None:
    assert parse_models_response(dumps([{"id": "b"}, {"id": "a"}, {"name": "x"}, "c"])) == [
        "a",
        "b",
        "c",
    ]


@pytest.mark.parametrize("content", [b"<html></html>", b'{"models": []}', b'"x"', b'{"data": {}}'])
def test_it_refuses_unusable_model_lists(content: bytes) -> None:
    with pytest.raises(UpstreamError) as info:
        parse_models_response(content)
    assert info.value.kind == "bad_response"


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_it_refuses_json_nested_too_deep_to_parse_in_words(content):
    with pytest.raises(UpstreamError) as info:
        parse_images_response(content)
    assert info.value.kind == "bad_response"
    with pytest.raises(UpstreamError):
        parse_models_response(content)
    error = parse_error_response(401, {}, content)
    assert error.kind == "auth" and error.message


def test_it_lists_only_string_model_ids_whatever_else_the_list_holds():
    body = {"data": [[1], {"id": ["x"]}, {"id": "gpt-image-1"}, "dall-e-3", {"id": {}}]}
    assert parse_models_response(dumps(body)) == ["dall-e-3", "gpt-image-1"]
