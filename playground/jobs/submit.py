"""The one way a run comes to exist: every form (generate, edit, re-run) goes through here."""

from __future__ import annotations

from django.db import transaction

from playground.jobs.models import Run
from playground.jobs.tasks import perform_run


def submit_run(**fields) -> Run:
    """Create a queued run and hand it to the task backend once the row is committed."""
    with transaction.atomic():
        run = Run.objects.create(**fields)
        perform_run.enqueue(str(run.pk))
    return run
