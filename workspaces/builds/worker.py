"""A worker's life as a provisioner: announce itself with its tags, recover from its own crash."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from django.db import connection

from portal import config
from portal.accounts.services import system_actor
from workspaces.builds import dispatch, jobs, logs, provisioners, provisioning
from workspaces.choices import BuildReason

log = logging.getLogger(__name__)

ANNOUNCE_EVERY = 15.0  # seconds; dispatch.ONLINE_WITHIN must stay well above this
_announcer: threading.Event | None = None


def worker_id() -> str:
    """The id outside a Celery worker (tests, management commands): host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def announce(worker: str) -> None:
    provisioners.announce(worker, tags=config.load().provisioner_tags, actor=system_actor())


def on_worker_ready(worker: str) -> None:
    """Start-up: fail what we owned before dying, announce ourselves, pick up waiting jobs."""
    global _announcer
    failed = jobs.fail_orphaned(worker, f"worker {worker} restarted while running this job")
    provisioning.audit_lost_builds(failed, reason=BuildReason.REAPER, actor=system_actor())
    for job_id in failed:
        log.warning("job %s was running when this worker died; marked failed", job_id)
        try:
            logs.publish_end(job_id, "failed")
        except Exception:
            log.debug("could not publish the end of job %s", job_id, exc_info=True)
    announce(worker)
    dispatch.redispatch_pending(older_than=timedelta(0))
    stop = threading.Event()
    _announcer = stop

    def loop() -> None:
        try:
            while not stop.wait(ANNOUNCE_EVERY):
                try:
                    announce(worker)
                except Exception:
                    log.warning("could not announce provisioner %s", worker, exc_info=True)
        finally:
            connection.close()

    threading.Thread(target=loop, name="provisioner-announce", daemon=True).start()


def on_worker_shutdown(worker: str) -> None:
    if _announcer is not None:
        _announcer.set()
    provisioners.withdraw(worker, actor=system_actor())
