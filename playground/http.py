"""Request types for annotations: what middleware and login_required add to an HttpRequest.

Only the type checker sees these classes; Django still passes its own HttpRequest to every view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's HtmxMiddleware (see settings.MIDDLEWARE)."""

    htmx: HtmxDetails


class AuthenticatedHttpRequest(HttpRequest):
    """A request to a view behind login_required: its user is a User, never AnonymousUser."""

    user: User


class AuthenticatedHtmxHttpRequest(AuthenticatedHttpRequest, HtmxHttpRequest):
    """Both: a signed-in user's request that went through HtmxMiddleware."""
