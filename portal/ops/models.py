"""When each periodic task last ran: a new scheduler keeps the cadence (portal/periodic.py)."""

from __future__ import annotations

from django.db import models


class PeriodicRun(models.Model):
    name = models.CharField(max_length=100, primary_key=True)  # the registry's task name
    last_run_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.last_run_at:%Y-%m-%d %H:%M:%S}"
