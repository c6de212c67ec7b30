"""Shared pieces of the workspaces console: badges, durations, log links, service pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from templates_app.admin import badge
from workspaces.choices import (
    JobStatus,
    LogLevel,
    WorkspaceStatus,
)
from workspaces.models import (
    ProvisionerJob,
    WorkspaceBuild,
)

SERVICE_FORM_TEMPLATE = "admin/portal/service_form.html"
LOG_TEMPLATE = "admin/workspaces/provisionerjob/log.html"
LOG_LINES_PER_PAGE = 1000
LOG_TAIL_ON_JOB_PAGE = 50
# A pending job nobody picked up within this long is shown as stuck.
PENDING_TOO_LONG = timedelta(seconds=60)
# The tag filter offers the key=value pairs of jobs this recent (an index scan, not the table),
# of the latest TAG_CHOICES_FROM_JOBS of them: a busy month is tens of thousands of jobs, and
# every page view of the list asks.
TAG_CHOICES_WITHIN = timedelta(days=30)
TAG_CHOICES_FROM_JOBS = 1000
TAG_CHOICES_MAX = 50

JOB_TONES = {
    JobStatus.PENDING: "wait",
    JobStatus.RUNNING: "busy",
    JobStatus.SUCCEEDED: "good",
    JobStatus.FAILED: "bad",
    JobStatus.CANCELING: "off",
    JobStatus.CANCELED: "off",
}
WORKSPACE_TONES = {
    WorkspaceStatus.PENDING: "wait",
    WorkspaceStatus.STARTING: "busy",
    WorkspaceStatus.RUNNING: "good",
    WorkspaceStatus.STOPPING: "busy",
    WorkspaceStatus.STOPPED: "off",
    WorkspaceStatus.FAILED: "bad",
    WorkspaceStatus.CANCELING: "off",
    WorkspaceStatus.CANCELED: "off",
    WorkspaceStatus.DELETING: "busy",
    WorkspaceStatus.DELETED: "off",
}
LEVEL_CLASSES = {level: f"portal-log-{level}" for level in LogLevel.values}


def workspace_badge(status: str) -> str:
    return badge(status, WORKSPACE_TONES.get(status, "off"))


def is_stuck(job: ProvisionerJob, now: datetime | None = None) -> bool:
    return (
        job.status == JobStatus.PENDING
        and job.created_at < (now or timezone.now()) - PENDING_TOO_LONG
    )


def job_badge(job: ProvisionerJob) -> str:
    if job.status == JobStatus.FAILED:
        return badge(job.status, "bad", css="portal-job-failed")
    if is_stuck(job):
        waited = human_duration(timezone.now() - job.created_at)
        return badge(
            job.status,
            "bad",
            css="portal-job-stuck",
            title=f"Pending for {waited}; nobody took it.",
        )
    return badge(job.status, JOB_TONES.get(job.status, "off"))


def human_duration(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = max(0.0, delta.total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def job_duration(job: ProvisionerJob) -> str:
    if job.started_at is None:
        return "-"
    if job.completed_at is None:
        return f"{human_duration(timezone.now() - job.started_at)} so far"
    return human_duration(job.completed_at - job.started_at)


def log_url(job_id) -> str:
    return reverse("admin:workspaces_provisionerjob_log", args=[job_id])


def log_link(job_id, label: str = "log") -> str:
    return format_html('<a class="portal-log-link" href="{}">{}</a>', log_url(job_id), label)


def tags_text(tags) -> str:
    if not tags:
        return "-"
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def build_of(job: ProvisionerJob) -> WorkspaceBuild | None:
    try:
        return job.build
    except WorkspaceBuild.DoesNotExist:
        return None


def one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def service_page(model_admin, request, *, title, form, submit_label, **extra):
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "form": form,
        "submit_label": submit_label,
        **extra,
    }
    return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)
