"""Reads of the replicas table: who is online, who is stale, who holds a relay address."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from portal.replicas.models import STALE_AFTER, Replica


def online() -> QuerySet:
    return Replica.objects.filter(last_heartbeat_at__gte=timezone.now() - STALE_AFTER)


def stale() -> QuerySet:
    return Replica.objects.filter(last_heartbeat_at__lt=timezone.now() - STALE_AFTER)


def online_count() -> int:
    return online().count()


def by_relay_address(address: str) -> Replica | None:
    """The newest replica that advertised `address` (a port may be reused after a restart)."""
    return Replica.objects.filter(relay_address=address).order_by("-started_at").first()


def describe_relay_address(address: str) -> str:
    """A sentence naming the replica at `address` and its state, for a failed relay link."""
    replica = by_relay_address(address)
    if replica is None:
        return "no replica advertises this address: its process stopped"
    silent = (timezone.now() - replica.last_heartbeat_at).total_seconds()
    state = "online" if replica.online else f"dead: no heartbeat for {silent:.0f} s"
    return f"replica {replica.hostname}:{replica.pid} ({replica.id}), {state}"
