"""Side-by-side rows for 2–4 runs or images, with the parameters that differ marked."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from playground.jobs import params

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    from playground.gallery.models import ReviewAnnotations
    from playground.jobs.models import Image, Run

MIN_ITEMS, MAX_ITEMS = 2, 4
NOT_SENT = "—"


@dataclass
class Item:
    run: WithAnnotations[Run, ReviewAnnotations]  # a run from gallery.models.with_review
    image: Image | None  # the image picked, or the run's first image


@dataclass
class Row:
    label: str
    values: list[str]
    highlight: bool = False  # a parameter row: differences are what the page is for

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


@dataclass
class Group:
    title: str
    rows: list[Row] = field(default_factory=list)


def _text(value: object) -> str:
    if value is None or value == "":
        return NOT_SENT
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _ms(value: int | None) -> str:
    return NOT_SENT if value is None else f"{value:,} ms"


def _flat_usage(usage: dict[str, Any] | None) -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in (usage or {}).items():
        if isinstance(value, dict):
            for sub, inner in value.items():
                flat[f"{key}.{sub}"] = inner
        else:
            flat[key] = value
    return flat


def groups(items: list[Item]) -> list[Group]:
    runs = [item.run for item in items]
    request = Group("Request")
    request.rows += [
        Row("Provider", [r.provider_name for r in runs], True),
        Row("Model", [_text(r.model) for r in runs], True),
        Row("Kind", [r.get_kind_display() for r in runs], True),
        Row("Prompt", [r.prompt for r in runs], True),
    ]
    shown = [params.shown(run) for run in runs]
    names: list[str] = []
    for values in shown:
        names += [n for n in values if n != "model" and n not in names]
    request.rows += [Row(n, [_text(v.get(n)) for v in shown], True) for n in names]

    result = Group("Result")
    images = [item.image for item in items]
    result.rows += [
        Row("Status", [r.get_status_display() for r in runs]),
        Row("Images in run", [str(len(r.images.all())) for r in runs]),
        Row("Size", [f"{i.width}×{i.height}" if i else NOT_SENT for i in images]),
        Row("Format", [i.format if i else NOT_SENT for i in images]),
        Row("File size", [filesizeformat(i.bytes) if i else NOT_SENT for i in images]),
        Row("Revised prompt", [_text(i.revised_prompt) if i else NOT_SENT for i in images]),
        Row("Error", [_text(r.error_message) for r in runs]),
    ]
    usage = [_flat_usage(r.usage) for r in runs]
    usage_keys: list[str] = []
    for flat in usage:
        usage_keys += [k for k in flat if k not in usage_keys]
    result.rows += [Row(f"usage.{k}", [_text(u.get(k)) for u in usage]) for k in usage_keys]
    result.rows += [
        Row("Upstream time", [_ms(r.upstream_ms) for r in runs]),
        Row("Total time", [_ms(r.total_ms) for r in runs]),
    ]

    review = Group("Review")
    review.rows += [
        Row("Owner", [r.owner.get_username() for r in runs]),
        Row("Shared with", [r.team.name if r.team is not None else "private" for r in runs]),
        Row(
            "Created",
            [f"{timezone.localtime(r.created_at):%Y-%m-%d %H:%M}" for r in runs],
        ),
        Row(
            "Rating",
            [
                f"{r.rating_avg:.1f} ({r.rating_count})" if r.rating_count else "not rated"
                for r in runs
            ],
        ),
        Row("Review", [r.review_state for r in runs]),
        Row("Tags", [", ".join(sorted(t.name for t in r.tags.all())) or NOT_SENT for r in runs]),
    ]
    return [request, result, review]
