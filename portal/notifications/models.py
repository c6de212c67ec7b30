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
