"""A notification sent to one user, as the portal's bell lists it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Notification(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=64)
    title = models.CharField(max_length=255)
    body = models.TextField(blank=True)
    # Where the notification points in the portal (a path such as /@alice/dev), or "".
    link = models.CharField(max_length=512, blank=True)
    # The sender's key for "this same thing" (e.g. a build id): a second notify() with the same
    # key for the same user is not a second notification (a retried task, a second pass).
    dedupe_key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    read_at = models.DateTimeField(null=True, blank=True)
    # False when the user turned the portal off for this kind but another method carries it:
    # the row stays as the deliveries' source and is not listed in the inbox.
    in_inbox = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_user_recent"),
            models.Index(
                fields=["user"],
                condition=models.Q(read_at__isnull=True),
                name="notification_user_unread",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                "user",
                "dedupe_key",
                condition=~models.Q(dedupe_key=""),
                name="notification_user_dedupe",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.user_id}: {self.title}"


class Method(models.TextChoices):
    """How a notification reaches its user: the portal's bell, an email, the webhook."""

    INBOX = "inbox", "Portal"
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class MessageTemplate(models.Model):
    """An owner's version of a kind's title and body ("" keeps the default), or the kind off."""

    kind = models.CharField(max_length=64, unique=True)
    title = models.TextField(blank=True)
    body = models.TextField(blank=True)
    # Off: nobody is sent this kind, by any method (a deployment that does not want it).
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.kind


class Preference(models.Model):
    """A user's choice for one kind and method; no row means on (the default)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=64)
    method = models.CharField(max_length=16, choices=Method.choices)
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("user", "kind", "method", name="notification_preference_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.method}: {'on' if self.enabled else 'off'}"


class Delivery(models.Model):
    """The outbox: one row per notification and outward method, until it is sent or given up."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    method = models.CharField(max_length=16, choices=Method.choices)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # When the task should try (again); the sweep re-dispatches rows left past it.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    gave_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint("notification", "method", name="notification_delivery_unique")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(sent_at__isnull=True, gave_up_at__isnull=True),
                name="notification_delivery_due",
            ),
            # The console's outbox list, newest first (the table grows with every message).
            models.Index(fields=["created_at", "id"], name="notification_delivery_created"),
        ]

    def __str__(self) -> str:
        return f"{self.method} of {self.notification_id}"
