"""A job's log page in the console, which follows new lines while the job runs (htmx polls a
fragment of the rows after the last one shown: no inline script, CSP-clean)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from workspaces.choices import JobStatus, LogSource
from workspaces.models import ProvisionerJob, ProvisionerJobLog

TAIL_TEMPLATE = "admin/workspaces/provisionerjob/log_tail.html"
# How often the page asks for new lines, and the most one answer carries (the rest follow).
FOLLOW_EVERY = "every 2s"
TAIL_MAX_LINES = 500
ACTIVE = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.CANCELING)

_COLUMNS = ("id", "created_at", "level", "source", "stage", "output")


def _rows(job_id):
    return ProvisionerJobLog.objects.filter(job_id=job_id).order_by("id").values_list(*_COLUMNS)


def lines(rows, *, first_number: int, stage: str | None) -> list[dict]:
    """Log rows as the template shows them; a stage heading where the stage changes."""
    # Imported here (as below): a sibling imported at import time would cycle through the
    # package, whose __init__ imports jobs, which imports this module.
    from workspaces.admin.common import LEVEL_CLASSES

    shown = []
    for number, (log_id, created_at, level, source, line_stage, output) in enumerate(
        rows, start=first_number
    ):
        shown.append(
            {
                "number": number,
                "id": log_id,
                "time": timezone.localtime(created_at).strftime("%H:%M:%S.%f")[:-3],
                "level": level,
                "css": LEVEL_CLASSES.get(level, "portal-log-info"),
                "source": source,
                "daemon": source == LogSource.PROVISIONER_DAEMON,
                "stage": line_stage,
                "new_stage": line_stage != stage,
                "output": output,
            }
        )
        stage = line_stage
    return shown


def _follow_url(job: ProvisionerJob, last: dict | None, count: int, stage: str | None) -> str:
    after = last["id"] if last else 0
    return (
        reverse("admin:workspaces_provisionerjob_log_tail", args=[job.pk])
        + f"?after={after}&n={count}&stage={stage or ''}"
    )


def page(model_admin, request, job: ProvisionerJob, summary: dict):
    """One page of the log, oldest first; `?page=last` jumps to the end, which follows."""
    from workspaces.admin.common import (
        LOG_LINES_PER_PAGE,
        LOG_TEMPLATE,
        build_of,
        job_badge,
        tags_text,
    )

    paginator = Paginator(_rows(job.pk), LOG_LINES_PER_PAGE)
    wanted = request.GET.get("page") or 1
    current = paginator.get_page(paginator.num_pages if wanted == "last" else wanted)
    shown = lines(current.object_list, first_number=current.start_index(), stage=None)
    active = job.status in ACTIVE
    on_last = current.number == paginator.num_pages
    last = shown[-1] if shown else None
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Log of job {str(job.pk)[:8]}",
        "job": job,
        "job_status": job_badge(job),
        "build": build_of(job),
        "tags": tags_text(job.tags),
        "active": active,
        "following": active and on_last,
        "follow_url": _follow_url(job, last, current.end_index(), last and last["stage"]),
        "follow_trigger": FOLLOW_EVERY,
        "page": current,
        "paginator": paginator,
        "lines": shown,
        "page_range": paginator.get_elided_page_range(current.number, on_each_side=2, on_ends=1),
        **summary,
    }
    return TemplateResponse(request, LOG_TEMPLATE, context)


def tail(request, job: ProvisionerJob):
    """The rows after `after` (a log row id), and the next poll while the job is active or
    lines remain; once it ended, its final status replaces the page's (an out-of-band swap)."""
    try:
        after = int(request.GET.get("after") or 0)
        count = max(int(request.GET.get("n") or 0), 0)
    except ValueError:
        after, count = 0, 0
    from workspaces.admin.common import job_badge

    stage = request.GET.get("stage") or None
    rows = list(_rows(job.pk).filter(id__gt=after)[: TAIL_MAX_LINES + 1])
    more = len(rows) > TAIL_MAX_LINES
    shown = lines(rows[:TAIL_MAX_LINES], first_number=count + 1, stage=stage)
    last = shown[-1] if shown else None
    count += len(shown)
    stage = last["stage"] if last else stage
    still = more or job.status in ACTIVE
    context = {
        "job": job,
        "lines": shown,
        "following": still,
        "follow_url": _follow_url(job, last, count, stage) if last else request.get_full_path(),
        "follow_trigger": "load" if more else FOLLOW_EVERY,  # a backlog: fetch on at once
        "job_status": job_badge(job),
        "ended": not still,
    }
    return TemplateResponse(request, TAIL_TEMPLATE, context)  # admin_view: never cached
