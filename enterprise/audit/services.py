"""The audit log's own writes: recording an export, and retention (deleting old entries)."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from enterprise.audit import gate
from enterprise.audit.audit_types import AUDIT_LOG, EXPORT
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.audit.models import AuditEntry

log = logging.getLogger(__name__)
BATCH = 10_000


def record_export(*, actor, params, fmt: str) -> AuditEntry:
    """Who exported, with which query and format (before the first row is sent)."""
    query = urlencode([(k, v) for k, v in params.items() if k not in ("format",)])
    with transaction.atomic():
        return audit.record(
            actor=actor,
            action=EXPORT,
            resource_type=AUDIT_LOG,
            resource_target="audit log",
            additional_fields={"query": query[:2000], "format": fmt},
        )


def prune(*, actor, days: int | None = None, batch: int = BATCH) -> int:
    """Delete entries older than `days` (PORTAL_AUDIT_RETENTION_DAYS; 0 keeps everything) in
    batches of `batch`, each its own short transaction; then record one summary entry.

    Safe to run twice and on several replicas at once (SKIP LOCKED); retention's own summary
    entries are never deleted, so the log always says what was removed and when.
    """
    days = settings.PORTAL_AUDIT_RETENTION_DAYS if days is None else days
    if not days or days < 0 or not gate.enabled():  # gate off: the feature's data is kept
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    deleted = _delete_before(cutoff, batch)
    if deleted:
        with transaction.atomic():
            audit.record(
                actor=actor,
                action=AuditAction.DELETE,
                resource_type=AUDIT_LOG,
                resource_target="audit log",
                additional_fields={
                    "deleted": deleted,
                    "before": cutoff.isoformat(),
                    "retention_days": days,
                },
            )
    return deleted


# Oldest first; SKIP LOCKED: a concurrent run (another replica, a manual one) takes other rows
# instead of waiting on these, and each run's summary counts only what it deleted.
_DELETE_BATCH = """
DELETE FROM {table} WHERE id IN (
    SELECT id FROM {table}
    WHERE time < %s AND NOT (resource_type = %s AND action = %s)
    ORDER BY time LIMIT %s FOR UPDATE SKIP LOCKED
)
"""


def _delete_before(cutoff, batch: int) -> int:
    """One DELETE of at most `batch` rows per transaction until none is left."""
    sql = _DELETE_BATCH.format(table=connection.ops.quote_name(AuditEntry._meta.db_table))
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [cutoff, AUDIT_LOG, str(AuditAction.DELETE), batch])
            if cursor.rowcount <= 0:
                return total
            total += cursor.rowcount
