"""Build metrics (portal/observability/metrics.py) recorded when a job's transaction commits:
queued, the time in each phase, and the outcome. A rolled-back change records nothing."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Min

from portal.observability import metrics
from workspaces.choices import JobStatus

log = logging.getLogger(__name__)
_ENDINGS = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED}


def created(job) -> None:
    job_type = str(job.type)
    transaction.on_commit(lambda: metrics.BUILDS_QUEUED.labels(job_type).inc())


def transitioned(job, old: str, new: str) -> None:
    """Called by ProvisionerJob.transition before it stamps times; reads them at commit."""
    if new == JobStatus.RUNNING and old == JobStatus.PENDING:
        transaction.on_commit(lambda: _picked_up(job))
    elif new in _ENDINGS and old not in _ENDINGS:
        transaction.on_commit(lambda: _ended(job, str(new)))


def _picked_up(job) -> None:
    if job.started_at is not None:
        waited = (job.started_at - job.created_at).total_seconds()
        metrics.BUILD_PHASE_DURATION.labels(str(job.type), "queued").observe(max(waited, 0.0))


def _ended(job, outcome: str) -> None:
    job_type = str(job.type)
    metrics.BUILDS_COMPLETED.labels(job_type, outcome).inc()
    if job.started_at is None or job.completed_at is None:
        return  # canceled or failed before a provisioner picked it up: it never ran
    ran = (job.completed_at - job.started_at).total_seconds()
    metrics.BUILD_PHASE_DURATION.labels(job_type, "running").observe(max(ran, 0.0))
    try:
        _observe_stages(job, job_type)
    except Exception:  # noqa: BLE001 - metrics never fail a build
        log.warning("could not read the stage times of job %s", job.id, exc_info=True)


def _observe_stages(job, job_type: str) -> None:
    """Each stage lasts from its first log line to the next stage's first (the last stage: to
    the job's end); one grouped query."""
    from workspaces.models import ProvisionerJobLog

    firsts = list(
        ProvisionerJobLog.objects.filter(job_id=job.id)
        .exclude(stage="")
        .values("stage")
        .annotate(first=Min("created_at"))
        .order_by("first")
    )
    spans: dict[str, float] = {}
    for row, after in zip(firsts, [*firsts[1:], None][: len(firsts)], strict=True):
        phase = metrics.phase_of(row["stage"])
        if phase is None:
            continue
        end = after["first"] if after is not None else job.completed_at
        spans[phase] = spans.get(phase, 0.0) + max((end - row["first"]).total_seconds(), 0.0)
    for phase, seconds in spans.items():
        metrics.BUILD_PHASE_DURATION.labels(job_type, phase).observe(seconds)
