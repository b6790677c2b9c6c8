"""The parameter contract of a run: the one place that says which values go where.

A run keeps its prompt and model in their own columns (`Run.prompt`, `Run.model`) and everything
else the form set in `Run.params`:
- the upstream parameters of its kind (`GENERATE_FIELDS` / `EDIT_FIELDS`), sent exactly as set;
- the form's own choices (`FORM_ONLY`): kept so "Use these settings" refills the form, never
  sent, shown, compared or exported.
Forms, the runner, the run page, compare and export all derive what they do from this module.
The names themselves are the API's (`upstream.requests`), which also spells them per dialect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from playground.upstream.requests import EDIT_PARAMS, GENERATION_PARAMS

# Sent by the columns of their own (prompt, model) or not offered by the forms yet (streaming).
NOT_FORM_FIELDS = ("model", "prompt", "stream", "partial_images")
# Generation only: an edit takes its size and style from its references.
GENERATE_ONLY = ("style", "aspect_ratio", "image_size")
GENERATE_FIELDS = tuple(name for name in GENERATION_PARAMS if name not in NOT_FORM_FIELDS)
EDIT_FIELDS = tuple(
    name for name in EDIT_PARAMS if name not in NOT_FORM_FIELDS and name not in GENERATE_ONLY
)
# The form's choices: which provider and key, and the custom size as typed.
FORM_ONLY = ("provider", "api_key", "custom_size")


class RunLike(Protocol):
    kind: str
    model: str
    prompt: str
    params: dict[str, Any]


def upstream_fields(kind: str) -> tuple[str, ...]:
    return EDIT_FIELDS if kind == "edit" else GENERATE_FIELDS


def is_set(value: Any) -> bool:
    # Unset means "let the provider decide": it must not reach the wire, nor the record.
    return value is not None and value != ""


def stored(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """What a run keeps in `params` from a form's cleaned values: the set ones, in order."""
    names = (*upstream_fields(kind), *FORM_ONLY)
    return {name: values[name] for name in names if is_set(values.get(name))}


def upstream(run: RunLike) -> dict[str, Any]:
    """The run's parameters as the upstream gets them (before the dialect spells them)."""
    values = shown(run)
    model = {"model": values.pop("model")} if "model" in values else {}
    return {**model, "prompt": run.prompt, **values}


def shown(run: RunLike) -> dict[str, Any]:
    """What the run page, compare and export show: the model and every parameter sent."""
    values = {"model": run.model} if run.model else {}
    for name in upstream_fields(run.kind):
        if is_set(run.params.get(name)):
            values[name] = run.params[name]
    return values


def form_values(run: RunLike) -> dict[str, Any]:
    """The form values that reproduce a run ("Use these settings")."""
    values = {name: run.params[name] for name in FORM_ONLY if name in run.params}
    values.update(shown(run))
    values["prompt"] = run.prompt
    return values


def requested_images(params: Mapping[str, Any]) -> int:
    """Images a run asks for: its `n`, 1 when the request leaves it to the upstream."""
    try:
        return max(1, int(params.get("n") or 1))
    except (TypeError, ValueError):
        return 1
