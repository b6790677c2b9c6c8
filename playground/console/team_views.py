"""Staff console: teams and their members, and the limits of users and teams."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from playground.accounts.models import Membership, Team
from playground.audit.models import AuditEvent
from playground.console.access import (
    get_limit_or_404,
    get_membership_or_404,
    get_team_or_404,
    staff_required,
)
from playground.console.forms import (
    LimitForm,
    MemberForm,
    NewLimitForm,
    RoleForm,
    TeamForm,
    owner_value,
    parse_owner,
)
from playground.jobs import limits as run_limits
from playground.jobs.models import Limit
from playground.localtime import day_bounds, local_zone

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
    rows = [
        (limit, run_limits.in_flight(limit.subject), run_limits.images_today(limit.subject))
        for limit in Limit.objects.select_related("user", "team")
    ]
    _, reset = day_bounds()
    return render(
        request,
        "console/limits.html",
        {"limits": rows, "form": form, "reset": reset, "zone": local_zone()},
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


def _record_limit(request: HttpRequest, limit: Limit, before: dict[str, int | None]) -> None:
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
