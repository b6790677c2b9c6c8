"""The served application: Django on a thread pool, plus the offline Demo gateway.

Django runs as WSGI inside an ASGI server (a2wsgi) on purpose: under Django's own ASGI handler
every sync view shares one thread, so one slow page (testing a key against a slow gateway) would
stall everyone. Here each request gets a thread of a pool. The Demo gateway is native ASGI, so its
simulated latency costs no thread at all.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")

from a2wsgi import WSGIMiddleware  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from fakegateway.app import FakeConfig, FakeGateway  # noqa: E402

DEMO_PREFIX = "/demo-gateway"
# django-stubs types WSGIHandler.__call__ as (dict, ...) -> HttpResponseBase, which a2wsgi's
# stricter WSGIApp (a TypedDict environ, an iterable of bytes back) does not accept; at run time
# it is a WSGI application all the same.
django_application = WSGIMiddleware(
    get_wsgi_application(),  # type: ignore[arg-type]  # a WSGI app: see above
    workers=settings.WEB_THREADS,
)
demo_gateway = (
    FakeGateway(FakeConfig(latency=settings.DEMO_LATENCY)) if settings.DEMO_GATEWAY else None
)


async def application(scope, receive, send):
    if (
        demo_gateway is not None
        and scope["type"] == "http"
        and scope["path"].startswith(DEMO_PREFIX + "/")
    ):
        scope = dict(scope, root_path=scope.get("root_path", "") + DEMO_PREFIX)
        return await demo_gateway(scope, receive, send)
    return await django_application(scope, receive, send)
