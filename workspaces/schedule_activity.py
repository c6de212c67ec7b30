"""Workspace activity: streams and app traffic mark workspaces used, written in batches.

The relay (SSH, terminal, port-forward streams) and the app proxy call `saw(workspace_id)` per
request and `opened`/`closed` around a stream; both are a dict operation under a lock. One
collector per process flushes every FLUSH_SECONDS, from a daemon thread, in one statement per
CHUNK workspaces seen: `last_used_at` (never moved back) and, in the same statement, the running
start build's deadline pushed to seen-time + the template's activity bump (never past its
max_deadline, never shortened, never revived once passed: the scheduler stops it). A workspace
with a stream open counts as used at every flush, as Coder counts open sessions. So
`last_used_at` is at most FLUSH_SECONDS late, and the database sees one write per flush per
process per thousand active workspaces (0.03 writes/s per thousand; the budget is 1).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

log = logging.getLogger(__name__)

FLUSH_SECONDS = 30.0
# Workspaces per statement: one flush of 10,000 is 10 short statements, not one long one that
# would hold 10,000 row locks (builds lock their workspace row) for seconds.
CHUNK = 1000

# One statement: the workspaces seen (unnested arrays), their last_used_at, and the deadline of
# each one's latest build when that is a succeeded start with a deadline still ahead.
_FLUSH_SQL = """
WITH seen(id, at) AS (
    SELECT * FROM unnest(%s::uuid[], %s::timestamptz[])
), used AS (
    UPDATE workspaces_workspace w
    SET last_used_at = seen.at
    FROM seen
    -- Already as recent: this flush has nothing new for it, nor for its deadline (the flush
    -- that wrote that time bumped it as far).
    WHERE w.id = seen.id AND w.deleted_at IS NULL
      AND (w.last_used_at IS NULL OR w.last_used_at < seen.at)
    RETURNING w.id, w.latest_build_id, w.template_id, seen.at
)
UPDATE workspaces_workspacebuild b
SET deadline = LEAST(
    used.at + make_interval(secs => t.activity_bump_seconds),
    COALESCE(b.max_deadline, 'infinity'::timestamptz)
)
FROM used, templates_app_template t, workspaces_provisionerjob j
WHERE b.id = used.latest_build_id
  AND t.id = used.template_id
  AND j.id = b.job_id
  AND b.transition = 'start'
  AND j.status = 'succeeded'
  AND b.deadline IS NOT NULL
  AND b.deadline > used.at
  AND t.activity_bump_seconds > 0
  AND b.deadline < LEAST(
      used.at + make_interval(secs => t.activity_bump_seconds),
      COALESCE(b.max_deadline, 'infinity'::timestamptz)
  )
"""


def record_used(seen: dict) -> int:
    """Write {workspace id: when last seen}, one statement (and transaction) per CHUNK
    workspaces, so row locks are held briefly; returns the deadlines bumped."""
    items = list(seen.items())
    bumped = 0
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_FLUSH_SQL, [[str(k) for k, _ in chunk], [at for _, at in chunk]])
            bumped += cursor.rowcount
    return bumped


class ActivityCollector:
    """This process's activity: what was seen since the last flush, and the open streams."""

    def __init__(self, flush_seconds: float = FLUSH_SECONDS):
        self.flush_seconds = flush_seconds
        self.lock = threading.Lock()
        self.seen: dict = {}  # workspace id -> datetime
        self.open: dict = {}  # workspace id -> number of open streams
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.flushes = 0

    def saw(self, workspace_id, at: datetime | None = None) -> None:
        at = at or timezone.now()
        with self.lock:
            if self.seen.get(workspace_id) is None or self.seen[workspace_id] < at:
                self.seen[workspace_id] = at
        self._ensure_thread()

    def opened(self, workspace_id) -> None:
        with self.lock:
            self.open[workspace_id] = self.open.get(workspace_id, 0) + 1
        self.saw(workspace_id)

    def closed(self, workspace_id) -> None:
        with self.lock:
            left = self.open.get(workspace_id, 0) - 1
            if left > 0:
                self.open[workspace_id] = left
            else:
                self.open.pop(workspace_id, None)
        self.saw(workspace_id)

    def take(self, now: datetime | None = None) -> dict:
        """What the next flush writes (and forgets): seen ones, and open ones as of `now`."""
        now = now or timezone.now()
        with self.lock:
            batch, self.seen = self.seen, {}
            for workspace_id in self.open:
                batch[workspace_id] = now
        return batch

    def flush(self, now: datetime | None = None) -> int:
        """One write for everything collected; returns how many workspaces it covered."""
        batch = self.take(now)
        if not batch:
            return 0
        try:
            record_used(batch)
        except Exception:
            log.exception("could not record activity of %d workspaces", len(batch))
            with self.lock:  # keep them for the next flush (newer sightings win)
                for workspace_id, at in batch.items():
                    if self.seen.get(workspace_id) is None or self.seen[workspace_id] < at:
                        self.seen[workspace_id] = at
            return 0
        self.flushes += 1
        return len(batch)

    def _ensure_thread(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        with self.lock:
            if self.thread is not None and self.thread.is_alive():
                return
            self.thread = threading.Thread(target=self._run, name="workspace-activity", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(self.flush_seconds):
            self._flush_and_release()

    def _flush_and_release(self) -> None:
        with self.lock:
            if not self.seen and not self.open:
                return  # nothing to write: no connection is touched
        try:
            self.flush()
        finally:
            connection.close()  # this thread's own connection; not held between flushes

    def stop(self) -> None:
        """Flush what is left (at process exit)."""
        self.stopping.set()
        try:
            self._flush_and_release()
        except Exception:
            log.exception("could not flush workspace activity at exit")


# No flush at exit: at worst the last FLUSH_SECONDS of a stopping process's activity are lost,
# and its streams close with it anyway.
collector = ActivityCollector()


def saw(workspace_id) -> None:
    collector.saw(workspace_id)


def opened(workspace_id) -> None:
    collector.opened(workspace_id)


def closed(workspace_id) -> None:
    collector.closed(workspace_id)
