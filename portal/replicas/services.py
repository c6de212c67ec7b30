"""Writes of the replicas table: each process registers, heartbeats and leaves its own row.

No actor and no audit entry: these rows are process bookkeeping (like the periodic runner's
PeriodicRun), written by the server itself every few seconds, never by a person.
"""

from __future__ import annotations

import os
import socket
import time
import uuid

from django.db import transaction
from django.utils import timezone

import portal
from portal.replicas.models import PRUNE_AFTER, Replica


def register(*, relay_address: str = "", replica_id: uuid.UUID | None = None) -> Replica:
    """The row of this process (a new id each start: a restarted process is a new replica)."""
    now = timezone.now()
    return Replica.objects.create(
        id=replica_id or uuid.uuid4(),
        hostname=socket.gethostname(),
        pid=os.getpid(),
        relay_address=relay_address,
        version=portal.__version__,
        started_at=now,
        last_heartbeat_at=now,
    )


def heartbeat(replica_id: uuid.UUID, *, relay_address: str, latency_ms: float, error: str) -> float:
    """One UPDATE stamping the row; recreates it if it was pruned while this process was away.
    Returns the UPDATE's round trip (ms): the next heartbeat's `latency_ms`."""
    started = time.monotonic()
    fields = {
        "last_heartbeat_at": timezone.now(),
        "relay_address": relay_address,
        "database_latency_ms": latency_ms,
        "error": error,
    }
    updated = Replica.objects.filter(pk=replica_id).update(**fields)
    elapsed = (time.monotonic() - started) * 1000
    if not updated:
        register(relay_address=relay_address, replica_id=replica_id)
    return elapsed


def unregister(replica_id: uuid.UUID) -> None:
    """A graceful stop: the replica leaves the table at once (peers stop counting on it)."""
    Replica.objects.filter(pk=replica_id).delete()


def prune_stale(now=None) -> int:
    """Delete rows silent for longer than PRUNE_AFTER (processes that died without leaving)."""
    now = now or timezone.now()
    with transaction.atomic():
        deleted, _ = Replica.objects.filter(last_heartbeat_at__lt=now - PRUNE_AFTER).delete()
    return deleted
