"""Usage accounting: runs, images, failures, tokens and quota units per day and per group.

Everything is summed by the database; Python only names the groups and draws the chart.
Quota units follow the gateways' rule: 5,000 per generated image, 12,500 when the requested
`image_config.image_size` is 4K, times the provider's quota multiplier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncDate

from playground.accounts.models import Team
from playground.jobs.models import Image, Run
from playground.jobs.models.run import accounting_team
from playground.localtime import days_bounds, local_zone
from playground.providers.models import ApiKey

UNITS_PER_IMAGE = 5_000
UNITS_PER_4K_IMAGE = 12_500
FAILED = ("failed", "interrupted")
METRICS = ("runs", "images", "failures", "tokens", "units")
SERIES_SHOWN = 6  # the chart stacks the biggest groups and lumps the rest into "other"

# The annotation each grouping sums by; labels for the ids are looked up afterwards.
GROUP_FIELDS = {
    "user": "owner_id",
    "team": "account_team",
    "key": "api_key_id",
    "provider": "provider_name",
    "model": "model",
}


def _usage_int(name: str):
    return Cast(KT(f"usage__{name}"), models.BigIntegerField())


def accounted_runs() -> models.QuerySet:
    """Runs with their per-run figures as annotations, ready to filter and group."""
    images = (
        Image.objects.filter(run=models.OuterRef("pk"))
        .order_by()
        .values("run")
        .annotate(count=models.Count("pk"))
        .values("count")
    )
    per_image = models.Case(
        models.When(params__image_size="4K", then=models.Value(UNITS_PER_4K_IMAGE)),
        default=models.Value(UNITS_PER_IMAGE),
    )
    multiplier = Coalesce(
        models.F("provider__quota_multiplier"),
        models.Value(Decimal(1)),
        output_field=models.DecimalField(max_digits=8, decimal_places=3),
    )
    return Run.objects.annotate(
        account_team=accounting_team(),
        day=TruncDate("created_at", tzinfo=local_zone()),
        image_count=Coalesce(models.Subquery(images), 0),
        failed=models.Case(
            models.When(status__in=FAILED, then=models.Value(1)), default=models.Value(0)
        ),
        tokens=Coalesce(
            _usage_int("total_tokens"),
            _usage_int("input_tokens") + _usage_int("output_tokens"),
            _usage_int("prompt_tokens") + _usage_int("completion_tokens"),
            models.Value(0),
            output_field=models.BigIntegerField(),
        ),
        units=models.ExpressionWrapper(
            models.F("image_count") * per_image * multiplier,
            output_field=models.DecimalField(max_digits=20, decimal_places=3),
        ),
    )


def filtered_runs(filters: dict[str, Any]) -> models.QuerySet:
    start, end = days_bounds(filters["start"], filters["end"])
    runs = accounted_runs().filter(created_at__gte=start, created_at__lt=end)
    if filters.get("user"):
        runs = runs.filter(owner=filters["user"])
    if filters.get("team"):
        runs = runs.filter(account_team=filters["team"].pk)
    if filters.get("provider"):
        runs = runs.filter(provider=filters["provider"])
    if filters.get("key"):
        runs = runs.filter(api_key_id=filters["key"])
    if filters.get("model"):
        runs = runs.filter(model=filters["model"].strip())
    return runs


@dataclass
class UsageRow:
    day: date | None
    group: str
    label: str
    runs: int = 0
    images: int = 0
    failures: int = 0
    tokens: int = 0
    units: Decimal = Decimal(0)

    def add(self, other: UsageRow) -> None:
        for name in METRICS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_csv(self) -> list[Any]:
        return [
            self.day.isoformat() if self.day else "",
            self.group,
            self.label,
            self.runs,
            self.images,
            self.failures,
            self.tokens,
            format_units(self.units),
        ]


def usage_rows(runs: models.QuerySet, group: str) -> list[UsageRow]:
    """One row per day and group, oldest day first."""
    key = GROUP_FIELDS[group]
    aggregated = (
        runs.order_by()
        .values("day", key)
        .annotate(
            n_runs=models.Count("pk"),
            n_images=models.Sum("image_count"),
            n_failures=models.Sum("failed"),
            n_tokens=models.Sum("tokens"),
            n_units=models.Sum("units"),
        )
    )
    raw = list(aggregated)
    labels = group_labels(group, {item[key] for item in raw})
    rows = [
        UsageRow(
            day=_as_date(item["day"]),
            group="" if item[key] is None else str(item[key]),
            label=labels.get(item[key], _none_label(group)),
            runs=item["n_runs"],
            images=int(item["n_images"] or 0),
            failures=int(item["n_failures"] or 0),
            tokens=int(item["n_tokens"] or 0),
            units=Decimal(str(item["n_units"] or 0)).quantize(Decimal("0.001")),
        )
        for item in raw
    ]
    rows.sort(key=lambda row: (row.day or date.min, row.label.lower()))
    return rows


def group_labels(group: str, ids: set) -> dict:
    ids = {i for i in ids if i is not None}
    if group == "user":
        users = get_user_model().objects.filter(pk__in=ids)
        return {u.pk: u.get_username() for u in users}
    if group == "team":
        return dict(Team.objects.filter(pk__in=ids).values_list("pk", "name"))
    if group == "key":
        keys = ApiKey.objects.filter(pk__in=ids).select_related("provider", "user", "team")
        return {k.pk: f"{k.provider.name} {k.hint} ({k.owner_label})" for k in keys}
    return {i: str(i) for i in ids}


def _none_label(group: str) -> str:
    return {
        "team": "no team",
        "key": "no key (keyless provider)",
        "user": "deleted user",
        "model": "(no model)",
    }.get(group, "—")


def _as_date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


def totals_by_group(rows: list[UsageRow]) -> list[UsageRow]:
    groups: dict[str, UsageRow] = {}
    for row in rows:
        groups.setdefault(row.group, UsageRow(day=None, group=row.group, label=row.label)).add(row)
    return sorted(groups.values(), key=lambda row: (-row.units, -row.images, row.label.lower()))


def grand_total(rows: list[UsageRow]) -> UsageRow:
    total = UsageRow(day=None, group="", label="All")
    for row in rows:
        total.add(row)
    return total


def format_units(value: Decimal) -> str:
    """Whole units without decimals, fractional ones (odd multipliers) with up to three."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


# --- the chart --------------------------------------------------------------------------------

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 30


@dataclass
class Segment:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass
class Chart:
    metric: str
    width: int = WIDTH
    height: int = HEIGHT
    segments: list[Segment] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    legend: list[tuple[int, str]] = field(default_factory=list)
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM
    empty: bool = True


def build_chart(rows: list[UsageRow], start: date, end: date, metric: str) -> Chart:
    """Stacked bars, one per day, geometry computed here so the template only places rects."""
    chart = Chart(metric=metric)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    ranked = [row.group for row in totals_by_group(rows) if _value(row, metric) > 0]
    shown = ranked[:SERIES_SHOWN]
    series_of = {group: index for index, group in enumerate(shown)}
    other = len(shown)
    labels = {row.group: row.label for row in rows}
    chart.legend = [(series_of[group], labels[group]) for group in shown]
    if len(ranked) > len(shown):
        chart.legend.append((other, f"{len(ranked) - len(shown)} more"))

    stacks: dict[date, dict[int, float]] = {day: {} for day in days}
    for row in rows:
        value = _value(row, metric)
        if value <= 0 or row.day not in stacks:
            continue
        series = series_of.get(row.group, other)
        stacks[row.day][series] = stacks[row.day].get(series, 0) + value
    peak = max((sum(stack.values()) for stack in stacks.values()), default=0)
    chart.empty = peak <= 0
    top = _nice_ceiling(peak)
    plot_w = chart.plot_right - chart.plot_left
    plot_h = chart.plot_bottom - chart.plot_top
    chart.y_ticks = [(chart.plot_bottom - plot_h * i / 4, _short(top * i / 4)) for i in range(0, 5)]
    slot = plot_w / len(days)
    bar = max(1.0, slot * 0.72)
    every = max(1, math.ceil(len(days) / 6))
    legend_names = dict(chart.legend)
    for index, day in enumerate(days):
        x = chart.plot_left + index * slot + (slot - bar) / 2
        if index % every == 0:
            chart.x_ticks.append((chart.plot_left + index * slot + slot / 2, f"{day:%b} {day.day}"))
        y = float(chart.plot_bottom)
        for series in sorted(stacks[day]):
            value = stacks[day][series]
            height = plot_h * value / top
            y -= height
            name = legend_names.get(series, "other")
            chart.segments.append(
                Segment(
                    x=round(x, 2),
                    y=round(y, 2),
                    width=round(bar, 2),
                    height=round(height, 2),
                    series=series,
                    title=f"{day:%Y-%m-%d} · {name}: {_short(value)} {metric}",
                )
            )
    return chart


def _value(row: UsageRow, metric: str) -> float:
    return float(getattr(row, metric))


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above `value` (so the axis reads well)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _short(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}" if value != int(value) else str(int(value))
