from __future__ import annotations

import os
import signal

import uvicorn
from django.core.management import call_command
from django.core.management.base import BaseCommand

from playground.jobs.backends import EmbeddedBackend
from playground.jobs.heartbeat import heartbeat
from playground.jobs.models import Run
from playground.jobs.tasks import perform_run


class Command(BaseCommand):
    help = "Serve the playground (web, Demo gateway and the embedded run executor) with uvicorn."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args, host: str, port: int, **options) -> None:
        call_command("ensure_demo_provider", host=host, port=port)
        heartbeat.start()
        if isinstance(_backend(), EmbeddedBackend):
            _backend().prestart()
            self._requeue_orphans()
        self.stdout.write(f"Image Playground on http://{_display(host)}:{port}/")
        uvicorn.run(
            "playground.asgi:application",
            host=host,
            port=port,
            lifespan="off",
            log_level="info",
            timeout_graceful_shutdown=5,
        )
        self._drain()

    def _requeue_orphans(self) -> None:
        # Queued runs of a previous process were never sent (the claim happens first): send them.
        orphans = list(Run.objects.filter(status=Run.Status.QUEUED).values_list("pk", flat=True))
        for run_id in orphans:
            perform_run.enqueue(str(run_id))
        if orphans:
            self.stdout.write(f"Resumed {len(orphans)} queued run(s).")

    def _drain(self) -> None:
        backend = _backend()
        if not isinstance(backend, EmbeddedBackend) or not backend.in_flight():
            return
        self.stdout.write(
            f"Waiting for {backend.in_flight()} run(s) in flight so their results are kept "
            "(Ctrl-C again to abandon them: they will end as interrupted)."
        )
        try:
            backend.wait_idle()
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os._exit(1)


def _backend():
    from django_tasks import task_backends

    return task_backends["default"]


def _display(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
