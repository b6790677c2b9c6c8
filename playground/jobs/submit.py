"""The one way a run comes to exist: every form (generate, edit, re-run) goes through here."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.db import transaction

from playground.jobs.models import Run
from playground.jobs.tasks import perform_run


class RunRefused(Exception):
    """The run was not created (a limit, an unusable key); nothing was sent upstream.

    `field` names the form field the reason belongs to (e.g. "n" for the daily image limit), or
    None for a reason about the whole form.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def add_to_form(self, form: forms.Form) -> None:
        """Show the reason as a form error: next to its field when the form has it."""
        form.add_error(self.field if self.field in form.fields else None, self.message)


def submit_run(*, attach: Callable[[Run], None] | None = None, **fields) -> Run:
    """Create a queued run and hand it to the task backend once the row is committed.

    `attach` adds what belongs to the run (an edit's references and mask) in the same
    transaction, before the run is enqueued, so no backend can start it without its inputs.

    Raises RunRefused, before any row exists or anything goes upstream, when the key may not be
    used or a limit of the owner or the team is reached.
    """
    from playground.console.limits import refusal_for

    with transaction.atomic():
        run = Run(**fields)
        _check_key(run)
        refusal = refusal_for(run)
        if refusal is not None:
            raise RunRefused(refusal.message, refusal.field)
        run.save(force_insert=True)
        if attach is not None:
            attach(run)
        perform_run.enqueue(str(run.pk))
    return run


def _check_key(run: Run) -> None:
    key = run.api_key
    if key is None:
        return
    # The form may have loaded the key a moment ago; a revocation since then still counts.
    # No hint in these messages: a team key's members must not see any part of it.
    key.refresh_from_db(fields=["revoked_at", "saved_for_url"])
    if key.is_revoked:
        raise RunRefused(
            f"The {run.provider_name} key chosen for this run was revoked; it cannot send runs.",
            "provider",
        )
    if key.needs_reentry:
        raise RunRefused(
            f"{run.provider_name}'s address changed since the key chosen for this run was saved; "
            f"it has to be entered again.",
            "provider",
        )
