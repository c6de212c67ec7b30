"""Routing job ids to workers: one Celery queue per tag set, and saying when nobody can take one."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from portal import hooks
from portal.celery import app as celery_app
from portal_shared.queues import queue_for
from workspaces.choices import JobStatus
from workspaces.models import Provisioner, ProvisionerJob

log = logging.getLogger(__name__)

ONLINE_WITHIN = timedelta(seconds=60)
# The task that runs a job (workspaces.tasks.run_job), sent by name: the tasks import this module.
RUN_JOB_TASK = "workspaces.run_job"


def online_provisioners():
    return Provisioner.objects.filter(last_seen_at__gte=timezone.now() - ONLINE_WITHIN)


def format_tags(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "(none)"


def enqueue(job: ProvisionerJob) -> None:
    """Send the job's id to the workers that may run it (call after the job is committed)."""
    try:
        celery_app.send_task(RUN_JOB_TASK, args=[str(job.id)], queue=queue_for(job.tags or {}))
    except Exception:
        # The row is the truth: dispatch_pending re-sends pending jobs, so a broker outage
        # delays the job instead of losing it.
        log.warning("could not send job %s to the broker", job.id, exc_info=True)
    for handler in hooks.job_dispatched.handlers():
        try:
            handler(str(job.id), dict(job.tags or {}))
        except Exception:
            log.warning("job_dispatched handler %r failed", handler, exc_info=True)
    note_if_unmatched(job.id)


def note_if_unmatched(job_id) -> bool:
    """Say in a pending job's status reason that no online provisioner can take it."""
    job = ProvisionerJob.objects.filter(pk=job_id, status=JobStatus.PENDING).first()
    if job is None:
        return False
    if online_provisioners().filter(tags__contains=job.tags or {}).exists():
        if job.status_reason.startswith("No online provisioner"):
            ProvisionerJob.objects.filter(pk=job.pk, status=JobStatus.PENDING).update(
                status_reason="", updated_at=timezone.now()
            )
        return False
    reason = (
        f"No online provisioner has the tags {format_tags(job.tags or {})} "
        f"(online: {_online_summary()}); the job waits until one connects."
    )
    with transaction.atomic():
        ProvisionerJob.objects.filter(pk=job.pk, status=JobStatus.PENDING).update(
            status_reason=reason, updated_at=timezone.now()
        )
    return True


def _online_summary(limit: int = 5) -> str:
    """Which tag sets the online provisioners serve, so "why pending" shows what is missing."""
    seen: dict[str, int] = {}
    for tags in online_provisioners().values_list("tags", flat=True):
        label = format_tags(tags or {})
        seen[label] = seen.get(label, 0) + 1
    if not seen:
        return "none"
    shown = [f"{n} with {label}" for label, n in sorted(seen.items())[:limit]]
    more = len(seen) - limit
    return "; ".join(shown) + (f"; {more} more tag sets" if more > 0 else "")


def redispatch_pending(older_than: timedelta = timedelta(seconds=15)) -> int:
    """Re-send pending jobs whose message may have been lost; acquiring twice is harmless."""
    jobs = list(
        ProvisionerJob.objects.filter(
            status=JobStatus.PENDING, created_at__lt=timezone.now() - older_than
        ).only("id", "tags", "status", "status_reason")[:500]
    )
    for job in jobs:
        enqueue(job)
    return len(jobs)
