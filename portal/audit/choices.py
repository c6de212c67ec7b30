"""Core's audit actions and resource types; apps declare theirs in the registry (audit.types)."""

from django.db import models


class AuditAction(models.TextChoices):
    """What any resource may undergo (CRUD, sign-in) and what revocation does (close)."""

    CREATE = "create"
    WRITE = "write"
    DELETE = "delete"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOCKOUT = "lockout"  # sign-in refused after too many failures (accounts/throttling.py)
    UNLOCK = "unlock"
    LOGOUT = "logout"
    REGISTER = "register"
    SUSPEND = "suspend"
    ACTIVATE = "activate"
    REVOKE = "revoke"
    CLOSE = "close"  # portal.revocation closed an open connection
    DENIED = "denied"  # a signed-in caller's change the API refused (403/404): audit.denied


class ResourceType(models.TextChoices):
    """Core's resources; their payload shapes are in portal.accounts.audit_types."""

    USER = "user"
    API_TOKEN = "api_token"
    GIT_SSH_KEY = "git_ssh_key"
