"""A worker's life as a provisioner: announce itself with its tags, recover from its own crash."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from portal import config
from workspaces.builds import dispatch, jobs, logs
from workspaces.models import Provisioner

log = logging.getLogger(__name__)

ANNOUNCE_EVERY = 15.0  # seconds; dispatch.ONLINE_WITHIN must stay well above this
_announcer: threading.Event | None = None


def worker_id() -> str:
    """The id outside a Celery worker (tests, management commands): host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def announce(worker: str) -> None:
    from portal import __version__

    Provisioner.objects.update_or_create(
        id=worker,
        defaults={
            "tags": config.load().provisioner_tags,
            "version": __version__,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "last_seen_at": timezone.now(),
        },
        create_defaults={
            "tags": config.load().provisioner_tags,
            "version": __version__,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": timezone.now(),
            "last_seen_at": timezone.now(),
        },
    )


def on_worker_ready(worker: str) -> None:
    """Start-up: fail what we owned before dying, announce ourselves, pick up waiting jobs."""
    global _announcer
    from workspaces.builds import provisioning
    from workspaces.choices import BuildReason

    failed = jobs.fail_orphaned(worker, f"worker {worker} restarted while running this job")
    provisioning.audit_lost_builds(failed, reason=BuildReason.REAPER)
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
    # Gone at once, so new jobs say "no online provisioner" instead of waiting for a timeout.
    Provisioner.objects.filter(id=worker).delete()
