"""Celery entry point of user dormancy (beat runs it hourly; safe to run twice)."""

from celery import shared_task

from portal.accounts import dormancy
from portal.accounts.services import system_actor


@shared_task(name="accounts.mark_dormant_users", acks_late=True, ignore_result=True)
def mark_dormant_users() -> int:
    """Mark users not seen for PORTAL_USER_DORMANCY_DAYS dormant (0: never)."""
    return len(dormancy.mark_dormant_users(actor=system_actor()))
