"""User statuses, login types, roles and token kinds, with the allowed status transitions."""

from django.db import models


class UserStatus(models.TextChoices):
    ACTIVE = "active"
    DORMANT = "dormant"
    SUSPENDED = "suspended"


USER_STATUS_TRANSITIONS = {
    UserStatus.ACTIVE: frozenset({UserStatus.DORMANT, UserStatus.SUSPENDED}),
    UserStatus.DORMANT: frozenset({UserStatus.ACTIVE, UserStatus.SUSPENDED}),
    UserStatus.SUSPENDED: frozenset({UserStatus.ACTIVE}),
}


class LoginType(models.TextChoices):
    PASSWORD = "password"
    OIDC = "oidc"
    NONE = "none"


class Role(models.TextChoices):
    OWNER = "owner"
    TEMPLATE_ADMIN = "template-admin"
    USER_ADMIN = "user-admin"
    AUDITOR = "auditor"
    MEMBER = "member"


class TokenKind(models.TextChoices):
    SESSION = "session"  # created by logging in, expires after the session lifetime
    TOKEN = "token"  # created on purpose for scripts and CI, named


SYSTEM_USERNAME = "portal-system"
