"""What OpenAI's schema says each known model accepts (reference: CreateImageRequest).

Gateways also serve models we do not know; for those only the generic rules apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GPT_IMAGE_MODELS = (
    "gpt-image-2",
    "gpt-image-2-2026-04-21",
    "gpt-image-1.5",
    "gpt-image-1",
    "gpt-image-1-mini",
)
STANDARD_GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536")
SIZE_RE = re.compile(r"^(\d{2,5})x(\d{2,5})$")


@dataclass(frozen=True)
class ModelRules:
    family: str  # "gpt-image", "dall-e-2", "dall-e-3"
    prompt_max: int
    n_max: int
    sizes: tuple[str, ...]
    qualities: tuple[str, ...]
    default_size: str
    default_quality: str
    custom_sizes: bool = False
    # Parameters that only some families take (all others are rejected for known models).
    params: frozenset[str] = field(default_factory=frozenset)


GPT_PARAMS = frozenset(
    {"background", "moderation", "output_format", "output_compression", "response_format"}
)
RULES = {
    "dall-e-2": ModelRules(
        "dall-e-2",
        1000,
        10,
        ("256x256", "512x512", "1024x1024"),
        ("standard",),
        "1024x1024",
        "standard",
        params=frozenset({"response_format"}),
    ),
    "dall-e-3": ModelRules(
        "dall-e-3",
        4000,
        1,
        ("1024x1024", "1792x1024", "1024x1792"),
        ("standard", "hd"),
        "1024x1024",
        "standard",
        params=frozenset({"response_format", "style"}),
    ),
}
for _name in GPT_IMAGE_MODELS:
    RULES[_name] = ModelRules(
        "gpt-image",
        32000,
        10,
        ("auto", *STANDARD_GPT_SIZES),
        ("auto", "low", "medium", "high"),
        "auto",
        "auto",
        custom_sizes=_name.startswith("gpt-image-2"),
        params=GPT_PARAMS,
    )


def rules_for(model: str) -> ModelRules | None:
    """Rules for a model id, also when a gateway prefixes it (`openai/gpt-image-1`)."""
    name = (model or "").strip().lower().rsplit("/", 1)[-1]
    return RULES.get(name)


def parse_size(value: str) -> tuple[int, int] | None:
    match = SIZE_RE.match(value or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def custom_size_problem(width: int, height: int) -> str | None:
    """gpt-image-2's rules for arbitrary WIDTHxHEIGHT sizes, from OpenAI's schema."""
    if width % 16 or height % 16:
        return "Width and height must both be multiples of 16."
    if max(width, height) > 3840:
        return "The largest supported edge is 3840 pixels."
    if max(width, height) / min(width, height) > 3:
        return "The aspect ratio must be between 1:3 and 3:1."
    return None


def rules_as_json() -> dict:
    """For the form's script: which controls apply to which model."""
    return {
        name: {
            "family": r.family,
            "prompt_max": r.prompt_max,
            "n_max": r.n_max,
            "sizes": list(r.sizes),
            "qualities": list(r.qualities),
            "custom_sizes": r.custom_sizes,
            "params": sorted(r.params),
            "default_size": r.default_size,
            "default_quality": r.default_quality,
        }
        for name, r in RULES.items()
    }
