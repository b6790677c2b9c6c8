"""Staff-only access, and one lookup per model that 404s for what does not exist."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from playground.accounts.models import Membership, Team
from playground.jobs.models import Limit
from playground.providers.models import ApiKey, Provider


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Log in first; then anyone who is not staff gets a 404, as if the console did not exist."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_staff:
            raise Http404("No such page")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def get_provider_or_404(provider_id: int) -> Provider:
    return get_object_or_404(Provider, pk=provider_id)


def get_key_or_404(key_id: int) -> ApiKey:
    return get_object_or_404(ApiKey.objects.select_related("provider", "user", "team"), pk=key_id)


def get_team_or_404(team_id: int) -> Team:
    return get_object_or_404(Team, pk=team_id)


def get_membership_or_404(team: Team, membership_id: int) -> Membership:
    return get_object_or_404(Membership.objects.select_related("user"), pk=membership_id, team=team)


def get_limit_or_404(limit_id: int) -> Limit:
    return get_object_or_404(Limit.objects.select_related("user", "team"), pk=limit_id)
