"""Celery entry points: they carry job ids only; the database row says what to do."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task

from portal import config
from workspaces.builds import dispatch, jobs, worker
from workspaces.connectivity import agent_tasks

log = logging.getLogger(__name__)
__all__ = ["agent_tasks"]  # imported so Celery's autodiscovery registers its tasks too


@shared_task(bind=True, name="workspaces.run_job", acks_late=True, ignore_result=True)
def run_job(self, job_id: str) -> str:
    """Run the job if it is still pending and this worker's tags allow; else do nothing."""
    from workspaces.builds import runner

    worker_id = self.request.hostname or worker.worker_id()
    job = jobs.acquire(worker_id, tags=config.load().provisioner_tags, job_id=job_id)
    if job is None:
        # Taken by another worker, canceled, finished, or a duplicate delivery of this message.
        return "skipped"
    runner.execute(job, worker_id)
    return "ran"


@shared_task(name="workspaces.reap_hung_jobs", ignore_result=True)
def reap_hung_jobs() -> int:
    """Fail running jobs whose worker stopped heartbeating (beat runs this periodically)."""
    from workspaces.builds import logs, provisioning
    from workspaces.choices import BuildReason

    timeout = timedelta(seconds=config.load().reaper_timeout_seconds)
    reaped = jobs.reap_hung(timeout)
    provisioning.audit_lost_builds(reaped, reason=BuildReason.REAPER)
    for job_id in reaped:
        log.warning("reaped job %s: no heartbeat for more than %s", job_id, timeout)
        try:
            logs.publish_end(job_id, "failed")
        except Exception:
            log.warning("could not tell followers of job %s", job_id, exc_info=True)
    return len(reaped)


@shared_task(name="workspaces.dispatch_pending", ignore_result=True)
def dispatch_pending() -> int:
    """Re-send pending jobs whose message was lost (e.g. the broker restarted empty)."""
    return dispatch.redispatch_pending()


@shared_task(name="workspaces.refresh_waiting_reasons", ignore_result=True)
def refresh_waiting_reasons() -> None:
    from workspaces.choices import JobStatus
    from workspaces.models import ProvisionerJob

    for job_id in ProvisionerJob.objects.filter(status=JobStatus.PENDING).values_list(
        "id", flat=True
    )[:500]:
        dispatch.note_if_unmatched(job_id)
