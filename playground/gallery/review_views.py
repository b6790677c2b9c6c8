"""Review actions on a run: rating, favourite, tags, comments, approval.

Each answers an htmx request with the re-rendered review panel (errors next to their field) and a
plain form post with a redirect back, so the panel works the same with and without JavaScript.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Avg, Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from playground.gallery.forms import CommentForm, RatingForm, ReviewForm, TagForm
from playground.gallery.models import (
    Comment,
    Favourite,
    Rating,
    Review,
    RunTag,
    Tag,
    can_review,
)
from playground.jobs.models import Run
from playground.jobs.views import get_run_or_404

MAX_TAGS_PER_RUN = 30


def tag_suggestions(user) -> list[str]:
    """Tags on runs this user can see, most used first (never tags from runs they cannot)."""
    visible = Run.objects.visible_to(user).values("pk")
    tags = (
        Tag.objects.filter(run_tags__run__in=visible)
        .annotate(uses=Count("run_tags"))
        .order_by("-uses", "name")
        .values_list("name", flat=True)
    )
    return list(tags[:200])


def review_context(request: HttpRequest, run: Run, **forms) -> dict:
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
        "next": _next_url(request, run),
    }


def _next_url(request: HttpRequest, run: Run) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("gallery:run", args=[run.pk])


def _respond(request: HttpRequest, run: Run, **forms) -> HttpResponse:
    failed = any(form is not None and form.errors for form in forms.values())
    if request.htmx:
        return render(request, "gallery/_review.html", review_context(request, run, **forms))
    if failed:
        # Without JavaScript: the run page again, with the error by its field and the text kept.
        from playground.gallery.views import run_context

        return render(request, "gallery/run.html", run_context(request, run, **forms))
    return redirect(_next_url(request, run))


@login_required
def panel(request: HttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    return render(request, "gallery/_review.html", review_context(request, run))


@login_required
@require_POST
def rate(request: HttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    form = RatingForm(request.POST, auto_id="id_rating_%s")
    if form.is_valid():
        stars = form.cleaned_data["stars"]
        if stars:
            Rating.objects.update_or_create(run=run, user=request.user, defaults={"stars": stars})
        else:
            Rating.objects.filter(run=run, user=request.user).delete()
    return _respond(request, run, rating_form=form)


@login_required
@require_POST
def favourite(request: HttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    # An explicit on/off rather than a toggle: a double click cannot flip it back.
    if request.POST.get("favourite") == "1":
        Favourite.objects.get_or_create(run=run, user=request.user)
    else:
        Favourite.objects.filter(run=run, user=request.user).delete()
    return _respond(request, run)


@login_required
@require_POST
def add_tag(request: HttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    form = TagForm(request.POST, auto_id="id_tag_%s")
    if form.is_valid():
        name = form.cleaned_data["name"]
        if run.run_tags.filter(tag__name=name).exists():
            pass  # already there: adding it again is a no-op, not an error
        elif run.run_tags.count() >= MAX_TAGS_PER_RUN:
            form.add_error("name", f"A run can have at most {MAX_TAGS_PER_RUN} tags.")
        else:
            tag, _ = Tag.objects.get_or_create(name=name)
            RunTag.objects.get_or_create(run=run, tag=tag, defaults={"added_by": request.user})
            form = None
    return _respond(request, run, tag_form=form)


@login_required
@require_POST
def remove_tag(request: HttpRequest, run_id, tag_id: int) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    RunTag.objects.filter(run=run, tag_id=tag_id).delete()
    Tag.objects.filter(pk=tag_id, run_tags__isnull=True).delete()
    return _respond(request, run)


@login_required
@require_POST
def add_comment(request: HttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    form = CommentForm(request.POST, auto_id="id_comment_%s")
    if form.is_valid():
        Comment.objects.create(run=run, author=request.user, body=form.cleaned_data["body"])
        form = None
    return _respond(request, run, comment_form=form)


@login_required
@require_POST
def delete_comment(request: HttpRequest, run_id, comment_id: int) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    comment = get_object_or_404(Comment, pk=comment_id, run=run)
    if comment.author_id != request.user.pk and not request.user.is_staff:
        raise PermissionDenied("Only its author can delete a comment.")
    comment.delete()
    return _respond(request, run)


@login_required
@require_POST
def set_review(request: HttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    if not can_review(request.user, run):
        raise PermissionDenied("Only reviewers of this run's team can approve or reject it.")
    form = ReviewForm(request.POST, auto_id="id_review_%s")
    if form.is_valid():
        Review.objects.update_or_create(
            run=run,
            defaults={
                "state": form.cleaned_data["state"],
                "decided_by": request.user,
                "decided_at": timezone.now(),
            },
        )
        form = None
    return _respond(request, run, review_form=form)
