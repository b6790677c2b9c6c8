"""OpenAI's request rules for the image endpoints, and its error bodies.

Checks run in the order OpenAI appears to run them, so a request with two problems is refused for
the same one the real service names: clients' error handling is tested against these messages.
"""

from __future__ import annotations

import math
import re
from typing import Any

from . import images
from .dialects import DEFAULT_MODEL, MODELS, ImageJob

GPT_STANDARD_SIZES = ("1024x1024", "1536x1024", "1024x1536")
DALLE_SIZES = {
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
}
GPT2_MAX_EDGE, GPT2_MAX_PIXELS, GPT2_MAX_RATIO = 3840, 3840 * 2160, 3.0
GENERIC_MAX_EDGE = 4096
PROMPT_LIMITS = {"dall-e-2": 1000, "dall-e-3": 4000}
QUALITIES = {
    "dall-e-2": ("standard", "auto"),
    "dall-e-3": ("standard", "hd", "auto"),
    "gpt": ("low", "medium", "high", "auto"),
    "generic": ("low", "medium", "high", "auto", "standard", "hd"),
}
# The answer reports low / medium / high whatever spelling the request used.
REPORTED_QUALITY: dict[str | None, str] = {
    "auto": "medium",
    "standard": "medium",
    "hd": "high",
    None: "medium",
}
GPT_ONLY_PARAMS = ("output_format", "output_compression", "background", "moderation")
# Options that are only checked: nothing in the answer depends on them.
CHECKED_ONLY = (
    ("moderation", ("low", "auto")),
    ("style", ("vivid", "natural")),
    ("input_fidelity", ("high", "low")),
)
IMAGE_SIZE_EDGES = {"1K": 1024, "2K": 2048, "4K": 4096}
MAX_EDIT_IMAGES = 16

# What OpenAI itself accepts; the relays pass unknown fields on instead of refusing them.
COMMON_PARAMS = frozenset(
    {"prompt", "model", "n", "quality", "response_format", "output_format", "output_compression"}
    | {"stream", "partial_images", "size", "moderation", "background", "user"}
)
GENERATION_PARAMS = COMMON_PARAMS | {"style"}
EDIT_PARAMS = COMMON_PARAMS | {"image", "images", "image_urls", "mask", "input_fidelity"}
SIZE_RE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
ASPECT_RE = re.compile(r"^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$")

JSON_PARSE_ERROR = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
    "valid JSON.)"
)


class ApiError(Exception):
    """An OpenAI-style error answer: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type
        self.headers = headers or []

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return {"error": error}


def invalid(param: str | None, message: str, code: str | None = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def missing(param: str) -> ApiError:
    return invalid(param, f"Missing required parameter: '{param}'.", "missing_required_parameter")


def wrong_type(param: str, expected: str) -> ApiError:
    return invalid(param, f"Invalid type for '{param}': expected {expected}.", "invalid_type")


def model_not_found(model: str) -> ApiError:
    message = f"The model `{model}` does not exist or you do not have access to it."
    return ApiError(404, message, code="model_not_found")


def check_known_params(dialect: str, endpoint: str, body: dict[str, Any]) -> None:
    if dialect != "openai":
        return
    allowed = GENERATION_PARAMS if endpoint == "generations" else EDIT_PARAMS
    for name in body:
        if name not in allowed:
            raise invalid(name, f"Unknown parameter: '{name}'.", "unknown_parameter")


def model_family(model: str) -> str:
    if model in ("dall-e-2", "dall-e-3"):
        return model
    if model.startswith("gpt-image-2"):
        return "gpt-2"
    if model.startswith(("gpt-image", "chatgpt-image")):
        return "gpt"
    return "generic"


def build_job(
    dialect: str,
    endpoint: str,
    body: dict[str, Any],
    prompt: str,
    scenario: dict[str, Any],
    edit: dict[str, Any] | None,
) -> ImageJob:
    """Check a request like the real service would and settle everything the answer needs."""
    model = _model(dialect, endpoint, body)
    family = model_family(model)
    _check_prompt(body, family)
    if edit is not None:
        _check_edit(edit, family)
    n = _n(body, family)
    _check_gpt_only(body, family)
    fmt = _output_format(dialect, body, family)
    compression = _compression(body, fmt)
    quality = _enum(body, "quality", _qualities(endpoint, family))
    background = _background(body, fmt)
    response_format = _response_format(body)
    width, height = _size(dialect, endpoint, body, family, edit)
    return ImageJob(
        dialect=dialect,
        endpoint=endpoint,
        model=model,
        family=family,
        prompt=prompt,
        n=n,
        width=width,
        height=height,
        fmt=fmt,
        compression=compression,
        background=background,
        quality=REPORTED_QUALITY.get(quality, quality or ""),  # None is in the table
        delivery=_delivery(dialect, family, response_format, scenario),
        scenario=scenario,
        input_images=edit["images"] if edit else [],
    )


def _model(dialect: str, endpoint: str, body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        model = _default_model(dialect, endpoint, body)
    if not isinstance(model, str):
        raise wrong_type("model", "a string")
    if model not in {name for name, _ in MODELS[dialect]}:
        raise model_not_found(model)
    if endpoint == "edits" and model == "dall-e-3":
        raise invalid("model", "Invalid value for 'model': dall-e-3 does not support image edits.")
    return model


def _default_model(dialect: str, endpoint: str, body: dict[str, Any]) -> str:
    if dialect == "openai":
        # OpenAI: dall-e-2, unless a parameter only the GPT image models take is present.
        if endpoint == "edits" or any(body.get(name) is not None for name in GPT_ONLY_PARAMS):
            return "gpt-image-1.5"
        return "dall-e-2"
    model = DEFAULT_MODEL.get(dialect)
    if model is None:
        raise missing("model")
    return model


def _check_prompt(body: dict[str, Any], family: str) -> None:
    prompt = body.get("prompt")
    if prompt is None:
        raise missing("prompt")
    if not isinstance(prompt, str):
        raise wrong_type("prompt", "a string")
    if not prompt.strip():
        message = "Invalid 'prompt': string too short. Expected a string with minimum length 1."
        raise invalid("prompt", message, "empty_string")
    limit = PROMPT_LIMITS.get(family, 32000)
    if len(prompt) > limit:
        message = (
            f"Invalid 'prompt': string too long. Expected a string with maximum length {limit}, "
            f"but got a string with length {len(prompt)} instead."
        )
        raise invalid("prompt", message, "string_above_max_length")


def _check_edit(edit: dict[str, Any], family: str) -> None:
    count = edit["image_count"]
    if count == 0:
        raise missing("image")
    if count > MAX_EDIT_IMAGES:
        raise invalid(
            "image",
            f"Invalid 'image': too many images. Expected at most {MAX_EDIT_IMAGES}, got {count}.",
        )
    if family == "dall-e-2":
        _check_dalle2_edit(edit)
    first, mask = edit["image_sizes"][0], edit["mask_size"]
    if first and mask and first != mask:
        message = (
            "Invalid mask image: mask size must match image size "
            f"(mask is {mask}, image is {first})."
        )
        raise invalid("mask", message)


def _check_dalle2_edit(edit: dict[str, Any]) -> None:
    if edit["mode"] != "multipart":
        raise invalid("image", "dall-e-2 edits take multipart/form-data image uploads only.")
    if edit["image_count"] != 1:
        raise invalid("image", "dall-e-2 edits take exactly one image.")
    image = edit["images"][0]
    if image.get("format") != "png" or image.get("width") != image.get("height"):
        raise invalid(
            "image",
            "Invalid input image - dall-e-2 needs a square PNG image.",
            "invalid_image_format",
        )


def _n(body: dict[str, Any], family: str) -> int:
    n = _int(body, "n", 1, 1, 10)
    if family == "dall-e-3" and n != 1:
        raise invalid("n", "Invalid 'n': dall-e-3 only supports n=1.")
    return n


def _check_gpt_only(body: dict[str, Any], family: str) -> None:
    if not family.startswith("dall-e"):
        return
    for name in GPT_ONLY_PARAMS:
        if body.get(name) is not None:
            raise invalid(
                name,
                f"The '{name}' parameter is only supported for the GPT image models.",
                "unsupported_parameter",
            )


def _qualities(endpoint: str, family: str) -> tuple[str, ...]:
    allowed = QUALITIES["gpt" if family == "gpt-2" else family]
    # OpenAI's multipart edit schema also lists "standard" for the GPT image models.
    return (*allowed, "standard") if endpoint == "edits" and family.startswith("gpt") else allowed


def _background(body: dict[str, Any], fmt: str) -> str:
    """ "transparent" or "opaque": "auto" draws opaque, as the models mostly do."""
    background = _enum(body, "background", ("transparent", "opaque", "auto"))
    if background != "transparent":
        return "opaque"
    if fmt == "jpeg":
        raise invalid(
            "background",
            f"Transparent background is not supported for output format '{fmt}'; use png or webp.",
        )
    return background


def _response_format(body: dict[str, Any]) -> str | None:
    """response_format, once the remaining options have been checked in OpenAI's order."""
    for name, allowed in CHECKED_ONLY:
        _enum(body, name, allowed)
    response_format = _enum(body, "response_format", ("url", "b64_json"))
    if body.get("stream") not in (None, False):
        raise invalid(
            "stream",
            "Streaming is not supported by this gateway; send stream=false.",
            "unsupported_parameter",
        )
    _int(body, "partial_images", 0, 0, 3)
    return response_format


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(name, f"an integer, but got {type(value).__name__}")
    if value < low:
        message = (
            f"Invalid '{name}': integer below minimum value. "
            f"Expected a value >= {low}, but got {value} instead."
        )
        raise invalid(name, message, "integer_below_min_value")
    if value > high:
        message = (
            f"Invalid '{name}': integer above maximum value. "
            f"Expected a value <= {high}, but got {value} instead."
        )
        raise invalid(name, message, "integer_above_max_value")
    return value


def _enum(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if value not in allowed:
        listed = ", ".join(f"'{item}'" for item in allowed)
        raise invalid(name, f"Invalid value: '{value}'. Supported values are: {listed}.")
    return value


def _output_format(dialect: str, body: dict[str, Any], family: str) -> str:
    name = "output_format"
    if dialect == "quickrouter" and body.get("output_format") is None:
        name = "format"  # quickrouter's own spelling; it takes OpenAI's too
    value = _enum(body, name, images.FORMATS)
    if family.startswith("dall-e"):
        return "png"  # dall-e only ever made PNGs
    return value or "png"


def _compression(body: dict[str, Any], fmt: str) -> int | None:
    if body.get("output_compression") is None:
        return None
    compression = _int(body, "output_compression", 100, 0, 100)
    if fmt == "png" and compression < 100:
        message = (
            "Compression less than 100 is not supported for PNG output format; use jpeg or webp."
        )
        raise invalid("output_compression", message)
    return compression


def _size(
    dialect: str,
    endpoint: str,
    body: dict[str, Any],
    family: str,
    edit: dict[str, Any] | None,
) -> tuple[int, int]:
    if dialect == "routmy" and body.get("image_config") is not None:
        return _image_config_size(body["image_config"])
    value = body.get("size")
    if value is not None and not isinstance(value, str):
        raise wrong_type("size", "a string")
    if family.startswith("dall-e"):
        return _listed_size("1024x1024" if value is None else value, DALLE_SIZES[family])
    if value is None or value == "auto":
        return _auto_size(edit)
    if family == "gpt":
        return _listed_size(value, GPT_STANDARD_SIZES, (*GPT_STANDARD_SIZES, "auto"))
    return _free_size(value, family)


def _listed_size(
    value: str, allowed: tuple[str, ...], named: tuple[str, ...] | None = None
) -> tuple[int, int]:
    """A size from a fixed list; `named` is what the error lists when it differs from `allowed`."""
    if value not in allowed:
        listed = named or allowed
        quoted = ", ".join(f"'{item}'" for item in listed[:-1]) + f", and '{listed[-1]}'"
        raise invalid("size", f"Invalid value: '{value}'. Supported values are: {quoted}.")
    width, _, height = value.partition("x")
    return int(width), int(height)


def _free_size(value: str, family: str) -> tuple[int, int]:
    match = SIZE_RE.match(value)
    if not match:
        raise invalid(
            "size", f"Invalid value: '{value}'. Expected 'auto' or WIDTHxHEIGHT, e.g. '1536x864'."
        )
    width, height = int(match[1]), int(match[2])
    if family == "gpt-2":
        _check_gpt2_size(value, width, height)
    elif not (0 < width <= GENERIC_MAX_EDGE and 0 < height <= GENERIC_MAX_EDGE):
        raise invalid(
            "size",
            f"Invalid value: '{value}'. Width and height must be between 1 and {GENERIC_MAX_EDGE}.",
        )
    return width, height


def _check_gpt2_size(value: str, width: int, height: int) -> None:
    problem = None
    if width % 16 or height % 16 or not width or not height:
        problem = "width and height must both be positive multiples of 16"
    elif max(width, height) > GPT2_MAX_EDGE:
        problem = f"the longest edge must be at most {GPT2_MAX_EDGE} pixels"
    elif width * height > GPT2_MAX_PIXELS:
        problem = "the maximum supported resolution is 3840x2160"
    elif max(width, height) / min(width, height) > GPT2_MAX_RATIO:
        problem = "the aspect ratio must be between 1:3 and 3:1"
    if problem:
        raise invalid("size", f"Invalid value: '{value}'. For gpt-image-2, {problem}.")


def _auto_size(edit: dict[str, Any] | None) -> tuple[int, int]:
    """The first input image's size for edits (scaled into the model's limits), else 1024x1024."""
    first = edit["images"][0] if edit and edit["images"] else {}
    width, height = first.get("width"), first.get("height")
    if not width or not height:
        return 1024, 1024
    scale = min(
        1.0, GPT2_MAX_EDGE / max(width, height), math.sqrt(GPT2_MAX_PIXELS / (width * height))
    )
    return max(1, int(width * scale)), max(1, int(height * scale))


def _image_config_size(config: Any) -> tuple[int, int]:
    """routmy's image_config: 1K/2K/4K is the long edge, the aspect ratio sets the other one."""
    if not isinstance(config, dict):
        raise wrong_type("image_config", "an object")
    a, b = _aspect_ratio(config.get("aspect_ratio") or "1:1")
    label = config.get("image_size") or "1K"
    edge = IMAGE_SIZE_EDGES.get(label.upper()) if isinstance(label, str) else None
    if edge is None:
        raise invalid(
            "image_config.image_size", f"Invalid image_size {label!r}; expected 1K, 2K or 4K."
        )
    short = max(16, round(edge * min(a, b) / max(a, b) / 16) * 16)
    return (edge, short) if a >= b else (short, edge)


def _aspect_ratio(ratio: Any) -> tuple[float, float]:
    match = ASPECT_RE.match(ratio) if isinstance(ratio, str) else None
    if not match or not float(match[1]) or not float(match[2]):
        raise invalid(
            "image_config.aspect_ratio", f"Invalid aspect_ratio {ratio!r}; expected e.g. '16:9'."
        )
    a, b = float(match[1]), float(match[2])
    if max(a, b) / min(a, b) > 4:
        raise invalid(
            "image_config.aspect_ratio", f"Unsupported aspect_ratio {ratio!r}; at most 4:1."
        )
    return a, b


def _delivery(
    dialect: str, family: str, response_format: str | None, scenario: dict[str, Any]
) -> str:
    if "huge_b64" in scenario:
        return "b64_json"
    if "url_expired" in scenario or "url_redirect_private" in scenario:
        return "url"  # these scenarios are about handed-out URLs, so hand some out
    if dialect == "openai" and family in ("gpt", "gpt-2"):
        return "b64_json"  # GPT image models ignore response_format
    default = "b64_json" if dialect == "routmy" else "url"
    return response_format or default
