"""Audit payload shapes of notifications' settings and inbox (registered on import)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from portal.audit import types
from portal.audit.choices import AuditAction

NOTIFICATION = "notification"
NOTIFICATION_TEMPLATE = "notification_template"
NOTIFICATION_PREFERENCES = "notification_preferences"


class ReadStatusChanged(TypedDict):
    """A user marked their notifications read or unread."""

    is_read: bool
    count: int  # how many changed (mark all as read: every unread one)
    via: NotRequired[str]


class TestSent(TypedDict):
    """An owner sent themselves a test notification through every method."""

    kind: str
    methods: list[str]  # the outward methods queued, e.g. ["email", "webhook"]
    via: NotRequired[str]


class MessageTemplateChanged(TypedDict):
    """An owner changed a kind's message or turned the kind on or off; reset: back to default."""

    kind: str
    fields: list[str]  # e.g. ["title", "enabled"]
    reset: bool
    via: NotRequired[str]


class PreferencesChanged(TypedDict):
    """A user's choices (or an owner's for them): "kind/method" names switched on or off."""

    enabled: list[str]
    disabled: list[str]
    via: NotRequired[str]


types.declare_resource(
    NOTIFICATION,
    label="Notification",
    payloads={AuditAction.WRITE: ReadStatusChanged, AuditAction.CREATE: TestSent},
)
types.declare_resource(
    NOTIFICATION_TEMPLATE,
    label="Notification message",
    payloads={AuditAction.WRITE: MessageTemplateChanged},
)
types.declare_resource(
    NOTIFICATION_PREFERENCES,
    label="Notification preferences",
    payloads={AuditAction.WRITE: PreferencesChanged},
)
