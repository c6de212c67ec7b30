"""Lookups of notifications: a user's inbox, one of theirs by id, their unread count."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from portal import policy
from portal.errors import NotFound
from portal.notifications.models import Notification


def inbox(actor, *, unread: bool = False) -> QuerySet[Notification]:
    """The actor's notifications, newest first (another user's are never in it)."""
    rows = policy.visible_to(actor, "notification").order_by("-created_at", "-pk")
    return rows.filter(read_at__isnull=True) if unread else rows


def unread_count(actor) -> int:
    return inbox(actor, unread=True).count()


def resolve_notification(actor, ref) -> Notification:
    """One of the actor's notifications by id, or NotFound (also for another user's)."""
    try:
        pk = uuid.UUID(str(ref))
    except ValueError:
        raise NotFound("No such notification.") from None
    row = policy.visible_to(actor, "notification", "update").filter(pk=pk).first()
    if row is None:
        raise NotFound("No such notification.")
    return row
