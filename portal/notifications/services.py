"""Sending notifications: notify() renders a kind's title and body and records it for the user.

Senders (the scheduler, build ends, template deprecation, account suspension) call notify()
inside their own transaction: the notification commits or rolls back with what it tells of.
A notification is a message to its recipient, not a change to a resource, so it writes no audit
entry of its own (the action that caused it has one).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.template import Context, Engine

from portal import user_events
from portal.notifications import kinds
from portal.notifications.models import Notification

NOTIFICATION = "notification"  # the live event's kind on the user's events socket

# No escaping: titles and bodies are plain text (the portal escapes them when it shows them).
_engine = Engine()


def render(template: str, context: dict) -> str:
    return _engine.from_string(template).render(Context(context, autoescape=False)).strip()


def notify(
    kind: str, user, *, context: dict, link: str = "", dedupe_key: str = ""
) -> Notification | None:
    """Send `user` a notification of `kind`; None when `dedupe_key` was already sent to them."""
    definition = kinds.get(kind)
    title = render(definition.title, context)[:255]
    body = render(definition.body, context)
    try:
        with transaction.atomic():  # a savepoint: a duplicate must not spoil the caller's
            notification = Notification.objects.create(
                user=user,
                kind=kind,
                title=title,
                body=body,
                link=link[:512],
                dedupe_key=dedupe_key[:200],
            )
    except IntegrityError:
        if dedupe_key and Notification.objects.filter(user=user, dedupe_key=dedupe_key).exists():
            return None
        raise
    user_id = user.pk
    event = {"kind": NOTIFICATION, "notification_id": str(notification.pk)}
    transaction.on_commit(lambda: user_events.publish_quietly(user_id, event), robust=True)
    return notification
