"""Review actions on a run: rating, favourite, tags, comments, approval.

Each answers an htmx request with the re-rendered review panel (errors next to their field) and a
plain form post with a redirect back, so the panel works the same with and without JavaScript.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from playground.gallery.context import next_url, review_context, run_context
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
from playground.http import AuthenticatedHtmxHttpRequest, AuthenticatedHttpRequest
from playground.jobs.models import Run
from playground.jobs.views import get_run_or_404

MAX_TAGS_PER_RUN = 30


def _respond(request: AuthenticatedHtmxHttpRequest, run: Run, **forms: Any) -> HttpResponse:
    failed = any(form is not None and form.errors for form in forms.values())
    if request.htmx:
        return render(request, "gallery/_review.html", review_context(request, run, **forms))
    if failed:
        # Without JavaScript: the run page again, with the error by its field and the text kept.
        return render(request, "gallery/run.html", run_context(request, run, **forms))
    return redirect(next_url(request, run))


@login_required
def panel(request: AuthenticatedHttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    return render(request, "gallery/_review.html", review_context(request, run))


@login_required
@require_POST
def rate(request: AuthenticatedHtmxHttpRequest, run_id) -> HttpResponse:
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
def favourite(request: AuthenticatedHtmxHttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    # An explicit on/off rather than a toggle: a double click cannot flip it back.
    if request.POST.get("favourite") == "1":
        Favourite.objects.get_or_create(run=run, user=request.user)
    else:
        Favourite.objects.filter(run=run, user=request.user).delete()
    return _respond(request, run)


@login_required
@require_POST
def add_tag(request: AuthenticatedHtmxHttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    form: TagForm | None  # None once saved: no errors or text to show again
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
def remove_tag(request: AuthenticatedHtmxHttpRequest, run_id, tag_id: int) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    RunTag.objects.filter(run=run, tag_id=tag_id).delete()
    Tag.objects.filter(pk=tag_id, run_tags__isnull=True).delete()
    return _respond(request, run)


@login_required
@require_POST
def add_comment(request: AuthenticatedHtmxHttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    form: CommentForm | None  # None once saved: no errors or text to show again
    form = CommentForm(request.POST, auto_id="id_comment_%s")
    if form.is_valid():
        Comment.objects.create(run=run, author=request.user, body=form.cleaned_data["body"])
        form = None
    return _respond(request, run, comment_form=form)


@login_required
@require_POST
def delete_comment(request: AuthenticatedHtmxHttpRequest, run_id, comment_id: int) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    comment = get_object_or_404(Comment, pk=comment_id, run=run)
    if comment.author_id != request.user.pk and not request.user.is_staff:
        raise PermissionDenied("Only its author can delete a comment.")
    comment.delete()
    return _respond(request, run)


@login_required
@require_POST
def set_review(request: AuthenticatedHtmxHttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    if not can_review(request.user, run):
        raise PermissionDenied("Only reviewers of this run's team can approve or reject it.")
    form: ReviewForm | None  # None once saved: no errors or text to show again
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
