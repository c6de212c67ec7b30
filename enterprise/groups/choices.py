"""Who owns a group's membership: people (`user`) or an identity provider."""

from django.db import models


class GroupSource(models.TextChoices):
    USER = "user", "Portal"
    OIDC = "oidc", "OIDC sign-in"
    SCIM = "scim", "SCIM provisioning"


EVERYONE_NAME = "everyone"
