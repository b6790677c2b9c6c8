"""What each gateway dialect serves and how its successful answers are shaped.

The shapes differ on purpose: clients must cope with `data` as a list or an object, with or
without `usage`, and with quickrouter's chat.completion that links the images in Markdown.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import images

DIALECTS = ("openai", "routescope", "routmy", "quickrouter", "applerouter")

# (model id, owned_by) per dialect, in the order /v1/models lists them.
MODELS: dict[str, list[tuple[str, str]]] = {
    "openai": [
        ("gpt-image-2", "system"),
        ("gpt-image-2-2026-04-21", "system"),
        ("gpt-image-1.5", "system"),
        ("gpt-image-1", "system"),
        ("gpt-image-1-mini", "system"),
        ("chatgpt-image-latest", "system"),
        ("dall-e-3", "system"),
        ("dall-e-2", "system"),
    ],
    "routescope": [
        ("gpt-image-2", "openai"),
        ("gpt-image-1.5", "openai"),
        ("gpt-image-1", "openai"),
    ],
    "routmy": [
        ("fake/image-model", "fake"),
        ("fake/image-model-hd", "fake"),
        ("gpt-image-2", "openai"),
    ],
    "quickrouter": [("gpt-image-2", "openai"), ("gpt-image-1", "openai")],
    "applerouter": [
        ("gpt-image-2", "openai"),
        ("gpt-image-1", "openai"),
        ("dall-e-3", "openai"),
        ("dall-e-2", "openai"),
    ],
}
# None: the request must name a model. "openai" is special-cased in validation._default_model.
DEFAULT_MODEL = {"routescope": "gpt-image-2", "applerouter": "dall-e-2"}
MODELS_CREATED = 1_745_000_000
CHAT_SCENARIOS = ("chat_markdown", "chat_data_uri")

# Hands out a URL for one rendered image (the app keeps the bytes).
Link = Callable[[bytes], str]


@dataclass
class ImageJob:
    dialect: str
    endpoint: str  # "generations" or "edits"
    model: str
    family: str  # "dall-e-2", "dall-e-3", "gpt", "gpt-2" or "generic"
    prompt: str  # directives removed
    n: int
    width: int
    height: int
    fmt: str
    compression: int | None
    background: str  # "opaque" or "transparent"
    quality: str  # what the answer reports: low / medium / high, or the dall-e value
    delivery: str  # "url" or "b64_json"
    scenario: dict[str, Any]
    input_images: list[dict[str, Any]] = field(default_factory=list)

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def is_gpt(self) -> bool:
        return self.family in ("gpt", "gpt-2")


def model_entries(dialect: str) -> list[dict[str, Any]]:
    return [
        {"id": model, "object": "model", "created": MODELS_CREATED, "owned_by": owner}
        for model, owner in MODELS[dialect]
    ]


async def render(job: ImageJob) -> list[bytes]:
    transparent = job.background == "transparent"
    blobs = await asyncio.gather(
        *(
            images.render_async(
                job.prompt,
                index,
                job.width,
                job.height,
                job.fmt,
                transparent=transparent,
                compression=job.compression,
            )
            for index in range(job.n)
        )
    )
    return list(blobs)


async def response_body(job: ImageJob, blobs: list[bytes], link: Link) -> dict[str, Any]:
    """The success body in the job's dialect, bent by any response-shape scenario."""
    if job.dialect == "quickrouter" or any(name in job.scenario for name in CHAT_SCENARIOS):
        return _chat_body(job, blobs, link)
    items = [await _image_item(job, blob, link) for blob in blobs]
    body: dict[str, Any] = {"created": int(time.time()), "data": items}
    if job.dialect == "routescope" and len(items) == 1:
        body["data"] = items[0]
    if job.dialect == "applerouter" or (job.dialect == "openai" and job.is_gpt):
        body["usage"] = _usage(job)
    if job.dialect == "openai" and job.is_gpt:
        body.update(
            background=job.background,
            output_format=job.fmt,
            quality=job.quality,
            size=job.size,
        )
    return _reshape_data(body, items, job.scenario)


async def _image_item(job: ImageJob, blob: bytes, link: Link) -> dict[str, Any]:
    item: dict[str, Any]
    if "huge_b64" in job.scenario:
        padded = await asyncio.to_thread(images.padded_b64, blob, job.scenario["huge_b64"])
        item = {"b64_json": padded}
    elif job.delivery == "url":
        item = {"url": link(blob)}
    else:
        item = {"b64_json": images.b64(blob)}
    if job.family == "dall-e-3" or job.dialect == "routmy":
        item["revised_prompt"] = _revised(job.prompt)
    if "no_image_fields" in job.scenario:
        item.pop("url", None)
        item.pop("b64_json", None)
    return item


def _reshape_data(
    body: dict[str, Any], items: list[dict[str, Any]], scenario: dict[str, Any]
) -> dict[str, Any]:
    if "data_object" in scenario:
        body["data"] = items[0] if items else {}
    elif "data_empty" in scenario:
        body["data"] = []
    elif "data_missing" in scenario:
        del body["data"]
    return body


def _chat_body(job: ImageJob, blobs: list[bytes], link: Link) -> dict[str, Any]:
    data_uris = "chat_data_uri" in job.scenario or (
        job.delivery == "b64_json" and "chat_markdown" not in job.scenario
    )
    links = []
    for blob in blobs:
        if data_uris:
            links.append(f"data:{images.CONTENT_TYPES[job.fmt]};base64,{images.b64(blob)}")
        else:
            links.append(link(blob))
    content = "Here is your image:\n\n" + "\n\n".join(
        f"![image {index + 1}]({url})" for index, url in enumerate(links)
    )
    usage = _usage(job)
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": job.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": usage["input_tokens"],
            "completion_tokens": usage["output_tokens"],
            "total_tokens": usage["total_tokens"],
        },
    }


def _revised(prompt: str) -> str:
    subject = prompt or "An abstract image"
    return f"{subject}, rendered as a soft two-colour gradient with a bold index number."


def _usage(job: ImageJob) -> dict[str, Any]:
    """Deterministic token counts shaped like OpenAI's, from prompt length and image sizes."""
    text_tokens = max(1, math.ceil(len(job.prompt) / 4))
    image_tokens = 0
    for image in job.input_images:
        width, height = image.get("width") or 1024, image.get("height") or 1024
        image_tokens += 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)
    per_image = {"low": 272, "medium": 1056, "high": 4160}.get(job.quality, 1056)
    output_tokens = job.n * max(1, round(per_image * job.width * job.height / (1024 * 1024)))
    input_tokens = text_tokens + image_tokens
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
    }
