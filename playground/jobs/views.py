from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from playground.jobs.models import Run


def get_run_or_404(request: HttpRequest, run_id) -> Run:
    """The run if this user may see it; everyone else gets a 404, never a 403."""
    try:
        uuid.UUID(str(run_id))
    except ValueError:
        raise Http404("No such run") from None
    run = (
        Run.objects.visible_to(request.user)
        .select_related("provider")
        .prefetch_related("images")
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        raise Http404("No such run")
    return run


@login_required
def card(request: HttpRequest, run_id) -> HttpResponse:
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
