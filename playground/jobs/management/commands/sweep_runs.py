from __future__ import annotations

from django.core.management.base import BaseCommand

from playground.jobs.models import Run, RunInput


class Command(BaseCommand):
    help = (
        "End running runs that no process is working on any more, and forget edit uploads of "
        "forms that were never sent (for worker fleets' cron)."
    )

    def handle(self, *args, **options) -> None:
        swept = Run.objects.sweep_stale()
        self.stdout.write(f"{swept} run(s) ended as interrupted.")
        forgotten = RunInput.objects.sweep_pending()
        self.stdout.write(f"{forgotten} pending edit upload(s) deleted.")
