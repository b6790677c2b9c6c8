"""Staff console: providers, every key (user and team), teams and their members, limits."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from playground.accounts.models import Membership, Team
from playground.console import limits as run_limits
from playground.console.access import (
    get_key_or_404,
    get_limit_or_404,
    get_membership_or_404,
    get_provider_or_404,
    get_team_or_404,
    staff_required,
)
from playground.console.forms import (
    AddKeyForm,
    LimitForm,
    MemberForm,
    NewLimitForm,
    ProviderForm,
    RoleForm,
    RotateKeyForm,
    TeamForm,
    owner_value,
    parse_owner,
)
from playground.console.models import AuditEvent, Limit
from playground.jobs.models import Run
from playground.providers.crypto import KeyDecryptionError
from playground.providers.models import ApiKey, Provider
from playground.upstream.errors import UpstreamError

KEYS_PER_PAGE = 50
KEY_STATUSES = [
    ("", "Any status"),
    ("active", "Active"),
    ("reentry", "Needs re-entry"),
    ("revoked", "Revoked"),
    ("failing", "Last test failed"),
]


def key_status(key: ApiKey) -> tuple[str, str]:
    """(css slug, words) for a key's state, the most pressing first."""
    if key.is_revoked:
        return "revoked", "revoked"
    if key.needs_reentry:
        return "reentry", "needs re-entry"
    if not key.provider.enabled:
        return "idle", "provider disabled"
    if key.last_test_ok is False:
        return "failing", "last test failed"
    return "active", "active"


@staff_required
def index(request: HttpRequest) -> HttpResponse:
    start, end = run_limits.day_bounds()
    today = Run.objects.filter(created_at__gte=start, created_at__lt=end)
    keys = ApiKey.objects.select_related("provider")
    context = {
        "providers_enabled": Provider.objects.filter(enabled=True).count(),
        "providers_total": Provider.objects.count(),
        "keys_active": keys.filter(
            revoked_at__isnull=True, saved_for_url=F("provider__base_url")
        ).count(),
        "keys_reentry": keys.filter(revoked_at__isnull=True)
        .exclude(saved_for_url=F("provider__base_url"))
        .count(),
        "keys_revoked": keys.filter(revoked_at__isnull=False).count(),
        "runs_today": today.count(),
        "failures_today": today.filter(status__in=("failed", "interrupted")).count(),
        "in_flight": Run.objects.filter(status__in=run_limits.IN_FLIGHT).count(),
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
        provider = Provider()
        form.apply_to(provider)
        provider.save(actor=request.user)
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
    form = ProviderForm(request.POST or None, provider=provider)
    if request.method == "POST" and form.is_valid():
        previous = {name: str(getattr(provider, name)) for name in ProviderForm.FIELDS}
        changed = form.apply_to(provider)
        if changed:
            provider.save(actor=request.user)  # a new base URL is audited by the model
            other = [name for name in changed if name != "base_url"]
            if other:
                AuditEvent.record(
                    request.user,
                    AuditEvent.Action.PROVIDER_CHANGED,
                    provider,
                    {name: {"from": previous[name], "to": str(getattr(provider, name))}
                     for name in other},
                )  # fmt: skip
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
    return render(
        request,
        "console/provider_form.html",
        {"form": form, "provider": provider, "stored_keys": stale},
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
def provider_refresh(request: HttpRequest, provider_id: int) -> HttpResponse:
    """Ask the gateway for its model list again, with a key that may be sent there."""
    provider = get_provider_or_404(provider_id)
    key = provider.key_for(request.user) or _any_usable_key(provider)
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


def _any_usable_key(provider: Provider) -> ApiKey | None:
    keys = provider.keys.filter(revoked_at__isnull=True, saved_for_url=provider.base_url)
    return keys.order_by(F("team_id").asc(nulls_last=True), "pk").first()


# --- keys ---------------------------------------------------------------------------------------


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
    current = Q(revoked_at__isnull=True, saved_for_url=F("provider__base_url"))
    if status == "active":
        rows = rows.filter(current)
    elif status == "reentry":
        rows = rows.filter(revoked_at__isnull=True).exclude(saved_for_url=F("provider__base_url"))
    elif status == "revoked":
        rows = rows.filter(revoked_at__isnull=False)
    elif status == "failing":
        rows = rows.filter(current, last_test_ok=False)
    rows = rows.order_by("provider__name", F("team__name").asc(nulls_last=True), "user__username")
    page = Paginator(rows, KEYS_PER_PAGE).get_page(request.GET.get("page"))
    for key in page:
        key.status_slug, key.status_label = key_status(key)
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


def _key_context(key: ApiKey, rotate_form: RotateKeyForm) -> dict:
    key.status_slug, key.status_label = key_status(key)
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


# --- teams --------------------------------------------------------------------------------------


@staff_required
def teams(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = Team.objects.create(name=form.cleaned_data["name"])
        AuditEvent.record(request.user, AuditEvent.Action.TEAM_ADDED, team)
        messages.success(request, f"Team {team.name} created. Add its members below.")
        return redirect("console:team", team_id=team.pk)
    rows = Team.objects.annotate(
        member_count=Count("memberships", distinct=True),
        key_count=Count("api_keys", distinct=True),
    ).select_related("run_limit")
    return render(request, "console/teams.html", {"teams": rows, "form": form})


@staff_required
def team_detail(request: HttpRequest, team_id: int) -> HttpResponse:
    team = get_team_or_404(team_id)
    form = MemberForm(request.POST or None, team=team)
    if request.method == "POST" and form.is_valid():
        user, role = form.cleaned_data["username"], form.cleaned_data["role"]
        Membership.objects.create(team=team, user=user, role=role)
        AuditEvent.record(
            request.user, AuditEvent.Action.MEMBER_ADDED, team, {"user": str(user), "role": role}
        )
        messages.success(request, f"{user} added to {team.name} as {role}.")
        return redirect("console:team", team_id=team.pk)
    members = team.memberships.select_related("user").order_by("user__username")
    context = {
        "team": team,
        "form": form,
        "members": [(m, RoleForm(initial={"role": m.role}, prefix=f"m{m.pk}")) for m in members],
        "keys": team.api_keys.select_related("provider").annotate(run_count=Count("runs")),
        "limit": Limit.objects.filter(team=team).first(),
        "owner": owner_value(team),
    }
    return render(request, "console/team_detail.html", context)


@staff_required
@require_POST
def member_role(request: HttpRequest, team_id: int, membership_id: int) -> HttpResponse:
    team = get_team_or_404(team_id)
    membership = get_membership_or_404(team, membership_id)
    form = RoleForm(request.POST, prefix=f"m{membership.pk}")
    if not form.is_valid():
        messages.error(request, "Choose member or reviewer.")
    elif form.cleaned_data["role"] != membership.role:
        before, membership.role = membership.role, form.cleaned_data["role"]
        membership.save(update_fields=["role"])
        AuditEvent.record(
            request.user,
            AuditEvent.Action.MEMBER_ROLE_CHANGED,
            team,
            {"user": str(membership.user), "from": before, "to": membership.role},
        )
        messages.success(request, f"{membership.user} is now a {membership.role} of {team.name}.")
    return redirect("console:team", team_id=team.pk)


@staff_required
@require_POST
def member_remove(request: HttpRequest, team_id: int, membership_id: int) -> HttpResponse:
    team = get_team_or_404(team_id)
    membership = get_membership_or_404(team, membership_id)
    membership.delete()
    AuditEvent.record(
        request.user,
        AuditEvent.Action.MEMBER_REMOVED,
        team,
        {"user": str(membership.user), "role": membership.role},
    )
    messages.success(request, f"{membership.user} removed from {team.name}.")
    return redirect("console:team", team_id=team.pk)


# --- limits -------------------------------------------------------------------------------------


@staff_required
def limits(request: HttpRequest) -> HttpResponse:
    initial = {}
    if parse_owner(request.GET.get("owner", "")) is not None:
        initial["owner"] = request.GET["owner"]
    form = NewLimitForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        owner = form.cleaned_data["owner"]
        limit = Limit(
            max_concurrent_runs=form.cleaned_data["max_concurrent_runs"],
            max_images_per_day=form.cleaned_data["max_images_per_day"],
            **({"team": owner} if isinstance(owner, Team) else {"user": owner}),
        )
        limit.save()
        _record_limit(request, limit, {"max_concurrent_runs": None, "max_images_per_day": None})
        messages.success(request, f"Limit set for {limit.subject_label}.")
        return redirect("console:limits")
    rows = list(Limit.objects.select_related("user", "team"))
    for limit in rows:
        limit.in_flight = run_limits.in_flight(limit.subject)
        limit.images_today = run_limits.images_today(limit.subject)
    _, reset = run_limits.day_bounds()
    return render(
        request,
        "console/limits.html",
        {"limits": rows, "form": form, "reset": reset, "zone": run_limits.local_zone()},
    )


@staff_required
def limit_edit(request: HttpRequest, limit_id: int) -> HttpResponse:
    limit = get_limit_or_404(limit_id)
    form = LimitForm(request.POST or None, initial=limit.caps())
    if request.method == "POST" and form.is_valid():
        before = limit.caps()
        limit.max_concurrent_runs = form.cleaned_data["max_concurrent_runs"]
        limit.max_images_per_day = form.cleaned_data["max_images_per_day"]
        if limit.caps() != before:
            limit.save()
            _record_limit(request, limit, before)
            messages.success(request, f"Limit for {limit.subject_label} saved.")
        return redirect("console:limits")
    return render(request, "console/limit_form.html", {"limit": limit, "form": form})


@staff_required
@require_POST
def limit_delete(request: HttpRequest, limit_id: int) -> HttpResponse:
    limit = get_limit_or_404(limit_id)
    AuditEvent.record(request.user, AuditEvent.Action.LIMIT_REMOVED, limit, limit.caps())
    limit.delete()
    messages.success(request, f"Limit for {limit.subject_label} removed.")
    return redirect("console:limits")


def _record_limit(request: HttpRequest, limit: Limit, before: dict) -> None:
    after = limit.caps()
    AuditEvent.record(
        request.user,
        AuditEvent.Action.LIMIT_CHANGED,
        limit,
        {
            name: {"from": before[name], "to": after[name]}
            for name in after
            if before[name] != after[name]
        },
    )
