"""Celery entry points of notifications: deliver one outbox row; sweep the stuck ones."""

from __future__ import annotations

import logging

from celery import shared_task

from portal.notifications import delivery

log = logging.getLogger(__name__)

DELIVER_TASK = "notifications.deliver"
SWEEP_TASK = "notifications.sweep"


@shared_task(name=DELIVER_TASK, ignore_result=True, acks_late=True)
def deliver(delivery_id: int) -> str:
    """Send one delivery (safe to run twice: it locks the row and checks sent_at); a failure
    queues the next attempt after its backoff."""
    outcome = delivery.attempt(delivery_id)
    if outcome.status == "failed":
        enqueue(delivery_id, countdown=outcome.retry_in)
    return outcome.status


@shared_task(name=SWEEP_TASK, ignore_result=True)
def sweep() -> int:
    """Queue again the deliveries left unsent past their time (a lost message, a dead worker)."""
    ids = delivery.stuck()
    for delivery_id in ids:
        enqueue(delivery_id)
    return len(ids)


def enqueue(delivery_id: int, *, countdown: float | None = None) -> None:
    """Queue a delivery, quietly: the row is committed and the sweep finds it if this fails."""
    try:
        deliver.apply_async(args=[delivery_id], countdown=countdown)
    except Exception:
        log.warning("could not queue notification delivery %s", delivery_id, exc_info=True)
