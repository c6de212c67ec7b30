"""A running server process (a replica), registered at start and heartbeating while it serves."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import models
from django.utils import timezone

# A replica heartbeats every HEARTBEAT_SECONDS; silent for STALE_AFTER it counts as stale (its
# process died or lost the database), and after PRUNE_AFTER its row is deleted.
HEARTBEAT_SECONDS = 3.0
STALE_AFTER = timedelta(seconds=15)
PRUNE_AFTER = timedelta(hours=1)


class Replica(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    hostname = models.CharField(max_length=255)
    pid = models.IntegerField()
    # "host:port" of its relay link listener (workspaces/connectivity/relay_link.py); "" if none.
    relay_address = models.CharField(max_length=300, blank=True, default="")
    region_id = models.IntegerField(default=0)
    version = models.CharField(max_length=100, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    last_heartbeat_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Round trip of its last heartbeat's UPDATE, in milliseconds.
    database_latency_ms = models.FloatField(default=0.0)
    # What this replica found wrong last time it looked (peers it cannot reach); "" when fine.
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ("started_at", "id")

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"

    @property
    def online(self) -> bool:
        return self.last_heartbeat_at >= timezone.now() - STALE_AFTER

    @property
    def status(self) -> str:
        return "online" if self.online else "stale"
