from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import reswap, retarget

from playground.jobs.models import Run
from playground.jobs.submit import RunRefused
from playground.jobs.views import get_run_or_404
from playground.providers.models import Provider
from playground.studio.catalog import rules_as_json
from playground.studio.forms import GenerateForm, initial_from_run


def _context(request: HttpRequest, form: GenerateForm) -> dict:
    return {
        "form": form,
        "model_rules": rules_as_json(),
        "recent_runs": Run.objects.visible_to(request.user)
        .select_related("provider")
        .prefetch_related("images")[:6],
        "has_providers": Provider.objects.filter(enabled=True).exists(),
    }


@login_required
def generate(request: HttpRequest) -> HttpResponse:
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
        initial = initial_from_run(get_run_or_404(request, source_id))
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
