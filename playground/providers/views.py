from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from playground.audit.models import AuditEvent
from playground.http import AuthenticatedHtmxHttpRequest, AuthenticatedHttpRequest
from playground.providers.crypto import KeyDecryptionError
from playground.providers.forms import ApiKeyForm
from playground.providers.models import ApiKey, Provider
from playground.upstream.errors import UpstreamError


def get_provider_or_404(provider_id: int) -> Provider:
    return get_object_or_404(Provider, pk=provider_id, enabled=True)


def get_key_or_404(request: AuthenticatedHttpRequest, key_id: int) -> ApiKey:
    return get_object_or_404(
        ApiKey.objects.select_related("provider"), pk=key_id, user=request.user
    )


def _rows(request: AuthenticatedHttpRequest, forms_by_provider: dict | None = None) -> list[dict]:
    keys = {k.provider_id: k for k in ApiKey.objects.filter(user=request.user)}
    forms_by_provider = forms_by_provider or {}
    return [
        {
            "provider": provider,
            "key": keys.get(provider.pk),
            "form": forms_by_provider.get(provider.pk) or ApiKeyForm(prefix=f"p{provider.pk}"),
        }
        for provider in Provider.objects.filter(enabled=True)
    ]


@login_required
def keys(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "providers/keys.html", {"rows": _rows(request)})


@login_required
@require_POST
def save_key(request: AuthenticatedHttpRequest, provider_id: int) -> HttpResponse:
    provider = get_provider_or_404(provider_id)
    form = ApiKeyForm(request.POST, prefix=f"p{provider.pk}")
    if not form.is_valid():
        rows = _rows(request, {provider.pk: form})
        return render(request, "providers/keys.html", {"rows": rows}, status=200)
    key = ApiKey.objects.filter(user=request.user, provider=provider).first()
    replaced = key is not None
    key = key or ApiKey(user=request.user, provider=provider)
    key.provider = provider
    key.label = form.cleaned_data["label"]
    key.set_secret(form.cleaned_data["secret"])
    key.revoked_at = None  # revocation is of a secret: a new one puts the key back in service
    key.save()
    action = AuditEvent.Action.KEY_ROTATED if replaced else AuditEvent.Action.KEY_ADDED
    AuditEvent.record(request.user, action, key, {"hint": key.hint, "by": "owner"})
    verb = "replaced" if replaced else "saved"
    messages.success(request, f"Key {key.hint} {verb} for {provider.name}.")
    return redirect("providers:keys")


@login_required
@require_POST
def delete_key(request: AuthenticatedHttpRequest, key_id: int) -> HttpResponse:
    key = get_key_or_404(request, key_id)
    AuditEvent.record(request.user, AuditEvent.Action.KEY_DELETED, key, {"hint": key.hint})
    key.delete()
    messages.success(request, f"Key {key.hint} for {key.provider.name} deleted.")
    return redirect("providers:keys")


@login_required
@require_POST
def test_key(request: AuthenticatedHtmxHttpRequest, key_id: int) -> HttpResponse:
    key = get_key_or_404(request, key_id)
    ok = key.test()
    AuditEvent.record(request.user, AuditEvent.Action.KEY_TESTED, key, {"ok": ok})
    if request.htmx:
        return render(request, "providers/keys.html#key-test", {"key": key})
    (messages.success if ok else messages.error)(
        request, f"{key.provider.name}: {key.last_test_message}"
    )
    return redirect("providers:keys")


@login_required
def models(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The model catalogue of a provider as a <datalist> fragment (refresh=1 asks the upstream)."""
    provider_id = request.GET.get("provider") or request.POST.get("provider")
    error = ""
    provider = None
    if provider_id and str(provider_id).isdigit():
        provider = Provider.objects.filter(pk=provider_id, enabled=True).first()
    if provider is not None:
        refresh = request.method == "POST" or not provider.catalogue_is_fresh()
        key = provider.key_for(request.user)
        can_ask = key is not None or not provider.requires_key
        if refresh and can_ask:
            try:
                provider.remember_models(provider.list_models(key))
            except (UpstreamError, KeyDecryptionError) as exc:
                error = str(exc)
        elif refresh and not can_ask:
            error = f"Add a key for {provider.name} to load its models."
    return render(request, "providers/models.html", {"provider": provider, "error": error})
