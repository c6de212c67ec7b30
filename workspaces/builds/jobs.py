"""The database side of provisioner jobs: acquire, heartbeat, complete, cancel and reap."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from portal.accounts.services import system_actor
from portal.errors import Conflict, NotFound, ValidationFailed
from templates_app import services as template_services
from workspaces import events
from workspaces.choices import JobStatus, JobType, LogLevel, LogSource
from workspaces.models import ProvisionerJob, ProvisionerJobLog

# Jobs a worker is executing; only these have an owner that heartbeats.
_OWNED = (JobStatus.RUNNING, JobStatus.CANCELING)
_ENDINGS = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})
_REASON_MAX = ProvisionerJob._meta.get_field("status_reason").max_length
# pg_try_advisory_xact_lock key of the reaper ("reap" in ASCII): one replica reaps at a time.
_REAPER_LOCK = 0x7265_6170


class JobNotOwned(Conflict):
    default_message = "you don't own this job"


def acquire(
    worker_id: str, *, tags: dict[str, str] | None = None, job_id=None
) -> ProvisionerJob | None:
    """Take the oldest pending job this worker's tags satisfy (or `job_id`), or None.

    A worker with no tags only takes untagged jobs. Rows other workers are taking are skipped,
    not waited for, so a duplicate delivery of the same job id simply finds nothing to do.
    """
    with transaction.atomic():
        qs = ProvisionerJob.objects.filter(status=JobStatus.PENDING, tags__contained_by=tags or {})
        if job_id is not None:
            qs = qs.filter(pk=job_id)
        job = qs.select_for_update(skip_locked=True).order_by("created_at", "id").first()
        if job is None:
            return None
        fields = job.transition(JobStatus.RUNNING)
        job.worker_id = worker_id
        job.save(update_fields=[*fields, "worker_id"])
        events.job_changed(job.id, JobStatus.RUNNING)  # the owner's pages show "starting"
        return job


def _owned(job_id, worker_id: str) -> ProvisionerJob:
    """The job locked for update, if `worker_id` is executing it; else JobNotOwned."""
    job = ProvisionerJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None:
        raise JobNotOwned(detail="The job no longer exists.")
    if job.worker_id != worker_id:
        raise JobNotOwned(detail=f"Worker {job.worker_id or '(none)'} owns it.")
    if job.status not in _OWNED:
        raise JobNotOwned(detail=f"The job is {job.status}.")
    return job


def lock_owned(job_id, worker_id: str) -> ProvisionerJob:
    """Inside a transaction: the job row locked, for a step of a job `worker_id` is running
    (a build's cost check); JobNotOwned when the reaper or a cancel took it away."""
    return _owned(job_id, worker_id)


def heartbeat(job_id, worker_id: str) -> bool:
    """Record that the owner is alive; True when someone asked for the job to be canceled."""
    with transaction.atomic():
        job = _owned(job_id, worker_id)
        job.heartbeat_at = timezone.now()
        job.save(update_fields=["heartbeat_at", "updated_at"])
        return job.status == JobStatus.CANCELING


def complete(
    job_id, worker_id: str, *, status: str, error: str = "", reason: str = ""
) -> ProvisionerJob:
    """End a job the worker owns as succeeded, failed or canceled."""
    if status not in _ENDINGS:
        raise ValidationFailed.field("status", f"A job cannot be completed as {status}.")
    with transaction.atomic():
        job = _owned(job_id, worker_id)
        fields = job.transition(status, reason=reason[:_REASON_MAX], error=error)
        job.save(update_fields=fields)
        return job


def _sync_import(job: ProvisionerJob, error: str = "") -> None:
    """A template version mirrors its import job's end, however the job ended."""
    if job.type != JobType.TEMPLATE_VERSION_IMPORT or job.template_version_id is None:
        return
    template_services.record_import_result(
        job.template_version, actor=system_actor(), status=job.status, error=error
    )


def _fail_with_log(job: ProvisionerJob, message: str) -> None:
    fields = job.transition(JobStatus.FAILED, reason=message[:_REASON_MAX], error=message)
    job.save(update_fields=fields)
    ProvisionerJobLog.objects.create(
        job=job, source=LogSource.PROVISIONER_DAEMON, level=LogLevel.ERROR, output=message
    )
    _sync_import(job, message)


def fail_orphaned(worker_id: str, reason: str) -> list:
    """On worker start-up: fail the jobs this worker id owned before it died; returns their ids."""
    with transaction.atomic():
        jobs = list(
            ProvisionerJob.objects.select_for_update()
            .filter(worker_id=worker_id, status__in=_OWNED)
            .order_by("created_at", "id")
        )
        for job in jobs:
            _fail_with_log(job, f"{reason}; marked failed")
        return [job.id for job in jobs]


def reap_hung(timeout: timedelta, now: datetime | None = None) -> list:
    """Fail running jobs whose owner stopped heartbeating for longer than `timeout`.

    Safe on every scheduler replica at once: one reaps, the others find the lock taken and
    return nothing, and a job already failed no longer matches. A job is failed once.
    """
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_REAPER_LOCK])
            if not cursor.fetchone()[0]:
                return []  # another replica is reaping right now
        # A row locked right now is being heartbeated or completed: its owner is alive.
        jobs = list(
            ProvisionerJob.objects.select_for_update(skip_locked=True)
            .filter(status__in=_OWNED, heartbeat_at__lt=now - timeout)
            .order_by("heartbeat_at", "id")
        )
        for job in jobs:
            silent = int((now - job.heartbeat_at).total_seconds())
            _fail_with_log(
                job, f"no heartbeat from worker {job.worker_id} for {silent} s; marked failed"
            )
        return [job.id for job in jobs]


def request_cancel(job_id) -> ProvisionerJob:
    """Cancel a pending job at once; ask the owner of a running one to stop."""
    with transaction.atomic():
        job = ProvisionerJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            raise NotFound("Job not found.")
        if job.status == JobStatus.CANCELING:
            return job  # already asked; asking again changes nothing
        if job.status == JobStatus.PENDING:
            fields = job.transition(
                JobStatus.CANCELED, reason="canceled before a provisioner picked it up"
            )
        elif job.status == JobStatus.RUNNING:
            fields = job.transition(JobStatus.CANCELING, reason="cancel requested")
        else:
            raise Conflict(
                f"The job has already {job.status}; there is nothing to cancel.",
                detail="Only pending or running jobs can be canceled.",
            )
        job.save(update_fields=fields)
        if job.status == JobStatus.CANCELED:
            _sync_import(job, "The import was canceled before it started.")
        return job
