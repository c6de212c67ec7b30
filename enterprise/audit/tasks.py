"""Celery entry point of audit retention (beat runs it hourly; safe to run twice)."""

from celery import shared_task

from enterprise.audit import services
from portal.accounts.services import system_actor


@shared_task(name="audit_log.prune_audit_entries", acks_late=True, ignore_result=True)
def prune_audit_entries() -> int:
    """Delete entries older than PORTAL_AUDIT_RETENTION_DAYS (0 or unset: keep everything)."""
    return services.prune(actor=system_actor())
