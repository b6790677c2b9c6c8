from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand

from playground.providers.models import Provider

DEMO_NAME = "Demo"


def demo_base_url(host: str, port: int) -> str:
    connect_host = "127.0.0.1" if host in ("", "0.0.0.0", "::", "localhost") else host
    if ":" in connect_host and not connect_host.startswith("["):
        connect_host = f"[{connect_host}]"
    return f"http://{connect_host}:{port}/demo-gateway/v1"


class Command(BaseCommand):
    help = "Make sure the offline Demo provider exists and points at this server's Demo gateway."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args, host: str, port: int, **options) -> None:
        if not settings.DEMO_GATEWAY:
            Provider.objects.filter(name=DEMO_NAME, is_local=True).update(enabled=False)
            return
        base_url = demo_base_url(host, port)
        provider, created = Provider.objects.get_or_create(
            name=DEMO_NAME,
            defaults={
                "base_url": base_url,
                "requires_key": False,
                "is_local": True,
                "timeout": 150,
            },
        )
        if not created and provider.is_local and provider.base_url != base_url:
            provider.base_url = base_url
            provider.save()
        if created:
            self.stdout.write(f"Created the Demo provider at {base_url}.")
