"""Audit payload shape of audit streaming's one write (registered on import)."""

from __future__ import annotations

from typing import TypedDict

from portal.audit import types
from portal.audit.choices import AuditAction

AUDIT_STREAM = "audit_stream"


class RefusedResent(TypedDict):
    """Entries a receiver had refused for good, queued again by an owner."""

    resent: int


types.declare_resource(
    AUDIT_STREAM, label="audit stream", payloads={AuditAction.WRITE: RefusedResent}
)
