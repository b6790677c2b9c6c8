"""Run limits: concurrent runs and images per day, per user and per team.

A run counts for its owner and for its accounting team (`Run.accounting_team_id`). Checked inside
the transaction that creates the run, before anything is sent upstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from playground.accounts.models import Team
from playground.jobs.models import Limit, Run
from playground.jobs.params import requested_images as _requested
from playground.localtime import day_bounds

IN_FLIGHT = ("queued", "running")


@dataclass(frozen=True)
class Refusal:
    message: str
    field: str | None = None


def requested_images() -> Coalesce:
    """`params.requested_images` as a database expression."""
    return Coalesce(Cast(KT("params__n"), models.IntegerField()), 1)


def in_flight(subject: User | Team) -> int:
    return Run.objects.counted_for(subject).filter(status__in=IN_FLIGHT).count()


def images_today(subject: User | Team, now: datetime | None = None) -> int:
    start, end = day_bounds(now)
    runs = Run.objects.counted_for(subject).filter(created_at__gte=start, created_at__lt=end)
    return runs.aggregate(total=Coalesce(models.Sum(requested_images()), 0))["total"]


def refusal_for(run: Run) -> Refusal | None:
    """Why this (unsaved) run may not be created, or None. Call inside a transaction."""
    team_id = run.accounting_team_id
    subjects = models.Q(user_id=run.owner_id)
    if team_id:
        subjects |= models.Q(team_id=team_id)
    # Locking the limit rows serialises submissions of one user or team on databases that
    # support it, so two simultaneous submits cannot both take the last slot. (No join here:
    # PostgreSQL cannot lock the nullable side of an outer join, so no default ordering either.)
    limits = list(Limit.objects.select_for_update().filter(subjects).order_by("pk"))
    limits.sort(key=lambda limit: limit.team_id is not None)  # the user's own limit first
    n = _requested(run.params)
    for limit in limits:
        refusal = _check(limit, n)
        if refusal:
            return refusal
    return None


def _check(limit: Limit, n: int) -> Refusal | None:
    who = f"team {limit.team.name}" if limit.team is not None else "you"
    cap = limit.max_concurrent_runs
    if cap is not None:
        running = in_flight(limit.subject)
        if running >= cap:
            return Refusal(
                f"Concurrent-runs limit reached: {who} may have {_runs(cap)} queued or running "
                f"at a time, and {running} {'is' if running == 1 else 'are'} now. The limit frees "
                f"up as soon as one of them finishes."
            )
    cap = limit.max_images_per_day
    if cap is not None:
        now = timezone.now()
        used = images_today(limit.subject, now)
        if used + n > cap:
            _, reset = day_bounds(now)
            return Refusal(
                f"Daily image limit reached: {who} may request {_images(cap)} a day; "
                f"{used} {'was' if used == 1 else 'were'} requested today and this run asks for "
                f"{n}. The limit resets at midnight ({reset:%Y-%m-%d %H:%M} {settings.TIME_ZONE}, "
                f"in {_duration(reset - now)}).",
                field="n",
            )
    return None


def _runs(count: int) -> str:
    return f"{count} run{'s' if count != 1 else ''}"


def _images(count: int) -> str:
    return f"{count} image{'s' if count != 1 else ''}"


def _duration(delta: timedelta) -> str:
    minutes = max(1, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
