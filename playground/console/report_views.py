"""Staff console reports: usage (page, chart, CSV) and the audit log."""

from __future__ import annotations

import csv
from datetime import timedelta

from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from playground.audit.models import AuditEvent
from playground.console.access import staff_required
from playground.console.forms import AuditFilterForm, UsageFilterForm
from playground.console.usage import (
    build_chart,
    filtered_runs,
    format_units,
    grand_total,
    totals_by_group,
    usage_rows,
)
from playground.localtime import day_start, local_zone

EVENTS_PER_PAGE = 50
CSV_HEADER = ["day", "group_id", "group", "runs", "images", "failures", "tokens", "quota_units"]


def _usage_form(request: HttpRequest) -> UsageFilterForm:
    form = UsageFilterForm(request.GET)
    form.is_valid()
    return form


@staff_required
def usage(request: HttpRequest) -> HttpResponse:
    form = _usage_form(request)
    context: dict = {"form": form, "zone": local_zone()}
    if not form.errors:
        filters = form.cleaned_data
        rows = usage_rows(filtered_runs(filters), filters["group"])
        query = request.GET.copy()
        context.update(
            filters=filters,
            rows=rows,
            totals=totals_by_group(rows),
            total=grand_total(rows),
            chart=build_chart(rows, filters["start"], filters["end"], filters["metric"]),
            metric_label=dict(UsageFilterForm.METRICS)[filters["metric"]],
            group_label=dict(UsageFilterForm.GROUPS)[filters["group"]],
            querystring=query.urlencode(),
        )
    return render(request, "console/usage.html", context)


@staff_required
def usage_csv(request: HttpRequest) -> HttpResponse:
    form = _usage_form(request)
    if form.errors:
        errors = "; ".join(f"{name}: {' '.join(map(str, e))}" for name, e in form.errors.items())
        return HttpResponse(f"Bad filters: {errors}\n", status=400, content_type="text/plain")
    filters = form.cleaned_data
    rows = usage_rows(filtered_runs(filters), filters["group"])
    name = f"usage-{filters['group']}-{filters['start']:%Y%m%d}-{filters['end']:%Y%m%d}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow([_cell(value) for value in row.as_csv()])
    total = grand_total(rows)
    writer.writerow(
        [
            "total",
            "",
            "",
            total.runs,
            total.images,
            total.failures,
            total.tokens,
            format_units(total.units),
        ]
    )
    return response


def _cell(value):
    """Spreadsheets run cells that start with = + - @ as formulas; names are user input."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@staff_required
def audit(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    events = AuditEvent.objects.select_related("actor")
    if form.is_valid():
        data = form.cleaned_data
        if data["action"]:
            events = events.filter(action=data["action"])
        if data["target_type"]:
            events = events.filter(target_type=data["target_type"])
        if data["actor"]:
            events = events.filter(actor_name__iexact=data["actor"].strip())
        if data["q"]:
            events = events.filter(
                Q(target_label__icontains=data["q"]) | Q(target_id=data["q"].strip())
            )
        if data["start"]:
            events = events.filter(created_at__gte=day_start(data["start"]))
        if data["end"]:
            events = events.filter(created_at__lt=day_start(data["end"] + timedelta(days=1)))
    page = Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "console/audit.html",
        {"form": form, "page": page, "querystring": query.urlencode()},
    )
