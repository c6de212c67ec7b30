"""Periodic work, led by whichever process holds the deployment's scheduler lock: no single beat.

Every web process of every `portal server` replica (and `portal beat`, where an operator runs
one apart) starts a PeriodicRunner thread. Each tries to take one PostgreSQL session-level
advisory lock on a connection of its own; the holder is the deployment's scheduler. It sends
each periodic task the apps registered (portal.registry) to the workers when due, or runs the
IN_SCHEDULER ones (the reaper, which must not wait for the workers it watches) on a thread of
its own. The others try again every TRY_EVERY seconds: when the leader's process dies its
connection closes, PostgreSQL releases the lock, and another process leads within seconds (a
vanished host is noticed through TCP keepalives the lock connection asks the server for).

When each task last ran is kept in the database (PeriodicRun), so a new leader keeps the
cadence instead of sending everything at once. Tasks must be safe to run twice: a leader that
lost its connection may send one more before it notices.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection as thread_connection
from django.utils import timezone

from portal.registry import PeriodicTask, registry

log = logging.getLogger(__name__)

# pg advisory lock key: "portal periodic" (an arbitrary constant, the same in every process).
LOCK_KEY = 0x706F7274616C5032
TRY_EVERY = 3.0  # seconds between a follower's attempts to lead: the takeover time
TICK = 1.0  # seconds between a leader's looks at what is due
CHECK_EVERY = 5.0  # seconds between a leader's checks that its lock connection is alive
APPLICATION_NAME = "portal scheduler"  # pg_stat_activity shows who leads (and where)
# A task in the scheduler's own process, not sent to the workers (see the module docstring).
IN_SCHEDULER = "run_in_scheduler"


def _lock_connection():
    """A connection of its own, outside Django's pool: the lock lives as long as it does."""
    import psycopg

    db = settings.DATABASES["default"]
    # libpq's own options (sslmode, ...); Django's (pool, isolation_level, ...) are not for it.
    django_only = {
        "pool",
        "isolation_level",
        "server_side_binding",
        "assume_role",
        "cursor_factory",
    }
    options = {k: v for k, v in db.get("OPTIONS", {}).items() if k not in django_only}
    conn = psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        autocommit=True,
        connect_timeout=5,
        application_name=f"{APPLICATION_NAME} {socket.gethostname()}:{os.getpid()}",
        **options,
    )
    # The server's side of TCP keepalive: a leader whose host vanished loses the lock within
    # about 25 s instead of the kernel's two hours (ignored on Unix-domain sockets).
    for setting, value in (
        ("tcp_keepalives_idle", 10),
        ("tcp_keepalives_interval", 5),
        ("tcp_keepalives_count", 3),
        ("statement_timeout", 5000),
    ):
        conn.execute(f"SET {setting} = {int(value)}")
    return conn


def _send(task: PeriodicTask) -> None:
    from portal.celery import app

    options = dict(task.options)
    # A message no worker took within its period is superseded by the next one.
    options.setdefault("expires", max(task.schedule, 30.0))
    app.send_task(task.task, **options)


def _run_here(task: PeriodicTask) -> None:
    from portal.celery import app

    try:
        # The apps' tasks modules: Celery imports them lazily, a web process never had to.
        app.loader.import_default_modules()
        app.tasks[task.task]()
    except Exception:
        log.exception("the periodic task %s failed", task.name)
    finally:
        thread_connection.close()  # this thread's; the next run gets a fresh one


class PeriodicRunner(threading.Thread):
    """One process's candidate scheduler: leads while it holds the lock, else waits to."""

    def __init__(
        self,
        *,
        send: Callable[[PeriodicTask], None] = _send,
        run_here: Callable[[PeriodicTask], None] = _run_here,
        try_every: float = TRY_EVERY,
        tick: float = TICK,
    ):
        super().__init__(name="portal periodic runner", daemon=True)
        self._send, self._run_here = send, run_here
        self._try_every, self._tick = try_every, tick
        self._stop_event = threading.Event()
        self._conn = None
        self._last: dict[str, datetime] = {}
        self._running: dict[str, threading.Thread] = {}
        self.leading = threading.Event()  # set while this runner is the scheduler

    # ------------------------------------------------------------------ lifecycle

    def stop(self, timeout: float = 10) -> None:
        """Stop and let go of the lock at once, so another process leads without waiting."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                if self._try_to_lead():
                    self._lead()
                else:
                    self._stop_event.wait(self._try_every)
        finally:
            self._let_go()
            thread_connection.close()

    # ------------------------------------------------------------------ the lock

    def _try_to_lead(self) -> bool:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = _lock_connection()
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()
            return bool(row[0])
        except Exception as e:  # the database is away: try again later
            log.warning("periodic runner: cannot reach the database to lead: %s", e)
            self._let_go()
            return False

    def _still_leading(self) -> bool:
        try:
            self._conn.execute("SELECT 1")
            return True
        except Exception as e:
            log.warning("periodic runner: lost the scheduler lock's connection: %s", e)
            return False

    def _let_go(self) -> None:
        self.leading.clear()
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to let go of
                self._conn.close()  # a closed session holds no lock
            self._conn = None

    # ------------------------------------------------------------------ leading

    def _lead(self) -> None:
        log.info("periodic runner: this process (pid %s) now runs the periodic work", os.getpid())
        self._last = self._load_last_runs()
        self.leading.set()
        checked = time.monotonic()
        while not self._stop_event.is_set():
            if time.monotonic() - checked >= CHECK_EVERY:
                if not self._still_leading():
                    break
                checked = time.monotonic()
            fired = [
                (task.name, self._fire(task))
                for task in list(registry["periodic_tasks"].values())
                if self._due(task)
            ]
            if fired:
                self._save_last_runs(fired)
            self._stop_event.wait(self._tick)
        self._let_go()

    def _due(self, task: PeriodicTask) -> bool:
        last = self._last.get(task.name)
        return last is None or timezone.now() - last >= timedelta(seconds=task.schedule)

    def _fire(self, task: PeriodicTask) -> datetime:
        """Send or run `task`; when it counts as run (failed to send too: next period)."""
        now = timezone.now()
        try:
            if task.options.get(IN_SCHEDULER):
                busy = self._running.get(task.name)
                if busy is not None and busy.is_alive():
                    log.warning("%s is still running from its last turn; skipped", task.name)
                else:
                    thread = threading.Thread(
                        target=self._run_here, args=(task,), name=f"periodic {task.name}"
                    )
                    thread.daemon = True
                    self._running[task.name] = thread
                    thread.start()
            else:
                self._send(task)
        except Exception:
            # The broker is away: try again next period, not every tick.
            log.exception("periodic runner: could not send %s", task.name)
        self._last[task.name] = now
        return now

    def _load_last_runs(self) -> dict[str, datetime]:
        from portal.ops.models import PeriodicRun

        try:
            return dict(PeriodicRun.objects.values_list("name", "last_run_at"))
        except Exception:
            log.exception("periodic runner: could not read when tasks last ran")
            return {}
        finally:
            thread_connection.close()

    def _save_last_runs(self, runs: list[tuple[str, datetime]]) -> None:
        from portal.ops.models import PeriodicRun

        try:
            PeriodicRun.objects.bulk_create(
                [PeriodicRun(name=name, last_run_at=at) for name, at in runs],
                update_conflicts=True,
                unique_fields=["name"],
                update_fields=["last_run_at"],
            )
        except Exception:
            log.exception("periodic runner: could not record when tasks ran")
        finally:
            thread_connection.close()  # back to the pool: a leader holds no connection idle


def leader_pid() -> tuple[str, int] | None:
    """(host, pid) of the process leading the periodic work now, from pg_stat_activity."""
    with thread_connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted "
            # Advisory locks are per database: other deployments on the server hold their own.
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
            [LOCK_KEY],
        )
        row = cursor.fetchone()
    if not row or not row[0].startswith(APPLICATION_NAME + " "):
        return None
    host, _, pid = row[0][len(APPLICATION_NAME) + 1 :].rpartition(":")
    return host, int(pid)
