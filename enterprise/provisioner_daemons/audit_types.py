"""Audit payload shapes of provisioner keys (registered on import)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from portal.audit import types
from portal.audit.choices import AuditAction

PROVISIONER_KEY = "provisioner_key"


class ProvisionerKeyChanged(TypedDict):
    """Created or revoked; a revocation says which running jobs it failed."""

    name: str
    tags: dict
    failed_jobs: NotRequired[list]


class ProvisionerKeyRefused(TypedDict):
    """A daemon whose key was missing, unknown or revoked, or asked for tags it may not serve."""

    reason: str
    key_name: NotRequired[str]


types.declare_resource(
    PROVISIONER_KEY,
    label="Provisioner key",
    payloads={
        AuditAction.CREATE: ProvisionerKeyChanged,
        AuditAction.REVOKE: ProvisionerKeyChanged,
        AuditAction.LOGIN_FAILED: ProvisionerKeyRefused,
    },
)
