"""Audit payload shapes of the audit log itself: exports and retention (registered on import)."""

from __future__ import annotations

from typing import TypedDict

from portal.audit import types
from portal.audit.choices import AuditAction

AUDIT_LOG = "audit_log"
EXPORT = "export"


class AuditLogExported(TypedDict):
    """Who exported what: the query as given (`q`, legacy parameters) and the format."""

    query: str
    format: str


class AuditLogPruned(TypedDict):
    """The retention task deleted entries older than `before` (never this summary itself)."""

    deleted: int
    before: str
    retention_days: int


types.declare_actions([(EXPORT, "Export")])
types.declare_resource(
    AUDIT_LOG,
    label="Audit log",
    payloads={EXPORT: AuditLogExported, AuditAction.DELETE: AuditLogPruned},
)
