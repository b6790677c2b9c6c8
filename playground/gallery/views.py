from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from playground.accounts.models import Membership, Profile
from playground.gallery import compare as comparing
from playground.gallery.context import run_context, tag_suggestions
from playground.gallery.export import stream_zip
from playground.gallery.forms import GalleryFilterForm, TeamChoiceForm
from playground.gallery.media import signed_redirect
from playground.gallery.models import Comment, Favourite, Rating, can_delete, with_review
from playground.http import AuthenticatedHtmxHttpRequest, AuthenticatedHttpRequest
from playground.jobs.models import Image, Run
from playground.jobs.services import RunRefused, delete_run, rerun
from playground.jobs.views import get_image_or_404, get_run_or_404

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models import QuerySet
    from django_stubs_ext import WithAnnotations

    from playground.gallery.models import ReviewAnnotations

PAGE_SIZE = 24
EXPORT_CHUNK_RUNS = 100


def gallery_runs(user: User) -> QuerySet[WithAnnotations[Run, ReviewAnnotations]]:
    """Visible runs with everything a tile shows, in a fixed number of queries per page."""
    return (
        with_review(Run.objects.visible_to(user), user)
        .select_related("owner", "team")
        .prefetch_related("images", "tags")
        .defer("request", "response_summary")
    )


@login_required
@vary_on_headers("HX-Request", "HX-Target")
def index(request: AuthenticatedHtmxHttpRequest) -> HttpResponse:
    form = GalleryFilterForm(request.GET, user=request.user)
    runs = form.apply(gallery_runs(request.user))
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page}
    if request.htmx and not request.htmx.history_restore_request:
        # The filter form replaces the results; the infinite-scroll sentinel appends a page.
        part = "results" if request.htmx.target == "gallery-results" else "page"
        return render(request, f"gallery/index.html#{part}", context)
    context["tag_suggestions"] = tag_suggestions(request.user)
    return render(request, "gallery/index.html", context)


@login_required
def run_detail(request: AuthenticatedHtmxHttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    return render(request, "gallery/run.html", run_context(request, run))


@login_required
@vary_on_headers("HX-Request")
def image_view(request: AuthenticatedHtmxHttpRequest, image_id) -> HttpResponse:
    """One image with its run's parameters and review: the lightbox, or a page without JS."""
    image = get_image_or_404(request, image_id)
    run = get_run_or_404(request, image.run_id)
    images = list(run.images.all())
    position = next(i for i, other in enumerate(images) if other.pk == image.pk)
    context = run_context(request, run)
    context.update(
        {
            "image": image,
            "images": images,
            "position": position + 1,
            "previous": images[position - 1] if position > 0 else None,
            "following": images[position + 1] if position + 1 < len(images) else None,
            "in_dialog": bool(request.htmx),
        }
    )
    template = "gallery/image.html#lightbox" if request.htmx else "gallery/image.html"
    return render(request, template, context)


@login_required
def image_file(
    request: AuthenticatedHttpRequest, image_id, variant: str = "original"
) -> HttpResponseBase:
    image = get_image_or_404(request, image_id)
    field = image.thumbnail if variant == "thumb" else image.file
    download = request.GET.get("download") == "1" and variant != "thumb"
    if signed := signed_redirect(image, variant, download):
        return signed  # media in a bucket: a short-lived signed URL, after the check above
    response = FileResponse(
        field.open("rb"),
        content_type="image/webp" if variant == "thumb" else image.content_type,
        as_attachment=download,
        filename=image.download_name if download else "",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_POST
def set_visibility(request: AuthenticatedHtmxHttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    if run.owner_id != request.user.pk:
        raise PermissionDenied("Only the owner changes who sees a run.")
    form = TeamChoiceForm(request.POST, user=request.user, current_team=run.team)
    if not form.is_valid():
        return render(request, "gallery/run.html", run_context(request, run, visibility_form=form))
    run.team_id = form.cleaned_data["team"]
    run.save(update_fields=["team"])
    where = f"team {run.team.name}" if run.team is not None else "you only"
    messages.success(request, f"This run is now visible to {where}.")
    return redirect("gallery:run", run_id=run.pk)


@login_required
@require_POST
def rerun_view(request: AuthenticatedHtmxHttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    try:
        new_run = rerun(run, request.user)
    except RunRefused as exc:
        reason = exc.message
        if request.htmx:
            return render(request, "gallery/_rerun.html", {"error": reason})
        messages.error(request, f"Not re-run: {reason}")
        return redirect("gallery:run", run_id=run.pk)
    if request.htmx:
        return render(request, "gallery/_rerun.html", {"new_run": new_run})
    messages.success(request, "Re-run started with the same parameters.")
    return redirect("gallery:run", run_id=new_run.pk)


@login_required
def delete_view(request: AuthenticatedHttpRequest, run_id) -> HttpResponse:
    """A confirmation page on GET; the deletion itself on POST."""
    run = get_run_or_404(request, run_id)
    if not can_delete(request.user, run):
        raise PermissionDenied("Only the owner or staff can delete a run.")
    if request.method == "POST":
        if not run.is_finished:
            messages.error(request, "This run is still in progress; delete it once it has ended.")
            return redirect("gallery:run", run_id=run.pk)
        delete_run(run)
        messages.success(request, "The run and its images were deleted.")
        return redirect("gallery:index")
    return render(request, "gallery/delete.html", {"run": run})


def _ids(request: HttpRequest, name: str) -> list[uuid.UUID]:
    try:
        return list(dict.fromkeys(uuid.UUID(v) for v in request.GET.getlist(name)))
    except ValueError:
        raise Http404("No such run or image") from None


@login_required
def compare(request: AuthenticatedHttpRequest) -> HttpResponse:
    run_ids, image_ids = _ids(request, "run"), _ids(request, "image")
    count = len(run_ids) + len(image_ids)
    if not comparing.MIN_ITEMS <= count <= comparing.MAX_ITEMS:
        return render(
            request,
            "gallery/compare.html",
            {"error": f"Pick 2 to 4 runs or images to compare; {count} picked."},
        )
    runs = with_review(Run.objects.visible_to(request.user), request.user)
    runs = runs.select_related("owner", "team").prefetch_related("images", "tags")
    by_id = {r.pk: r for r in runs.filter(pk__in=run_ids)}
    images = {i.pk: i for i in Image.objects.visible_to(request.user).filter(pk__in=image_ids)}
    if len(by_id) != len(run_ids) or len(images) != len(image_ids):
        raise Http404("No such run or image")
    image_runs = {r.pk: r for r in runs.filter(pk__in={i.run_id for i in images.values()})}
    items = [comparing.Item(by_id[pk], next(iter(by_id[pk].images.all()), None)) for pk in run_ids]
    items += [comparing.Item(image_runs[images[pk].run_id], images[pk]) for pk in image_ids]
    only_diff = request.GET.get("diff") == "1"
    return render(
        request,
        "gallery/compare.html",
        {"items": items, "groups": comparing.groups(items), "only_diff": only_diff},
    )


@login_required
def export(request: AuthenticatedHttpRequest) -> StreamingHttpResponse:
    """The selection (run= / image= ids) or else the current filtered view, as a zip."""
    user = request.user
    run_ids, image_ids = _ids(request, "run"), _ids(request, "image")
    runs = with_review(Run.objects.visible_to(user), user)
    only_images: dict[uuid.UUID, set[uuid.UUID]] | None = None
    if run_ids or image_ids:
        images = list(Image.objects.visible_to(user).filter(pk__in=image_ids))
        if len(images) != len(image_ids) or runs.filter(pk__in=run_ids).count() != len(run_ids):
            raise Http404("No such run or image")
        only_images = {}
        for image in images:
            if image.run_id not in run_ids:
                only_images.setdefault(image.run_id, set()).add(image.pk)
        runs = runs.filter(pk__in=[*run_ids, *only_images]).order_by("-created_at", "-pk")
    else:
        runs = GalleryFilterForm(request.GET, user=user).apply(runs)
    runs = runs.select_related("owner", "team", "review__decided_by").prefetch_related(
        "images",
        "tags",
        Prefetch("ratings", Rating.objects.select_related("user")),
        Prefetch("comments", Comment.objects.select_related("author")),
        Prefetch("favourites", Favourite.objects.filter(user=user)),
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(
        stream_zip(runs.iterator(chunk_size=EXPORT_CHUNK_RUNS), user, only_images),
        content_type="application/zip",
    )
    response["Content-Disposition"] = f'attachment; filename="gallery-{stamp}.zip"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Per-user settings: who sees new runs by default."""
    profile = Profile.of(request.user)
    form = TeamChoiceForm(
        request.POST or None, user=request.user, initial={"team": profile.default_team_id}
    )
    form.fields["team"].label = "New runs are visible to"
    if request.method == "POST" and form.is_valid():
        profile.default_team_id = form.cleaned_data["team"]
        profile.save(update_fields=["default_team"])
        messages.success(request, "Saved: the generate form starts with this choice.")
        return redirect("gallery:settings")
    memberships = Membership.objects.filter(user=request.user).select_related("team")
    return render(
        request,
        "gallery/settings.html",
        {"form": form, "memberships": memberships.order_by("team__name")},
    )
