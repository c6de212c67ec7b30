"""SCIM bearer keys and the link between a Portal user and the identity provider's record."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower, Upper
from django.utils import timezone


class ScimKey(models.Model):
    """A bearer key an identity provider sends; several may be live at once (rotation)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=64)
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
        verbose_name = "SCIM key"
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                condition=models.Q(revoked_at__isnull=True),
                name="scimkey_live_name_ci_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def live(self) -> bool:
        return self.revoked_at is None


class ScimIdentity(models.Model):
    """A user the identity provider manages: its userName, externalId and the attributes it
    sent that Portal's user has no field for (given back as sent, so IdPs see what they set)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scim_identity"
    )
    user_name = models.CharField(max_length=255)
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SCIM identity"
        verbose_name_plural = "SCIM identities"
        constraints = [
            models.UniqueConstraint(Lower("user_name"), name="scimidentity_user_name_ci_unique")
        ]
        # SCIM filters compare case-insensitively (Django's iexact: UPPER(col) = UPPER(value)):
        # `userName eq` and `externalId eq` are what IdPs send before every change.
        indexes = [
            models.Index(Upper("user_name"), name="scimidentity_user_name_upper"),
            models.Index(Upper("external_id"), name="scimidentity_external_id_upper"),
        ]

    def __str__(self) -> str:
        return self.user_name
