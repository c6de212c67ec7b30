"""Audit payload shapes of core's resources: users and API tokens (registered on import)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from portal.audit import types
from portal.audit.choices import AuditAction, ResourceType
from portal.audit.types import ConnectionClosed, NoPayload


class UserChanged(TypedDict):
    """Created, edited, suspended or reactivated; the change itself is in the entry's diff."""

    reason: NotRequired[str]  # a status change's reason, as given (may be "")
    password: NotRequired[str]  # "changed" by the user, or "reset" (a one-time password)
    sessions_ended: NotRequired[int]  # browser sessions signed out by the change
    tokens_revoked: NotRequired[int]  # session tokens revoked by the change


class UserLogin(TypedDict):
    method: str  # password (API, CLI), browser (session cookie) or a single sign-on's (oidc)


class UserLoginFailed(TypedDict):
    reason: str
    client_ip: NotRequired[str | None]  # refused during a lockout (throttling)
    login: NotRequired[str]
    method: NotRequired[str]  # a single sign-on's failure (oidc); absent: a password sign-in


class UserLockout(TypedDict):
    client_ip: str | None
    login: str
    failures: int
    limit: int
    cooloff_seconds: int


class UserUnlock(TypedDict):
    cleared_failures: int


class TokenChanged(TypedDict):
    key_id: str
    kind: str
    owner: str
    expires_at: str  # ISO 8601


types.declare_resource(
    ResourceType.USER,
    label=ResourceType.USER.label,
    payloads={
        AuditAction.CREATE: UserChanged,
        AuditAction.WRITE: UserChanged,
        AuditAction.SUSPEND: UserChanged,
        AuditAction.ACTIVATE: UserChanged,
        AuditAction.LOGIN: UserLogin,
        AuditAction.LOGIN_FAILED: UserLoginFailed,
        AuditAction.LOCKOUT: UserLockout,
        AuditAction.UNLOCK: UserUnlock,
        AuditAction.LOGOUT: NoPayload,
        AuditAction.CLOSE: ConnectionClosed,  # the events socket (connectivity.event_consumers)
    },
)


class GitSSHKeyChanged(TypedDict):
    owner: str
    fingerprint: str  # SHA256:... of the new public key, as ssh-keygen -l prints it


types.declare_resource(
    ResourceType.GIT_SSH_KEY,
    label=ResourceType.GIT_SSH_KEY.label,
    payloads={AuditAction.CREATE: GitSSHKeyChanged, AuditAction.WRITE: GitSSHKeyChanged},
)
types.declare_resource(
    ResourceType.API_TOKEN,
    label=ResourceType.API_TOKEN.label,
    payloads={AuditAction.CREATE: TokenChanged, AuditAction.REVOKE: TokenChanged},
)
