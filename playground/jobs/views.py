from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import render

from playground.http import AuthenticatedHttpRequest
from playground.jobs.models import Image, Run, RunInput


def get_run_or_404(request: AuthenticatedHttpRequest, run_id) -> Run:
    """The run if this user may see it; everyone else gets a 404, never a 403."""
    try:
        uuid.UUID(str(run_id))
    except ValueError:
        raise Http404("No such run") from None
    run = (
        Run.objects.visible_to(request.user)
        .select_related("provider")
        .prefetch_related("images", "inputs")
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        raise Http404("No such run")
    return run


def get_image_or_404(request: AuthenticatedHttpRequest, image_id) -> Image:
    try:
        uuid.UUID(str(image_id))
    except ValueError:
        raise Http404("No such image") from None
    image = Image.objects.visible_to(request.user).select_related("run").filter(pk=image_id).first()
    if image is None:
        raise Http404("No such image")
    return image


@login_required
def card(request: AuthenticatedHttpRequest, run_id) -> HttpResponse:
    """The polled fragment: 286 tells htmx to stop polling once the run has finished."""
    run = get_run_or_404(request, run_id)
    on_run_page = bool(request.GET.get("refresh"))
    response = render(request, "jobs/run_card.html", {"run": run, "on_run_page": on_run_page})
    if run.is_finished:
        response.status_code = 286
        if on_run_page:
            # The run page shows full images and timings: reload it once the run has ended.
            response["HX-Refresh"] = "true"
    return response


def get_input_or_404(request: AuthenticatedHttpRequest, input_id) -> RunInput:
    """A run's reference or mask if the user sees the run, or their own pending upload."""
    item = RunInput.objects.usable_by(request.user).filter(pk=input_id).first()
    if item is None or not item.is_stored:
        raise Http404("No such input")
    return item


@login_required
def input_file(
    request: AuthenticatedHttpRequest, input_id, variant: str = "original"
) -> FileResponse:
    item = get_input_or_404(request, input_id)
    thumb = variant == "thumb" and bool(item.thumbnail)
    response = FileResponse(
        (item.thumbnail if thumb else item.file).open("rb"),
        content_type="image/webp" if thumb else item.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response
