from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.forms import ValidationError
from django.http import HttpRequest, HttpResponse


def _keys(request: HttpRequest, username: str) -> list[str]:
    address = request.META.get("REMOTE_ADDR", "")
    return [f"login-fail:user:{username.lower()}", f"login-fail:addr:{address}"]


def _failures(keys: list[str]) -> int:
    return max((cache.get(key, 0) for key in keys), default=0)


class LoginView(auth_views.LoginView):
    """Django's login, refusing further attempts after repeated failures (per user and address)."""

    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        keys = _keys(request, request.POST.get("username", ""))
        if _failures(keys) >= settings.LOGIN_FAILURE_LIMIT:
            form = self.get_form()
            minutes = max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)
            form.add_error(
                None,
                ValidationError(
                    f"Too many failed attempts. Try again in {minutes} minutes.", code="throttled"
                ),
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        for key in _keys(self.request, self.request.POST.get("username", "")):
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, settings.LOGIN_FAILURE_WINDOW_SECONDS)
        return super().form_invalid(form)

    def form_valid(self, form):
        cache.delete_many(_keys(self.request, self.request.POST.get("username", "")))
        return super().form_valid(form)
