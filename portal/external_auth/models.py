"""A user's link to an external auth provider: its OAuth2 tokens, encrypted at rest."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ExternalAuthLink(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_auth_links"
    )
    provider_id = models.CharField(max_length=40, help_text="PORTAL_EXTERNAL_AUTH_<N>_ID.")
    # Fernet tokens (portal.crypto): never readable from a database dump alone.
    access_token = models.BinaryField(editable=False)
    refresh_token = models.BinaryField(editable=False, default=b"")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="None: does not expire.")
    linked_at = models.DateTimeField()
    validated_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    # Set when a refresh failed or the provider refused the token: the user must link again.
    invalid_reason = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "provider_id"], name="external_auth_link_once")
        ]

    def __str__(self) -> str:
        return f"{self.provider_id} link of user {self.user_id}"
