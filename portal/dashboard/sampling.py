"""Filling the samples: every registered series, into hourly buckets, safe to run twice.

A run recomputes, for each `per_hour` series, the hours from the one before its last stored
hour to now (seven days the first time: the charts are full from the first minute), writing
zeros too, so that a recount replaces rather than adds; and stores each gauge's value as the
current hour's. Writes are upserts on (series, line, hour): two runs at once (a leader that
lost its lock and its successor) write the same figures. Hours older than KEEP are deleted.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.db.models import Max

from portal.dashboard.hours import HOUR, KEEP, WINDOW, hour_of, hours
from portal.dashboard.models import Sample
from portal.registry import DashboardSeries, registry

log = logging.getLogger(__name__)


def _store(series: DashboardSeries, figures: dict[tuple[datetime, str], float]) -> None:
    Sample.objects.bulk_create(
        [
            Sample(series=series.name, line=line, bucket=bucket, value=float(value))
            for (bucket, line), value in figures.items()
        ],
        update_conflicts=True,
        unique_fields=["series", "line", "bucket"],
        update_fields=["value"],
    )


def _collect_per_hour(series: DashboardSeries, now: datetime) -> None:
    current = hour_of(now)
    last = Sample.objects.filter(series=series.name).aggregate(last=Max("bucket"))["last"]
    start = current - WINDOW + HOUR if last is None else max(last - HOUR, current - WINDOW + HOUR)
    counted = series.per_hour(start, now)
    keys = [key for key, _ in series.lines]
    figures = {(bucket, key): 0.0 for bucket in hours(start, now) for key in keys}
    for (bucket, key), value in counted.items():
        if key in keys:
            figures[(hour_of(bucket), key)] = float(value or 0)
    _store(series, figures)


def _collect_gauge(series: DashboardSeries, now: datetime) -> None:
    values = series.gauge()
    keys = {key for key, _ in series.lines}
    bucket = hour_of(now)
    _store(
        series,
        {(bucket, key): float(value or 0) for key, value in values.items() if key in keys},
    )


def collect(now: datetime | None = None) -> list[str]:
    """Sample every registered series now; returns the names of those that failed (logged):
    one broken app's series never stops the others'."""
    now = now or datetime.now(UTC)
    failed = []
    for series in list(registry["dashboard_series"].values()):
        try:
            if series.per_hour is not None:
                _collect_per_hour(series, now)
            else:
                _collect_gauge(series, now)
        except Exception:
            log.exception("dashboard: could not sample the series %s", series.name)
            failed.append(series.name)
    Sample.objects.filter(bucket__lt=hour_of(now) - KEEP).delete()
    return failed
