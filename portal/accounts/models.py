"""The user model (roles, status, login type) and hashed API tokens."""

from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower, Upper
from django.utils import timezone

from portal.accounts import admin_permissions
from portal.accounts.choices import (
    USER_STATUS_TRANSITIONS,
    LoginType,
    Role,
    TokenKind,
    UserStatus,
)
from portal.state import check_transition

username_validator = RegexValidator(
    r"^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{0,62}[a-zA-Z0-9])?$",
    "Use 1-64 letters, digits, '.', '_' or '-', starting and ending with a letter or digit.",
)


class UserManager(BaseUserManager):
    """Creation goes through the accounts services, so createsuperuser is audited too."""

    def get_by_natural_key(self, username):
        return self.get(username__iexact=username)

    def create_user(self, username, email="", password=None, **extra):
        from portal.accounts import services

        return services.create_user(
            actor=services.system_actor(),
            username=username,
            email=email or "",
            password=password,
            name=extra.get("name", ""),
            roles=extra.get("roles") or [Role.MEMBER],
        )

    def create_superuser(self, username, email="", password=None, **extra):
        return self.create_user(username, email, password, roles=[Role.OWNER], **extra)


class User(AbstractBaseUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    username = models.CharField(max_length=64, unique=True, validators=[username_validator])
    email = models.EmailField(blank=True)
    name = models.CharField("full name", max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=UserStatus, default=UserStatus.ACTIVE)
    status_reason = models.CharField(max_length=255, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    login_type = models.CharField(max_length=16, choices=LoginType, default=LoginType.PASSWORD)
    must_change_password = models.BooleanField(
        default=False,
        help_text="Set by a reset (a one-time password): the user must choose a new password.",
    )
    roles = ArrayField(models.CharField(max_length=32, choices=Role), default=list, blank=True)
    is_system = models.BooleanField(
        default=False, help_text="The actor of background work; it cannot log in."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.UniqueConstraint(
                Lower("email"), condition=~models.Q(email=""), name="user_email_ci_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["status"]),
            # Django's iexact is UPPER(col) = UPPER(value): sign-in by username or email, the
            # uniqueness checks of every create (API, console, SCIM, OIDC) use these, not a scan.
            models.Index(Upper("username"), name="user_username_upper"),
            models.Index(Upper("email"), name="user_email_upper"),
            # The console's user list (migration 0005 says why): its search is icontains
            # (UPPER(col) LIKE '%..%', trigrams), its role filter roles @> {role}, its date
            # hierarchy min/max(created_at).
            GinIndex(OpClass(Upper("username"), name="gin_trgm_ops"), name="user_username_trgm"),
            GinIndex(OpClass(Upper("email"), name="gin_trgm_ops"), name="user_email_trgm"),
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="user_name_trgm"),
            GinIndex(fields=["roles"], name="user_roles_gin"),
            models.Index(fields=["created_at"], name="user_created_idx"),
        ]

    def __str__(self) -> str:
        return self.username

    # Django's auth and admin read these; they are derived from status and roles.
    @property
    def is_active(self) -> bool:
        return self.status != UserStatus.SUSPENDED and not self.is_system

    @property
    def is_superuser(self) -> bool:
        return Role.OWNER in self.roles

    @property
    def is_staff(self) -> bool:
        return self.is_active and any(r != Role.MEMBER for r in self.roles)

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def has_perm(self, perm: str, obj=None) -> bool:
        return self.is_active and admin_permissions.admin_permission(self, perm)

    def has_perms(self, perm_list, obj=None) -> bool:
        return all(self.has_perm(p, obj) for p in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_active and admin_permissions.admin_module_permission(self, app_label)

    def get_full_name(self) -> str:
        return self.name or self.username

    def get_short_name(self) -> str:
        return self.username

    def transition(self, status: str, *, reason: str = "") -> list[str]:
        """Change status if allowed; returns the fields to save."""
        check_transition("user", USER_STATUS_TRANSITIONS, self.status, status)
        self.status = status
        self.status_reason = reason
        self.status_changed_at = timezone.now()
        return ["status", "status_reason", "status_changed_at", "updated_at"]


class APIToken(models.Model):
    """A bearer credential `<key_id>-<secret>`; only a SHA-256 of the secret is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key_id = models.CharField("public id", max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    kind = models.CharField(max_length=16, choices=TokenKind, default=TokenKind.TOKEN)
    name = models.CharField(max_length=64, blank=True)
    login_type = models.CharField(max_length=16, choices=LoginType, default=LoginType.PASSWORD)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"
        constraints = [
            models.UniqueConstraint(
                "user",
                "name",
                condition=models.Q(kind=TokenKind.TOKEN, revoked_at__isnull=True),
                name="apitoken_unique_live_name",
            )
        ]
        indexes = [models.Index(fields=["user", "kind", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name or self.kind} ({self.key_id})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and not self.is_expired


class GitSSHKey(models.Model):
    """A user's ed25519 key for git inside workspaces; the private half encrypted at rest.

    The agent of the user's workspace holds it in memory to answer an ssh-agent socket, so it
    is never written to the workspace's disk (portal_agent/gitssh.py).
    """

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="git_ssh_key"
    )
    public_key = models.TextField()  # OpenSSH one-line form: "ssh-ed25519 AAAA... portal"
    private_key = models.BinaryField()  # portal.crypto.encrypt(the 32-byte ed25519 seed)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "git SSH key"

    def __str__(self) -> str:
        return f"git SSH key of {self.user_id}"
