"""The server's local day (PLAYGROUND_TIME_ZONE): when daily limits reset and usage days begin."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def today() -> date:
    return timezone.localdate(timezone=local_zone())


def day_start(day: date) -> datetime:
    """Midnight at the start of `day`, as an aware datetime (DST-safe)."""
    return datetime(day.year, day.month, day.day, tzinfo=local_zone())


def day_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Today's midnight and the next one, in the configured time zone."""
    local = (now or timezone.now()).astimezone(local_zone())
    start = day_start(local.date())
    return start, day_start(local.date() + timedelta(days=1))


def days_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """From the start of `first` to the end of `last` (both local days, inclusive)."""
    return day_start(first), day_start(last + timedelta(days=1))
