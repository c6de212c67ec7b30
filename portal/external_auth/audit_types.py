"""Audit payload shapes of external auth links (registered on import)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from portal.audit import types
from portal.audit.choices import AuditAction

EXTERNAL_AUTH_LINK = "external_auth_link"


class LinkChanged(TypedDict):
    """Linked, linked again, refreshed, found invalid, or unlinked."""

    provider: str
    owner: str
    change: NotRequired[str]  # write: relinked | refreshed | invalidated
    reason: NotRequired[str]  # invalidated: what the provider said


types.declare_resource(
    EXTERNAL_AUTH_LINK,
    label="External auth link",
    payloads={
        AuditAction.CREATE: LinkChanged,
        AuditAction.WRITE: LinkChanged,
        AuditAction.DELETE: LinkChanged,
    },
)
