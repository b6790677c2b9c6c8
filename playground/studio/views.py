from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import reswap, retarget

from playground.http import AuthenticatedHtmxHttpRequest, AuthenticatedHttpRequest
from playground.jobs.models import Image, Run, RunInput
from playground.jobs.services import RunRefused
from playground.jobs.views import get_image_or_404, get_run_or_404
from playground.providers.models import Provider
from playground.studio.catalog import rules_as_json
from playground.studio.edit_forms import EditForm, edit_initial_from_run
from playground.studio.forms import GenerateForm, initial_from_run


def _context(request: AuthenticatedHttpRequest, form: GenerateForm) -> dict:
    return {
        "form": form,
        "model_rules": rules_as_json(),
        "recent_runs": Run.objects.visible_to(request.user)
        .select_related("provider")
        .prefetch_related("images")[:6],
        "has_providers": Provider.objects.filter(enabled=True).exists(),
    }


@login_required
def generate(request: AuthenticatedHtmxHttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = GenerateForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                run = form.submit()
            except RunRefused as refused:
                refused.add_to_form(form)  # a limit or a revoked key: shown like any form error
            else:
                if request.htmx:
                    return render(request, "jobs/run_card.html", {"run": run, "fresh": True})
                return redirect("gallery:run", run_id=run.pk)
        if request.htmx:
            response = render(
                request, "studio/generate.html#generate-form", _context(request, form)
            )
            return reswap(retarget(response, "#generate-form"), "outerHTML")
        return render(request, "studio/generate.html", _context(request, form))

    initial: dict = {}
    if source_id := request.GET.get("from"):
        source = get_run_or_404(request, source_id)
        if source.kind == Run.Kind.EDIT:
            # "Use these settings" of an edit belongs on the edit page, inputs and all.
            return redirect(f"{reverse('studio:edit')}?from={source.pk}")
        initial = initial_from_run(source)
    else:
        default_provider = Provider.objects.filter(enabled=True).first()
        if default_provider:
            initial = {"provider": default_provider.pk, "model": _default_model(default_provider)}
    form = GenerateForm(initial=initial, user=request.user)
    return render(request, "studio/generate.html", _context(request, form))


def _default_model(provider: Provider) -> str:
    catalogue = provider.models_catalogue or []
    for preferred in ("gpt-image-1", "gpt-image-2", "dall-e-3"):
        if preferred in catalogue:
            return preferred
    return catalogue[0] if catalogue else "gpt-image-1"


# --- edit -------------------------------------------------------------------------------------

PICKER_PAGE_SIZE = 12


def _picker_page(request: AuthenticatedHttpRequest, number, exclude: list[str]) -> Page:
    images = (
        Image.objects.visible_to(request.user)
        .exclude(pk__in=exclude)
        .select_related("run")
        .order_by("-created_at")
    )
    return Paginator(images, PICKER_PAGE_SIZE).get_page(number)


def _edit_context(request: AuthenticatedHttpRequest, form: EditForm) -> dict:
    chosen = [str(i.picked_from) for i in form.chosen_inputs if i.picked_from]
    selected = [str(image.pk) for image in form.selected_images]
    return {
        "form": form,
        "model_rules": rules_as_json(),
        "picker": _picker_page(request, request.GET.get("picker_page"), chosen + selected),
        "picker_exclude": ",".join(chosen + selected),
        "has_providers": Provider.objects.filter(enabled=True).exists(),
        "max_upload_bytes": settings.MAX_UPLOAD_BYTES,
        # Django refuses a request whose text fields exceed this (pasted data URLs count).
        "max_text_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0,
    }


@login_required
def edit(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        RunInput.objects.sweep_pending()
        form = EditForm(request.POST, request.FILES, user=request.user)
        if form.is_valid():
            try:
                run = form.submit()
            except RunRefused as refused:
                refused.add_to_form(form)  # a limit or a revoked key: shown like any form error
            else:
                return redirect("gallery:run", run_id=run.pk)
        form.keep_accepted()
        return render(request, "studio/edit.html", _edit_context(request, form))

    initial: dict = {}
    if source_id := request.GET.get("from"):
        initial = edit_initial_from_run(get_run_or_404(request, source_id))
    else:
        default_provider = Provider.objects.filter(enabled=True).first()
        if default_provider:
            initial = {"provider": default_provider.pk, "model": _default_model(default_provider)}
    if image_id := request.GET.get("image"):
        initial["gallery"] = [str(get_image_or_404(request, image_id).pk)]
    form = EditForm(initial=initial, user=request.user)
    return render(request, "studio/edit.html", _edit_context(request, form))


@login_required
def edit_picker(request: AuthenticatedHttpRequest) -> HttpResponse:
    """More gallery images for the reference picker (htmx; plain links reload the edit page)."""
    exclude = [pk for pk in request.GET.get("exclude", "").split(",") if _is_uuid(pk)]
    context = {
        "picker": _picker_page(request, request.GET.get("page"), exclude),
        "picker_exclude": ",".join(exclude),
    }
    return render(request, "studio/edit.html#picker-page", context)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
