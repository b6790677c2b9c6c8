"""Staff console: the overview and providers (keys, teams and limits have their own modules)."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, F, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from playground.accounts.models import Team
from playground.audit.models import AuditEvent
from playground.console.access import get_provider_or_404, staff_required
from playground.console.forms import ProviderForm
from playground.http import AuthenticatedHttpRequest
from playground.jobs.limits import IN_FLIGHT
from playground.jobs.models import Limit, Run
from playground.localtime import day_bounds
from playground.providers.crypto import KeyDecryptionError
from playground.providers.models import ApiKey, Provider
from playground.upstream.errors import UpstreamError


@staff_required
def index(request: HttpRequest) -> HttpResponse:
    start, end = day_bounds()
    today = Run.objects.filter(created_at__gte=start, created_at__lt=end)
    keys = ApiKey.objects.all()
    context = {
        "providers_enabled": Provider.objects.filter(enabled=True).count(),
        "providers_total": Provider.objects.count(),
        "keys_active": keys.active().count(),
        "keys_reentry": keys.needing_reentry().count(),
        "keys_revoked": keys.revoked().count(),
        "runs_today": today.count(),
        "failures_today": today.filter(status__in=("failed", "interrupted")).count(),
        "in_flight": Run.objects.filter(status__in=IN_FLIGHT).count(),
        "limits": Limit.objects.count(),
        "teams": Team.objects.count(),
        "events": AuditEvent.objects.select_related("actor")[:8],
    }
    return render(request, "console/index.html", context)


# --- providers ----------------------------------------------------------------------------------


@staff_required
def providers(request: HttpRequest) -> HttpResponse:
    rows = Provider.objects.annotate(
        key_count=Count("keys", distinct=True),
        reentry_count=Count(
            "keys",
            filter=Q(keys__revoked_at__isnull=True) & ~Q(keys__saved_for_url=F("base_url")),
            distinct=True,
        ),
    )
    return render(request, "console/providers.html", {"providers": rows})


@staff_required
def provider_new(request: HttpRequest) -> HttpResponse:
    form = ProviderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        provider = form.save(commit=False)
        provider.save_by(request.user)
        AuditEvent.record(
            request.user,
            AuditEvent.Action.PROVIDER_ADDED,
            provider,
            {"base_url": provider.base_url},
        )
        messages.success(request, f"Provider {provider.name} added. Add keys for it next.")
        return redirect("console:providers")
    return render(request, "console/provider_form.html", {"form": form, "provider": None})


@staff_required
def provider_edit(request: HttpRequest, provider_id: int) -> HttpResponse:
    provider = get_provider_or_404(provider_id)
    form = ProviderForm(request.POST or None, instance=provider)
    previous = form.values()
    if request.method == "POST" and form.is_valid():
        changed = [name for name, value in form.values().items() if previous[name] != value]
        if changed:
            provider.save_by(request.user)  # a new base URL is audited
            other = [name for name in changed if name != "base_url"]
            if other:
                AuditEvent.record(
                    request.user,
                    AuditEvent.Action.PROVIDER_CHANGED,
                    provider,
                    {
                        name: {"from": str(previous[name]), "to": str(getattr(provider, name))}
                        for name in other
                    },
                )
            messages.success(request, f"{provider.name} saved.")
            if "base_url" in changed:
                messages.warning(
                    request,
                    f"{provider.name}'s address changed: its stored keys are refused until "
                    f"they are entered again.",
                )
        else:
            messages.info(request, "Nothing changed.")
        return redirect("console:providers")
    stale = provider.keys.filter(revoked_at__isnull=True).count()
    # The form wrote what was typed onto the instance; the page names the provider as saved.
    saved = get_provider_or_404(provider_id)
    return render(
        request,
        "console/provider_form.html",
        {"form": form, "provider": saved, "stored_keys": stale},
    )


@staff_required
@require_POST
def provider_toggle(request: HttpRequest, provider_id: int) -> HttpResponse:
    provider = get_provider_or_404(provider_id)
    provider.enabled = not provider.enabled
    provider.save(update_fields=["enabled", "updated_at"])
    state = "enabled" if provider.enabled else "disabled"
    AuditEvent.record(
        request.user,
        AuditEvent.Action.PROVIDER_CHANGED,
        provider,
        {"enabled": {"from": str(not provider.enabled), "to": str(provider.enabled)}},
    )
    messages.success(request, f"{provider.name} {state}.")
    return redirect("console:providers")


@staff_required
@require_POST
def provider_refresh(request: AuthenticatedHttpRequest, provider_id: int) -> HttpResponse:
    """Ask the gateway for its model list again, with a key that may be sent there."""
    provider = get_provider_or_404(provider_id)
    key = (
        provider.key_for(request.user)
        or provider.keys.active().order_by(F("team_id").asc(nulls_last=True), "pk").first()
    )
    if key is None and provider.requires_key:
        messages.error(request, f"{provider.name} needs a key to list its models; add one first.")
        return redirect("console:providers")
    try:
        found = provider.list_models(key)
    except (UpstreamError, KeyDecryptionError) as exc:
        messages.error(request, f"{provider.name}: {exc}")
    else:
        provider.remember_models(found)
        messages.success(request, f"{provider.name}: {len(found)} models listed.")
    return redirect("console:providers")
