"""Uploaded licenses (the JWT as received, with its verified claims) and the deployment's id."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class License(models.Model):
    """A license someone uploaded; its claims were verified then and are re-verified on use."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    jwt = models.TextField(unique=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    license_expires = models.DateTimeField()
    exp = models.DateTimeField(help_text="End of the grace period after license_expires.")
    claims = models.JSONField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"License {self.pk} ({self.claims.get('account_id', '?')})"


class Deployment(models.Model):
    """This deployment's id: one row, created on first use; licenses may be bound to it."""

    # A constant unique key makes get_or_create race-proof: every replica gets the same row.
    key = models.CharField(max_length=16, unique=True, default="this", editable=False)
    deployment_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.deployment_id)
