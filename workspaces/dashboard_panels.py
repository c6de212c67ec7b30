"""Workspaces' part of the console dashboard: builds per hour and their failure rate, running
workspaces over time (sampled), jobs pending by tag with the oldest wait, and the provisioners
online with their tags (live, each one query bounded by what is pending or online)."""

from __future__ import annotations

from django.db.models import Count, Min
from django.db.models.functions import TruncHour

from portal.admin_site import changelist_url
from portal.registry import register_dashboard_panel, register_dashboard_series
from workspaces.admin.dashboard import running_workspaces
from workspaces.builds import dispatch
from workspaces.choices import JobStatus, JobType
from workspaces.models import ProvisionerJob

JOBS_PERMISSION = "workspaces.view_provisionerjob"
FINISHED = {JobStatus.SUCCEEDED: "succeeded", JobStatus.FAILED: "failed"}
SHOWN = 20  # tag sets and provisioners listed; the lists behind them have the rest


def builds_per_hour(start, end) -> dict:
    """Workspace builds that finished (succeeded or failed) in each hour: one grouped query on
    the jobs' completion time (index job_completed_at)."""
    rows = (
        ProvisionerJob.objects.filter(
            type=JobType.WORKSPACE_BUILD,
            status__in=list(FINISHED),
            completed_at__gte=start,
            completed_at__lt=end,
        )
        .annotate(hour=TruncHour("completed_at"))
        .values("hour", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {(row["hour"], FINISHED[row["status"]]): row["n"] for row in rows}


def builds_summary(totals) -> str:
    succeeded, failed = int(totals.get("succeeded", 0)), int(totals.get("failed", 0))
    finished = succeeded + failed
    if not finished:
        return "no build finished."
    rate = 100 * failed / finished
    return f"{finished} builds finished, {failed} failed: failure rate {rate:.1f} %."


def running_now() -> dict:
    return {"running": running_workspaces().count()}


def pending_jobs() -> dict:
    """Pending jobs by the tags they need, with how long the oldest of each has waited: one
    grouped query over the pending rows only (index on status)."""
    groups = list(
        ProvisionerJob.objects.filter(status=JobStatus.PENDING)
        .values("tags")
        .annotate(n=Count("pk"), oldest=Min("created_at"))
        .order_by("oldest")
    )
    return {
        "total": sum(g["n"] for g in groups),
        "oldest": groups[0]["oldest"] if groups else None,
        "groups": [
            {"tags": dispatch.format_tags(g["tags"] or {}), "count": g["n"], "oldest": g["oldest"]}
            for g in groups[:SHOWN]
        ],
        "more": max(len(groups) - SHOWN, 0),
        "link": changelist_url("workspaces.provisionerjob", status__exact=JobStatus.PENDING),
    }


def provisioners_online() -> dict:
    rows = list(
        dispatch.online_provisioners()
        .order_by("id")
        .values("id", "tags", "hostname", "version", "key_name")[: SHOWN + 1]
    )
    return {
        "provisioners": [
            {**row, "tags": dispatch.format_tags(row["tags"] or {})} for row in rows[:SHOWN]
        ],
        "more": len(rows) > SHOWN,
        "link": changelist_url("workspaces.provisioner"),
    }


register_dashboard_series(
    "builds",
    title="Workspace builds per hour",
    lines=(("succeeded", "Succeeded"), ("failed", "Failed")),
    permission=JOBS_PERMISSION,
    per_hour=builds_per_hour,
    summary=builds_summary,
    order=20,
)
register_dashboard_series(
    "workspaces",
    title="Running workspaces",
    lines=(("running", "Running"),),
    permission="workspaces.view_workspace",
    gauge=running_now,
    order=30,
)
register_dashboard_panel(
    "jobs-pending",
    title="Jobs pending",
    template="admin/portal/dashboard/jobs_pending.html",
    data=pending_jobs,
    permission=JOBS_PERMISSION,
    order=40,
)
register_dashboard_panel(
    "provisioners",
    title="Provisioners online",
    template="admin/portal/dashboard/provisioners.html",
    data=provisioners_online,
    permission="workspaces.view_provisioner",
    order=45,
)
