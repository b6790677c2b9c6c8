from __future__ import annotations

import json
import uuid

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from playground.gallery.models import Image
from playground.jobs.models import Run
from playground.jobs.views import get_run_or_404

PAGE_SIZE = 24


def get_image_or_404(request: HttpRequest, image_id) -> Image:
    try:
        uuid.UUID(str(image_id))
    except ValueError:
        raise Http404("No such image") from None
    image = Image.objects.visible_to(request.user).select_related("run").filter(pk=image_id).first()
    if image is None:
        raise Http404("No such image")
    return image


@login_required
def index(request: HttpRequest) -> HttpResponse:
    runs = (
        Run.objects.visible_to(request.user).select_related("provider").prefetch_related("images")
    )
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "gallery/index.html", {"page": page})


@login_required
def run_detail(request: HttpRequest, run_id) -> HttpResponse:
    run = get_run_or_404(request, run_id)
    return render(
        request,
        "gallery/run.html",
        {
            "run": run,
            "request_json": json.dumps(run.request, indent=2, ensure_ascii=False),
            "response_json": json.dumps(run.response_summary, indent=2, ensure_ascii=False),
            "usage_json": json.dumps(run.usage, indent=2) if run.usage else "",
        },
    )


@login_required
def image_file(request: HttpRequest, image_id, variant: str = "original") -> FileResponse:
    image = get_image_or_404(request, image_id)
    field = image.thumbnail if variant == "thumb" else image.file
    download = request.GET.get("download") == "1" and variant != "thumb"
    response = FileResponse(
        field.open("rb"),
        content_type="image/webp" if variant == "thumb" else image.content_type,
        as_attachment=download,
        filename=image.download_name if download else None,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response
