"""The link between a Portal user and their subject at an OpenID Provider."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class OIDCIdentity(models.Model):
    """`subject` (the ID token's `sub`) at `issuer` is `user`: later sign-ins match on this."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identity"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OIDC identity"
        verbose_name_plural = "OIDC identities"
        constraints = [
            models.UniqueConstraint("issuer", "subject", name="oidc_identity_issuer_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
