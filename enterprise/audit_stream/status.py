"""What the API and the console show per destination: backlog, age, last success and error."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Min, Q
from django.utils import timezone

from enterprise.audit_stream import config
from enterprise.audit_stream.models import OutboxRow, StreamDestination


def streams(*, now: datetime | None = None) -> list[dict]:
    """Every configured destination, and any other still holding rows (configuration removed:
    its backlog is kept until it is configured again). Three queries whatever the backlog."""
    now = now or timezone.now()
    cfg = config.current()
    backlog = {
        row["destination"]: row
        for row in OutboxRow.objects.values("destination").annotate(
            pending=Count("id", filter=Q(dead_at__isnull=True)),
            dead=Count("id", filter=Q(dead_at__isnull=False)),
            oldest=Min("created_at", filter=Q(dead_at__isnull=True)),
        )
    }
    states = {s.name: s for s in StreamDestination.objects.all()}
    names = [*cfg.destination_names, *sorted(set(backlog) - set(cfg.destination_names))]
    result = []
    for name in names:
        target, state, rows = cfg.target(name), states.get(name), backlog.get(name, {})
        oldest = rows.get("oldest")
        result.append(
            {
                "name": name,
                "target": target.describe() if target else None,
                "configured": target is not None,
                "backlog": rows.get("pending", 0),
                "oldest_undelivered_at": oldest,
                "oldest_undelivered_age_seconds": (
                    round((now - oldest).total_seconds(), 3) if oldest else None
                ),
                "refused": rows.get("dead", 0),
                "delivered": state.delivered_count if state else 0,
                "last_success_at": state.last_success_at if state else None,
                "last_error": (state.last_error or None) if state else None,
                "last_error_at": state.last_error_at if state else None,
                "attempts": state.attempts if state else 0,
                "next_attempt_at": state.next_attempt_at if state else None,
            }
        )
    return result
