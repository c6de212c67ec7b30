"""Delivering the outbox: per destination, in order, in batches, one worker at a time.

A run locks the destination's state row (`FOR UPDATE SKIP LOCKED`: another worker or replica
already delivering it is skipped, which keeps each destination's order), takes the oldest
batch of its rows (also `SKIP LOCKED`), sends it, and deletes the rows in the same transaction.
A crash or a lost connection after the receiver got the batch but before the commit makes
that batch go again: at-least-once, receivers dedupe on the entry's `id`.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from enterprise.audit_stream import config, formats, transports
from enterprise.audit_stream.models import OutboxRow, StreamDestination
from enterprise.audit_stream.outbox import GATE
from portal import features
from portal.audit.models import AuditEntry

log = logging.getLogger(__name__)

BASE_BACKOFF_SECONDS = 1.0
# One run stops after this long so a huge backlog cannot hold a worker thread for ever; the
# next nudge or periodic run carries on.
RUN_SECONDS = 60.0


def backoff_seconds(attempts: int, cap: float) -> float:
    """Exponential backoff with jitter: 1, 2, 4 ... s (each between half and all of it), capped."""
    delay = min(cap, BASE_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret


def deliver_all(*, now: datetime | None = None) -> dict[str, int]:
    """Deliver every configured destination; {name: entries delivered}. Paused with the gate off
    (the rows stay)."""
    if not features.enabled(GATE):
        return {}
    return {name: deliver(name, now=now) for name in config.current().destination_names}


def deliver(name: str, *, now: datetime | None = None) -> int:
    """Send `name`'s outbox until it is empty, the receiver fails, or the run's time is up."""
    cfg = config.current()
    target = cfg.target(name)
    if target is None:
        return 0
    StreamDestination.objects.get_or_create(name=name)
    delivered, deadline = 0, time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        sent, more = _deliver_batch(target, cfg, now or timezone.now())
        delivered += sent
        if not more:
            break
    return delivered


def _deliver_batch(target, cfg: config.StreamConfig, now: datetime) -> tuple[int, bool]:
    """One batch in one transaction: (entries delivered, whether to go on)."""
    with transaction.atomic():
        state = (
            StreamDestination.objects.select_for_update(skip_locked=True)
            .filter(name=target.name)
            .first()
        )
        if state is None or (state.next_attempt_at and state.next_attempt_at > now):
            return 0, False  # another worker is on it, or we are backing off
        rows = list(
            OutboxRow.objects.select_for_update(skip_locked=True)
            .filter(destination=target.name, dead_at__isnull=True)
            .order_by("id")
            .values_list("id", "entry_id")[: cfg.batch_size]
        )
        if not rows:
            return 0, False
        entries = AuditEntry.objects.in_bulk([entry_id for _, entry_id in rows])
        docs = [formats.document(entries[e]) for _, e in rows if e in entries]
        row_ids = [row_id for row_id, _ in rows]
        try:
            if docs:
                transports.send(target, docs, timeout=cfg.timeout_seconds)
        except transports.DeliveryFailed as e:
            if e.permanent:
                _refused(state, row_ids, str(e), now)
                return 0, True
            _failed(state, str(e), now, cfg, e.retry_after)
            return 0, False
        OutboxRow.objects.filter(id__in=row_ids).delete()
        state.attempts = 0
        state.next_attempt_at = None
        state.last_success_at = now
        state.delivered_count += len(docs)
        state.save(
            update_fields=["attempts", "next_attempt_at", "last_success_at", "delivered_count"]
        )
        # Go on until a batch comes back empty: rows committed while this one was on the wire
        # go now rather than at the next run (their nudge found this destination locked).
        return len(docs), True


def _failed(state, error: str, now, cfg, retry_after: float | None) -> None:
    """A receiver down or failing: keep the rows, wait longer each time (in the DB, for all)."""
    state.attempts += 1
    wait = backoff_seconds(state.attempts, cfg.max_backoff_seconds)
    if retry_after is not None:
        wait = max(wait, min(retry_after, cfg.max_backoff_seconds))
    state.next_attempt_at = now + timedelta(seconds=wait)
    state.last_error, state.last_error_at = error[:1000], now
    state.save(update_fields=["attempts", "next_attempt_at", "last_error", "last_error_at"])
    log.warning(
        "audit stream %s: %s (attempt %d; next in %.1f s)", state.name, error, state.attempts, wait
    )


def _refused(state, row_ids: list[int], error: str, now) -> None:
    """The receiver refused the batch for good (a 4xx): its rows are set aside (kept, shown as
    `refused`, re-sent by services.resend_refused) and logged, and delivery goes on with the
    next batch instead of retrying it for ever."""
    OutboxRow.objects.filter(id__in=row_ids).update(dead_at=now)
    state.last_error, state.last_error_at = error[:1000], now
    state.save(update_fields=["last_error", "last_error_at"])
    log.error("audit stream %s refused %d entries for good: %s", state.name, len(row_ids), error)
