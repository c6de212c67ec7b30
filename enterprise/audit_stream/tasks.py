"""The delivery task: run by beat every few seconds and nudged after entries commit."""

from __future__ import annotations

from celery import shared_task

from enterprise.audit_stream import delivery


@shared_task(name="audit_stream.deliver", ignore_result=True)
def deliver() -> dict[str, int]:
    """Deliver every destination's outbox (safe to run twice at once: it takes row locks)."""
    return delivery.deliver_all()
