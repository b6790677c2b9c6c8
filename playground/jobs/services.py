"""What can be done to runs: submit (every form and re-run goes through here), re-run, delete."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any, Protocol

from django.contrib.auth.models import User
from django.core.files.storage import Storage
from django.db import transaction

from playground.accounts.models import team_ids
from playground.jobs.limits import refusal_for
from playground.jobs.models import Run, RunInput
from playground.jobs.tasks import perform_run
from playground.providers.models import KeyRefused, choose_key


class FormLike(Protocol):
    fields: dict[str, Any]

    def add_error(self, field: str | None, error: Any) -> None: ...


class RunRefused(Exception):
    """The run was not created (a limit, an unusable key); nothing was sent upstream.

    `field` names the form field the reason belongs to (e.g. "n" for the daily image limit), or
    None for a reason about the whole form.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def add_to_form(self, form: FormLike) -> None:
        """Show the reason as a form error: next to its field when the form has it."""
        form.add_error(self.field if self.field in form.fields else None, self.message)


def submit_run(*, attach: Callable[[Run], None] | None = None, **fields: Any) -> Run:
    """Create a queued run and hand it to the task backend once the row is committed.

    `attach` adds what belongs to the run (an edit's references and mask) in the same
    transaction, before the run is enqueued, so no backend can start it without its inputs.

    Raises RunRefused, before any row exists or anything goes upstream, when the key may not be
    used or a limit of the owner or the team is reached.
    """
    with transaction.atomic():
        run = Run(**fields)
        if run.api_key is not None:
            # The form may have loaded the key a moment ago; a revocation since then counts.
            run.api_key.refresh_from_db(fields=["revoked_at", "saved_for_url"])
            refusal = run.api_key.refusal()
            if refusal is not None:
                raise RunRefused(refusal.message, refusal.field)
        limit = refusal_for(run)
        if limit is not None:
            raise RunRefused(limit.message, limit.field)
        run.save(force_insert=True)
        if attach is not None:
            attach(run)
        perform_run.enqueue(str(run.pk))
    return run


def rerun(run: Run, user: User) -> Run:
    """Send a run's parameters again as a new run of `user`'s, through `submit_run`.

    The key is reused only while this user may still use it; otherwise their default key for the
    provider is taken. The run stays shared with its team only if the user is in that team. An
    edit is repeated with its stored references and mask (the files are shared, not copied).
    """
    try:
        key = choose_key(user, run.provider, run.api_key_id, fall_back=True)
    except KeyRefused as exc:
        raise RunRefused(_rerun_message(exc, run)) from exc
    attach = None
    if run.kind == Run.Kind.EDIT:
        inputs = list(run.inputs.all())
        if not any(item.role == RunInput.Role.REFERENCE for item in inputs):
            raise RunRefused(
                "This edit's input images were not kept, so it cannot be repeated from here."
            )

        def attach(new_run: Run) -> None:
            for item in inputs:
                item.copy_for(new_run, item.role, item.position)

    params = dict(run.params)
    params.pop("api_key", None)
    if key is not None and key.pk == run.api_key_id and "api_key" in run.params:
        params["api_key"] = key.pk
    in_team = run.team_id and team_ids(user).filter(team_id=run.team_id).exists()
    provider = run.provider
    assert provider is not None  # choose_key refused a missing provider
    return submit_run(
        owner=user,
        team_id=run.team_id if in_team else None,
        provider=provider,
        provider_name=provider.name,
        api_key=key,
        kind=run.kind,
        model=run.model,
        prompt=run.prompt,
        params=params,
        attach=attach,
    )


def _rerun_message(exc: KeyRefused, run: Run) -> str:
    if exc.code == "unavailable":
        return f"{run.provider_name} is no longer available."
    if exc.code == "missing":
        return f"{exc.message.removesuffix(' on Keys.')} on the Keys page."
    if exc.code == "moved":
        return (
            f"{run.provider_name}'s address changed since your key was saved; "
            "enter it again on Keys."
        )
    return exc.message


def delete_run(run: Run) -> None:
    """Delete a finished run, its review data and its image files."""
    images = list(run.images.all())
    with transaction.atomic():
        run.delete()
    # After the rows are gone: a failed delete must not leave rows pointing at missing files.
    folders = set()
    for image in images:
        image.delete_files()
        folders.add((image.file.storage, os.path.dirname(image.file.name)))
    for storage, folder in folders:
        _remove_empty_folder(storage, folder)


def _remove_empty_folder(storage: Storage, folder: str) -> None:
    try:
        path = storage.path(folder)
    except NotImplementedError:
        return  # object storage has no folders to leave behind
    with contextlib.suppress(OSError):
        os.rmdir(path)
