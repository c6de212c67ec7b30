"""A running job's voice to its store: log lines in batches, and a heartbeat that hears cancels."""

from __future__ import annotations

import logging
import threading
import time

from workspaces.provisioner.protocol import (
    INFO,
    LEVELS,
    PROVISIONER,
    PROVISIONER_DAEMON,
    JobLost,
    JobStore,
    LogLine,
)

log = logging.getLogger(__name__)

MAX_LINE = 16_384  # characters; a runaway line must not make a row of megabytes


class Reporter:
    """Buffers lines and sends them with `update()` every `interval` s (or at `batch` lines).

    One update per batch instead of one per line. With nothing to say it still calls `update()`
    every `heartbeat` seconds: that is how the store knows the worker is alive, and its answer is
    how a cancel request reaches the running job (`cancel`). `lost` is set when the store says
    the job is no longer ours: the runner stops Terraform and finishes nothing.
    """

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        *,
        heartbeat: float,
        interval: float = 0.1,
        batch: int = 500,
    ):
        self.store, self.job_id = store, job_id
        self.heartbeat, self.interval, self.batch = heartbeat, interval, batch
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self._pending: list[LogLine] = []
        self._cond = threading.Condition()
        self._closed = False
        self._last_update = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name=f"joblog-{job_id}", daemon=True)
        self._thread.start()

    def write(self, level: str, stage: str, output: str, source: str = PROVISIONER) -> None:
        if len(output) > MAX_LINE:
            output = output[:MAX_LINE] + f" … [{len(output) - MAX_LINE} characters cut]"
        line = LogLine(
            level=level if level in LEVELS else INFO,
            stage=stage[:128],
            output=output,
            source=source,
        )
        with self._cond:
            self._pending.append(line)
            if len(self._pending) >= self.batch:
                self._cond.notify()

    def daemon(self, level: str, output: str, stage: str = "") -> None:
        """A line from Portal itself about the job (not Terraform's output)."""
        self.write(level, stage, output, source=PROVISIONER_DAEMON)

    def close(self) -> None:
        """Send everything still buffered; the reporter cannot be used afterwards."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._closed and len(self._pending) < self.batch:
                    self._cond.wait(self.interval)
                lines, self._pending = self._pending, []
                closed = self._closed
            if lines or (not closed and time.monotonic() - self._last_update >= self.heartbeat):
                self._send(lines)
            if closed:
                return

    def _send(self, lines: list[LogLine]) -> None:
        self._last_update = time.monotonic()
        try:
            if self.store.update(self.job_id, lines):
                self.cancel.set()
        except JobLost:
            # The reaper gave up on us (e.g. the database was unreachable for too long): stop
            # Terraform, the job is no longer ours to finish.
            self.lost.set()
            self.cancel.set()
        except Exception:
            # The store keeps no half batch; a lost batch is logged here, the build goes on.
            log.warning(
                "update of job %s failed (%d lines)", self.job_id, len(lines), exc_info=True
            )
