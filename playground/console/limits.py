"""Run limits: concurrent runs and images per day, per user and per team.

A run counts for its owner, and for one team: the team whose shared key sends it, or else the
team it is shared with. Checked inside the transaction that creates the run, before anything is
sent upstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from playground.console.models import Limit

IN_FLIGHT = ("queued", "running")


@dataclass(frozen=True)
class Refusal:
    message: str
    field: str | None = None


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def day_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Today's midnight and the next one, in the configured time zone."""
    local = (now or timezone.now()).astimezone(local_zone())
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    next_day = (start + timedelta(days=1)).date()
    end = datetime(next_day.year, next_day.month, next_day.day, tzinfo=local_zone())
    return start, end


def counted_runs(subject) -> models.QuerySet:
    """The runs that count against a user's or a team's limits."""
    from playground.accounts.models import Team
    from playground.jobs.models import Run

    if isinstance(subject, Team):
        return Run.objects.filter(
            models.Q(api_key__team=subject) | models.Q(api_key__team__isnull=True, team=subject)
        )
    return Run.objects.filter(owner=subject)


def requested_images():
    """Images a run asked for: its `n`, 1 when the request left it to the upstream."""
    return Coalesce(Cast(KT("params__n"), models.IntegerField()), 1)


def in_flight(subject) -> int:
    return counted_runs(subject).filter(status__in=IN_FLIGHT).count()


def images_today(subject, now: datetime | None = None) -> int:
    start, end = day_bounds(now)
    runs = counted_runs(subject).filter(created_at__gte=start, created_at__lt=end)
    return runs.aggregate(total=Coalesce(models.Sum(requested_images()), 0))["total"]


def accounting_team_id(run) -> int | None:
    if run.api_key_id and run.api_key.team_id:
        return run.api_key.team_id
    return run.team_id


def refusal_for(run) -> Refusal | None:
    """Why this (unsaved) run may not be created, or None. Call inside a transaction."""
    team_id = accounting_team_id(run)
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


def _requested(params: dict) -> int:
    try:
        return max(1, int(params.get("n") or 1))
    except (TypeError, ValueError):
        return 1


def _check(limit: Limit, n: int) -> Refusal | None:
    who = f"team {limit.team.name}" if limit.team_id else "you"
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
