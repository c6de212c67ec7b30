"""The Celery application run by `portal worker` and `portal beat`, and beat's scheduler."""

from __future__ import annotations

import logging
import os
import threading

from celery import Celery
from celery.beat import PersistentScheduler

from portal import registry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A beat schedule entry with `"options": {IN_SCHEDULER: True}` runs in the beat process itself.
IN_SCHEDULER = "run_in_scheduler"
log = logging.getLogger(__name__)


class Scheduler(PersistentScheduler):
    """Beat's scheduler: runs IN_SCHEDULER entries on a thread of its own, sends the others.

    Work that watches the workers (the reaper) must not wait in a queue that only the workers it
    watches take from: a hung worker would never reap its own jobs. Such entries must be safe
    to run on several schedulers at once (the reaper takes an advisory lock).
    """

    def __init__(self, *args, **kwargs):
        import django

        django.setup()  # the tasks run here, with the models
        self._running: dict[str, threading.Thread] = {}
        super().__init__(*args, **kwargs)

    def setup_schedule(self):
        # The apps registered their periodic tasks in ready(), during django.setup() above.
        self.app.conf.beat_schedule = {
            **self.app.conf.beat_schedule,
            **registry.beat_schedule(),
        }
        super().setup_schedule()

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        if not entry.options.get(IN_SCHEDULER):
            return super().apply_async(entry, producer, advance, **kwargs)
        entry = self.reserve(entry) if advance else entry
        busy = self._running.get(entry.name)
        if busy is not None and busy.is_alive():
            log.warning("%s is still running from its last turn; skipping this one", entry.name)
            return None
        thread = threading.Thread(
            target=_run_here,
            args=(self.app.tasks[entry.task], entry.args, entry.kwargs),
            name=f"scheduler {entry.name}",
            daemon=True,
        )
        self._running[entry.name] = thread
        thread.start()
        return None


def _run_here(task, args, kwargs) -> None:
    from django.db import connection

    try:
        task(*args, **(kwargs or {}))
    except Exception:
        log.exception("the scheduled task %s failed", task.name)
    finally:
        connection.close()  # this thread's; the next run gets a fresh one
