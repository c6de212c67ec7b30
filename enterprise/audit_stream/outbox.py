"""The audit_recorded handler: one outbox row per configured destination, in the entry's
transaction, and a nudge to the delivery task once that transaction commits."""

from __future__ import annotations

import functools
import logging
import time

from django.db import connection, transaction

from enterprise.audit_stream import config
from enterprise.audit_stream.models import OutboxRow
from portal import features
from portal.celery import app as celery_app

log = logging.getLogger(__name__)

GATE = "audit_log"
DELIVER_TASK = "audit_stream.deliver"
# At most one nudge per process this often: a burst of entries makes one delivery run, which
# drains the outbox; the periodic run picks up anything a skipped nudge left.
NUDGE_EVERY_SECONDS = 0.5
_last_nudge = 0.0


@functools.cache
def _insert_sql(count: int) -> str:
    table = OutboxRow._meta.db_table
    values = ", ".join(["(%s, %s)"] * count)
    # Only our table name and placeholders are interpolated; the values are parameters.
    return f"INSERT INTO {table} (destination, entry_id) VALUES {values}"  # noqa: S608


def enqueue(entry) -> None:
    """Queue `entry` for every destination (nothing when none is configured or the gate is off)."""
    names = config.current().destination_names
    if not names or not features.enabled(GATE):
        return
    params = [p for name in names for p in (name, entry.id)]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(len(names)), params)
    global _last_nudge
    now = time.monotonic()
    if now - _last_nudge >= NUDGE_EVERY_SECONDS:
        _last_nudge = now
        transaction.on_commit(nudge)


def nudge() -> None:
    """Ask a worker to deliver now (by task name; safe to send twice: delivery takes locks)."""
    try:
        celery_app.send_task(DELIVER_TASK)
    except Exception:
        # The rows are the truth: the periodic run delivers them a few seconds later.
        log.warning("could not nudge audit stream delivery", exc_info=True)
