"""Hourly samples of the dashboard's series, and snapshots of reports too slow for a page view."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Sample(models.Model):
    """One figure of one line of a series for one hour (UTC), written by the periodic task."""

    series = models.CharField(max_length=64)
    line = models.CharField(max_length=64)
    bucket = models.DateTimeField()  # the start of the hour
    value = models.FloatField()

    class Meta:
        constraints = [
            # Also the page's index: series = ANY(...) AND bucket >= a week ago.
            models.UniqueConstraint(
                fields=["series", "line", "bucket"], name="dashboard_sample_unique"
            )
        ]
        # For the prune of old hours, which names no series.
        indexes = [models.Index(fields=["bucket"], name="dashboard_sample_bucket")]

    def __str__(self) -> str:
        return f"{self.series}.{self.line} {self.bucket:%Y-%m-%d %H:00} = {self.value}"


class Snapshot(models.Model):
    """The last result of a periodic report (the health report), by name: one row each."""

    name = models.CharField(max_length=64, primary_key=True)
    taken_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.name} at {self.taken_at:%Y-%m-%d %H:%M:%S}"
