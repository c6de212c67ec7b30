"""The console index page's workspace and job figures (registered with portal.registry)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from portal.admin_site import changelist_url
from portal.registry import register_dashboard_card
from workspaces import queries
from workspaces.choices import JobStatus, WorkspaceStatus
from workspaces.models import ProvisionerJob


def running_workspaces():
    return queries.live().filter(queries.STATUS_FILTERS[WorkspaceStatus.RUNNING])


def job_figures() -> dict:
    """Pending, running and (last 24 h) failed jobs: one query for the three cards."""
    since = timezone.now() - timedelta(hours=24)
    figures = ProvisionerJob.objects.aggregate(
        pending=Count("pk", filter=Q(status=JobStatus.PENDING)),
        running=Count("pk", filter=Q(status=JobStatus.RUNNING)),
        failed=Count("pk", filter=Q(status=JobStatus.FAILED, completed_at__gte=since)),
    )
    return {**figures, "since": since}


def _jobs(status: str):
    return lambda _: changelist_url("workspaces.provisionerjob", status__exact=status)


register_dashboard_card(
    "Running workspaces",
    count=running_workspaces,
    link=lambda _: changelist_url(
        "workspaces.workspace", status=WorkspaceStatus.RUNNING, deleted="no"
    ),
    permission="workspaces.view_workspace",
)
register_dashboard_card(
    "Jobs pending",
    count=job_figures,
    key="pending",
    link=_jobs(JobStatus.PENDING),
    permission="workspaces.view_provisionerjob",
)
register_dashboard_card(
    "Jobs running",
    count=job_figures,
    key="running",
    link=_jobs(JobStatus.RUNNING),
    permission="workspaces.view_provisionerjob",
)
register_dashboard_card(
    "Jobs failed (last 24 h)",
    count=job_figures,
    key="failed",
    link=lambda figures: changelist_url(
        "workspaces.provisionerjob",
        status__exact=JobStatus.FAILED,
        completed_at__gte=figures["since"].isoformat(),
    ),
    permission="workspaces.view_provisionerjob",
)
