"""Job log lines written as rows in batches and published live to followers as they land."""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connection
from django.utils import timezone

from workspaces.choices import LogLevel, LogSource
from workspaces.models import ProvisionerJobLog

log = logging.getLogger(__name__)

MAX_LINE = 16_384  # characters; a runaway line must not make a row of megabytes


def row_dict(row: ProvisionerJobLog) -> dict:
    return {
        "id": row.id,
        "created_at": row.created_at.isoformat(),
        "source": row.source,
        "level": row.level,
        "stage": row.stage,
        "output": row.output,
    }


class JobLogWriter:
    """Buffers lines and flushes them every `interval` seconds (or at `batch` lines).

    One INSERT per batch instead of one per line, and followers get each batch the moment it
    is committed: rows first, then the publish, so a follower never sees an id the database
    does not have yet.
    """

    def __init__(self, job_id, *, interval: float = 0.1, batch: int = 500):
        self.job_id = job_id
        self.interval = interval
        self.batch = batch
        self._pending: list[ProvisionerJobLog] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=f"joblog-{job_id}", daemon=True)
        self._thread.start()

    def write(
        self,
        level: str,
        stage: str,
        output: str,
        source: str = LogSource.PROVISIONER,
    ) -> None:
        if len(output) > MAX_LINE:
            output = output[:MAX_LINE] + f" … [{len(output) - MAX_LINE} characters cut]"
        row = ProvisionerJobLog(
            job_id=self.job_id,
            created_at=timezone.now(),
            source=source,
            level=level if level in LogLevel.values else LogLevel.INFO,
            stage=stage[:128],
            output=output,
        )
        with self._cond:
            self._pending.append(row)
            if len(self._pending) >= self.batch:
                self._cond.notify()

    def daemon(self, level: str, output: str, stage: str = "") -> None:
        """A line from Portal itself about the job (not Terraform's output)."""
        self.write(level, stage, output, source=LogSource.PROVISIONER_DAEMON)

    def close(self) -> None:
        """Flush everything still buffered; the writer cannot be used afterwards."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _loop(self) -> None:
        try:
            while True:
                with self._cond:
                    if not self._closed and len(self._pending) < self.batch:
                        self._cond.wait(self.interval)
                    rows, self._pending = self._pending, []
                    closed = self._closed
                if rows:
                    self._flush(rows)
                if closed:
                    with self._cond:
                        rows, self._pending = self._pending, []
                    if rows:
                        self._flush(rows)
                    return
        finally:
            # This thread's connection goes back to the pool.
            connection.close()

    def _flush(self, rows: list[ProvisionerJobLog]) -> None:
        from workspaces.builds import logs

        try:
            close_old_connections()
            created = ProvisionerJobLog.objects.bulk_create(rows)
        except Exception:
            log.exception("could not write %d log lines of job %s", len(rows), self.job_id)
            return
        finally:
            connection.close()  # back to the pool until the next batch
        try:
            logs.publish(self.job_id, [row_dict(r) for r in created])
        except Exception:
            # Followers re-read rows from the database; a lost publish delays, never loses.
            log.warning("could not publish logs of job %s", self.job_id, exc_info=True)
