"""What the run page, the lightbox and the review panel show about a run."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.db.models import Avg, Count
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from playground.gallery.forms import CommentForm, TagForm, TeamChoiceForm
from playground.gallery.models import Review, Tag, can_delete, can_review
from playground.http import AuthenticatedHtmxHttpRequest, AuthenticatedHttpRequest
from playground.jobs import params
from playground.jobs.models import Run

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def tag_suggestions(user: User) -> list[str]:
    """Tags on runs this user can see, most used first (never tags from runs they cannot)."""
    visible = Run.objects.visible_to(user).values("pk")
    tags = (
        Tag.objects.filter(run_tags__run__in=visible)
        .annotate(uses=Count("run_tags"))
        .order_by("-uses", "name")
        .values_list("name", flat=True)
    )
    return list(tags[:200])


def review_context(request: AuthenticatedHttpRequest, run: Run, **forms: Any) -> dict[str, Any]:
    user = request.user
    summary = run.ratings.aggregate(avg=Avg("stars"), count=Count("pk"))
    mine = run.ratings.filter(user=user).values_list("stars", flat=True).first()
    return {
        "run": run,
        "rating_avg": summary["avg"],
        "rating_count": summary["count"],
        "my_rating": mine or 0,
        "stars": range(1, 6),
        "is_favourite": run.favourites.filter(user=user).exists(),
        "run_tags": list(run.tags.order_by("name")),
        "comments": list(run.comments.select_related("author")),
        "review": Review.objects.filter(run=run).select_related("decided_by").first(),
        "can_review": can_review(user, run),
        "rating_form": forms.get("rating_form"),
        "tag_form": forms.get("tag_form") or TagForm(auto_id="id_tag_%s"),
        "comment_form": forms.get("comment_form") or CommentForm(auto_id="id_comment_%s"),
        "review_form": forms.get("review_form"),
        "next": next_url(request, run),
    }


def next_url(request: HttpRequest, run: Run) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("gallery:run", args=[run.pk])


def run_context(request: AuthenticatedHtmxHttpRequest, run: Run, **forms: Any) -> dict[str, Any]:
    context = review_context(request, run, **forms)
    is_owner = run.owner_id == request.user.pk
    visibility_form = forms.get("visibility_form")
    if visibility_form is None and is_owner:
        visibility_form = TeamChoiceForm(
            user=request.user, current_team=run.team, initial={"team": run.team_id}
        )
    context.update(
        {
            "params": list(params.shown(run).items()),
            "request_json": json.dumps(run.request, indent=2, ensure_ascii=False),
            "response_json": json.dumps(run.response_summary, indent=2, ensure_ascii=False),
            "usage_json": json.dumps(run.usage, indent=2) if run.usage else "",
            "is_owner": is_owner,
            "can_delete": can_delete(request.user, run),
            "visibility_form": visibility_form,
            # A fragment in the gallery uses the page's own list of suggestions.
            "tag_suggestions": [] if request.htmx else tag_suggestions(request.user),
        }
    )
    return context
