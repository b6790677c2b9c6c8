"""Staff console: every key, user and team, with its state, runs and history."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from playground.audit.models import AuditEvent
from playground.console.access import get_key_or_404, staff_required
from playground.console.forms import AddKeyForm, RotateKeyForm, parse_owner
from playground.providers.models import ApiKey, Provider

KEYS_PER_PAGE = 50
KEY_STATUSES = [
    ("", "Any status"),
    ("active", "Active"),
    ("reentry", "Needs re-entry"),
    ("revoked", "Revoked"),
    ("failing", "Last test failed"),
]


@staff_required
def keys(request: HttpRequest) -> HttpResponse:
    rows = ApiKey.objects.select_related("provider", "user", "team").annotate(
        run_count=Count("runs")
    )
    q = request.GET.get("q", "").strip()
    if q:
        rows = rows.filter(
            Q(label__icontains=q)
            | Q(hint__icontains=q)
            | Q(user__username__icontains=q)
            | Q(team__name__icontains=q)
        )
    if (provider_id := request.GET.get("provider", "")).isdigit():
        rows = rows.filter(provider_id=provider_id)
    owner_kind = request.GET.get("owner", "")
    if owner_kind == "team":
        rows = rows.filter(team__isnull=False)
    elif owner_kind == "user":
        rows = rows.filter(user__isnull=False)
    status = request.GET.get("status", "")
    if status == "active":
        rows = rows.active()
    elif status == "reentry":
        rows = rows.needing_reentry()
    elif status == "revoked":
        rows = rows.revoked()
    elif status == "failing":
        rows = rows.active().filter(last_test_ok=False)
    rows = rows.order_by("provider__name", F("team__name").asc(nulls_last=True), "user__username")
    page = Paginator(rows, KEYS_PER_PAGE).get_page(request.GET.get("page"))
    filters = request.GET.copy()
    filters.pop("page", None)
    context = {
        "page": page,
        "q": q,
        "providers": Provider.objects.all(),
        "provider_id": provider_id,
        "owner_kind": owner_kind,
        "status": status,
        "statuses": KEY_STATUSES,
        "querystring": filters.urlencode(),
    }
    return render(request, "console/keys.html", context)


@staff_required
def key_new(request: HttpRequest) -> HttpResponse:
    initial = {}
    if parse_owner(request.GET.get("owner", "")) is not None:
        initial["owner"] = request.GET["owner"]
    if request.GET.get("provider", "").isdigit():
        initial["provider"] = request.GET["provider"]
    form = AddKeyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        key = ApiKey(provider=form.cleaned_data["provider"], label=form.cleaned_data["label"])
        for name, value in form.owner_kwargs().items():
            setattr(key, name, value)
        key.set_secret(form.cleaned_data["secret"])
        try:
            with transaction.atomic():
                key.save()
        except IntegrityError:
            form.add_error("owner", "This owner got a key for that provider a moment ago.")
        else:
            AuditEvent.record(
                request.user, AuditEvent.Action.KEY_ADDED, key, {"hint": key.hint, "by": "staff"}
            )
            messages.success(request, f"Key {key.hint} added for {key.owner_label}.")
            return redirect("console:key", key_id=key.pk)
    return render(request, "console/key_new.html", {"form": form})


@staff_required
def key_detail(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_key_or_404(key_id)
    return render(request, "console/key_detail.html", _key_context(key, RotateKeyForm()))


def _key_context(key: ApiKey, rotate_form: RotateKeyForm) -> dict[str, Any]:
    return {
        "key": key,
        "rotate_form": rotate_form,
        "run_count": key.runs.count(),
        "recent_runs": key.runs.select_related("owner")[:10],
        "events": AuditEvent.objects.filter(
            target_type=AuditEvent.Target.KEY, target_id=str(key.pk)
        ).select_related("actor")[:20],
    }


@staff_required
@require_POST
def key_rotate(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_key_or_404(key_id)
    form = RotateKeyForm(request.POST)
    if not form.is_valid():
        return render(request, "console/key_detail.html", _key_context(key, form))
    old_hint, was_revoked = key.hint, key.is_revoked
    key.set_secret(form.cleaned_data["secret"])
    key.revoked_at = None
    key.save()
    AuditEvent.record(
        request.user,
        AuditEvent.Action.KEY_ROTATED,
        key,
        {"from_hint": old_hint, "to_hint": key.hint, "reinstated": was_revoked},
    )
    messages.success(request, f"Key rotated: {old_hint} → {key.hint}. Runs and history are kept.")
    return redirect("console:key", key_id=key.pk)


@staff_required
@require_POST
def key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_key_or_404(key_id)
    if key.is_revoked:
        messages.info(request, "This key was revoked already.")
    else:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
        AuditEvent.record(request.user, AuditEvent.Action.KEY_REVOKED, key, {"hint": key.hint})
        messages.success(request, f"Key {key.hint} revoked: it sends no more runs.")
    return redirect("console:key", key_id=key.pk)


@staff_required
@require_POST
def key_test(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_key_or_404(key_id)
    ok = key.test()
    AuditEvent.record(request.user, AuditEvent.Action.KEY_TESTED, key, {"ok": ok})
    (messages.success if ok else messages.error)(request, f"Test: {key.last_test_message}")
    if request.POST.get("back") == "list":
        return redirect("console:key_list")
    return redirect("console:key", key_id=key.pk)
