"""The dashboard's time buckets: hours in UTC, charts over the last seven days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
WINDOW = timedelta(days=7)  # the longest chart
KEEP = WINDOW + timedelta(days=1)  # samples older than this are deleted


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hours(start: datetime, end: datetime) -> list[datetime]:
    """The hours from `start`'s to `end`'s, both included."""
    first, last = hour_of(start), hour_of(end)
    return [first + n * HOUR for n in range(int((last - first) / HOUR) + 1)]
