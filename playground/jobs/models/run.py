from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone

from playground.accounts.models import team_ids

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from playground.accounts.models import Team
    from playground.jobs.models.inputs import RunInput

INTERRUPTED_MESSAGE = (
    "No process was working on this run any more (the server stopped or restarted while the "
    "upstream call was in flight). It was not sent again, so it cannot have been billed twice; "
    "re-run it if you still need the result."
)


def accounting_team() -> Coalesce:
    """`Run.accounting_team_id` as a database expression (usage reports group by it)."""
    return Coalesce("api_key__team_id", "team_id")


class RunQuerySet(models.QuerySet["Run"]):
    def visible_to(self, user: User) -> RunQuerySet:
        """Own runs, and runs shared with one of the user's teams."""
        return self.filter(models.Q(owner=user) | models.Q(team__in=team_ids(user)))

    def counted_for(self, subject: User | Team) -> RunQuerySet:
        """The runs that count against a user's or a team's limits and usage.

        A run counts for its owner, and for one team: the team whose shared key sends it, or
        else the team it is shared with (see Run.accounting_team_id).
        """
        if isinstance(subject, get_user_model()):
            return self.filter(owner=subject)
        return self.filter(
            models.Q(api_key__team=subject) | models.Q(api_key__team__isnull=True, team=subject)
        )

    def claim(self, run_id, worker: str) -> bool:
        """Atomically move a queued run to running. Only one worker can ever win this."""
        now = timezone.now()
        claimed = self.filter(pk=run_id, status=Run.Status.QUEUED).update(
            status=Run.Status.RUNNING, started_at=now, heartbeat_at=now, worker=worker
        )
        return claimed == 1

    def heartbeat(self, run_ids, worker: str) -> int:
        return self.filter(pk__in=list(run_ids), worker=worker, status=Run.Status.RUNNING).update(
            heartbeat_at=timezone.now()
        )

    def sweep_stale(self, stale_seconds: int | None = None) -> int:
        """End running runs whose worker stopped sending heartbeats."""
        stale = stale_seconds if stale_seconds is not None else settings.RUN_STALE_SECONDS
        cutoff = timezone.now() - timedelta(seconds=stale)
        return self.filter(status=Run.Status.RUNNING, heartbeat_at__lt=cutoff).update(
            status=Run.Status.INTERRUPTED,
            finished_at=timezone.now(),
            error_kind="interrupted",
            error_message=INTERRUPTED_MESSAGE,
        )


class Run(models.Model):
    """One request to an upstream: its parameters, status, timings and outcome."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        INTERRUPTED = "interrupted"

    class Kind(models.TextChoices):
        GENERATE = "generate"
        EDIT = "edit"

    FINISHED = {Status.SUCCEEDED, Status.FAILED, Status.INTERRUPTED}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs"
    )
    provider = models.ForeignKey(
        "providers.Provider", on_delete=models.SET_NULL, null=True, related_name="runs"
    )
    provider_name = models.CharField(max_length=100)
    # Visibility: None is private to the owner; a team shares the run with its members.
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    api_key = models.ForeignKey(
        "providers.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.GENERATE)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    model = models.CharField(max_length=200, blank=True)
    prompt = models.TextField()
    # What the user set in the form, exactly: "Use these settings" refills the form from it.
    params = models.JSONField(default=dict)
    # The request as sent: method, URL and body. Never a header, so never a key.
    request = models.JSONField(default=dict, blank=True)
    response_summary = models.JSONField(default=dict, blank=True)
    usage = models.JSONField(null=True, blank=True)
    error_kind = models.CharField(max_length=20, blank=True)
    error_message = models.TextField(blank=True)
    error_status = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    upstream_started_at = models.DateTimeField(null=True, blank=True)
    upstream_finished_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.model} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def accounting_team_id(self) -> int | None:
        """The team this run counts for: its shared key's team, else the team it is shared with."""
        if self.api_key_id and self.api_key is not None and self.api_key.team_id:
            return self.api_key.team_id
        return self.team_id

    @property
    def reference_inputs(self) -> list[RunInput]:
        """An edit's reference images in the order they were sent."""
        items = [i for i in self.inputs.all() if i.role == "reference"]
        return sorted(items, key=lambda i: i.position)

    @property
    def mask_input(self) -> RunInput | None:
        return next((i for i in self.inputs.all() if i.role == "mask"), None)

    @staticmethod
    def _ms(start, end) -> int | None:
        if start and end:
            return int((end - start).total_seconds() * 1000)
        return None

    @property
    def queued_ms(self) -> int | None:
        return self._ms(self.created_at, self.started_at or self.finished_at)

    @property
    def upstream_ms(self) -> int | None:
        return self._ms(self.upstream_started_at, self.upstream_finished_at)

    @property
    def saving_ms(self) -> int | None:
        if self.status != self.Status.SUCCEEDED:
            return None
        return self._ms(self.upstream_finished_at, self.finished_at)

    @property
    def total_ms(self) -> int | None:
        return self._ms(self.created_at, self.finished_at)

    def elapsed_seconds(self) -> float:
        end = self.finished_at or timezone.now()
        return max(0.0, (end - self.created_at).total_seconds())

    def finish(self, worker: str, **fields: Any) -> bool:
        """Record the outcome unless another worker owns the run.

        An interrupted run may still be completed by the worker that held it: a paid result that
        arrives late is kept rather than thrown away.
        """
        fields.setdefault("finished_at", timezone.now())
        updated = Run.objects.filter(
            pk=self.pk, worker=worker, status__in=[self.Status.RUNNING, self.Status.INTERRUPTED]
        ).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)
        return updated == 1
