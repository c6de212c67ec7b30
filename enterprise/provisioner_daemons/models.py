"""Provisioner keys: what an external provisioner daemon authenticates with, scoped to tags."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class ProvisionerKey(models.Model):
    """A key daemons present; the tags they may serve are at most the key's."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=64)
    tags = models.JSONField(default=dict, blank=True)
    # portal.secret_hash.digest of the secret: the secret itself is shown once, never stored.
    hashed_secret = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "provisioner key"
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                condition=models.Q(revoked_at__isnull=True),
                name="provisionerkey_live_name_ci_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def live(self) -> bool:
        return self.revoked_at is None
