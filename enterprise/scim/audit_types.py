"""Audit payload shape of SCIM keys (registered on import)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from portal.audit import types
from portal.audit.choices import AuditAction

SCIM_KEY = "scim_key"


class ScimKeyChanged(TypedDict):
    """Created or revoked."""

    name: str


class ScimKeyRefused(TypedDict):
    """A SCIM request whose bearer key was missing, unknown or revoked."""

    reason: str
    key_name: NotRequired[str]  # a revoked key's name


types.declare_resource(
    SCIM_KEY,
    label="SCIM key",
    payloads={
        AuditAction.CREATE: ScimKeyChanged,
        AuditAction.REVOKE: ScimKeyChanged,
        AuditAction.LOGIN_FAILED: ScimKeyRefused,
    },
)
