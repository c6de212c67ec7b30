"""Celery entry points: they carry job ids only; the database row says what to do."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task

from portal import config
from portal.accounts.services import system_actor
from portal.audit import context as audit_context
from workspaces import schedule_notices, schedule_pass
from workspaces.builds import dispatch, host_settings, jobs, logs, provisioning, worker
from workspaces.builds.job_store import DatabaseJobStore
from workspaces.choices import BuildReason, JobStatus
from workspaces.connectivity import agent_tasks
from workspaces.models import ProvisionerJob
from workspaces.provisioner import runner

log = logging.getLogger(__name__)
__all__ = ["agent_tasks"]  # imported so Celery's autodiscovery registers its tasks too


def run_acquired(job_id, worker_id: str, tags: dict[str, str]) -> bool:
    """Acquire `job_id` if it is still pending and `tags` allow, and run it here; False if not."""
    store = DatabaseJobStore()
    spec = store.acquire(tags, worker_id, job_id=job_id)
    if spec is None:
        return False
    # The request that created the job: on this worker's log lines and audit entries for it.
    request_id = (
        ProvisionerJob.objects.filter(pk=spec.job_id).values_list("request_id", flat=True).first()
    )
    token = audit_context.set_current(audit_context.RequestContext(request_id=request_id or ""))
    try:
        log.info("running job %s", spec.job_id)
        runner.execute(spec, store, host_settings.load(), worker_id)
    finally:
        audit_context.reset(token)
    return True


@shared_task(bind=True, name="workspaces.run_job", acks_late=True, ignore_result=True)
def run_job(self, job_id: str) -> str:
    """Run the job if it is still pending and this worker's tags allow; else do nothing."""
    worker_id = self.request.hostname or worker.worker_id()
    if not run_acquired(job_id, worker_id, config.load().provisioner_tags):
        # Taken by another worker, canceled, finished, or a duplicate delivery of this message.
        return "skipped"
    return "ran"


@shared_task(name="workspaces.reap_hung_jobs", ignore_result=True)
def reap_hung_jobs() -> int:
    """Fail running jobs whose worker stopped heartbeating (beat runs this periodically)."""
    timeout = timedelta(seconds=config.load().reaper_timeout_seconds)
    reaped = jobs.reap_hung(timeout)
    provisioning.audit_lost_builds(reaped, reason=BuildReason.REAPER, actor=system_actor())
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
    for job_id in ProvisionerJob.objects.filter(status=JobStatus.PENDING).values_list(
        "id", flat=True
    )[:500]:
        dispatch.note_if_unmatched(job_id)


@shared_task(name="workspaces.run_schedules", ignore_result=True)
def run_schedules() -> str:
    """Autostop and autostart (workspaces/schedule_pass.py); once per deployment at a time."""
    result = schedule_pass.run_pass()
    return (
        "skipped"
        if result is None
        else f"stopped {len(result.stopped)}, started {len(result.started)}"
    )


@shared_task(name="workspaces.send_autostop_notices", ignore_result=True)
def send_autostop_notices() -> int:
    """Tell owners their workspace stops soon (workspaces/schedule_notices.py; once per build)."""
    return schedule_notices.send_autostop_soon()
