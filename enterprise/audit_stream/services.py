"""The one change people make: queue again the entries a receiver refused for good (a 4xx)."""

from __future__ import annotations

from django.db import transaction

from enterprise.audit_stream import config
from enterprise.audit_stream.audit_types import AUDIT_STREAM
from enterprise.audit_stream.models import OutboxRow, StreamDestination
from enterprise.audit_stream.outbox import GATE, nudge
from portal import features
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import NotFound


def resolve(name: str) -> str:
    """A destination that is configured or still holds rows; else 404."""
    if (
        name in config.current().destination_names
        or OutboxRow.objects.filter(destination=name).exists()
    ):
        return name
    raise NotFound(f"No audit stream named {name!r}: use syslog or webhook.")


def resend_refused(name: str, *, actor) -> int:
    """Queue `name`'s refused entries again (after fixing the receiver or its settings); they
    go before the backlog, so they arrive late and out of order: receivers sort by `id`."""
    features.require(GATE)
    name = resolve(name)
    with transaction.atomic():
        StreamDestination.objects.get_or_create(name=name)
        state = StreamDestination.objects.select_for_update().get(name=name)
        count = OutboxRow.objects.filter(destination=name, dead_at__isnull=False).update(
            dead_at=None
        )
        if not count:
            return 0
        # The next attempt is now: an owner who fixed the receiver wants to see it work.
        state.next_attempt_at = None
        state.attempts = 0
        state.save(update_fields=["next_attempt_at", "attempts"])
        audit.record(
            actor=actor,
            action=AuditAction.WRITE,
            resource_type=AUDIT_STREAM,
            resource_id=name,
            resource_target=name,
            additional_fields={"resent": count},
        )
        transaction.on_commit(nudge)
    return count
