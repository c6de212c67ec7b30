"""The workspaces list: status (pushed live), agent status, template, last used, cost."""

from __future__ import annotations

from django.template.response import TemplateResponse
from django.utils import timezone

from portal import policy
from portal.web.access import signed_in
from workspaces import queries
from workspaces.choices import BuildTransition, WorkspaceStatus
from workspaces.connectivity.agents import agent_status
from workspaces.models import WorkspaceAgent

PAGE_SIZE = 100

_COLUMNS = (
    "name",
    "owner_id",
    "template_id",
    "latest_build_id",
    "created_at",
    "last_used_at",
    "owner__username",
    "template__name",
    "template__display_name",
    "template__icon",
    "latest_build__transition",
    "latest_build__daily_cost",
    "latest_build__job_id",
    "latest_build__job__status",
)


def _filters(request) -> dict:
    status = request.GET.get("status", "")
    return {
        "q": request.GET.get("q", "").strip()[:64],
        "status": status if status in queries.STATUS_FILTERS else "",
        "all": request.GET.get("owner") == "all" and policy.can(request.user, "read", "workspace"),
    }


def _agent_summaries(workspaces) -> dict:
    """{job id: "connected" / "2 of 3 connected" / ...} for running start builds, in one query."""
    job_ids = [
        w.latest_build.job_id
        for w in workspaces
        if w.latest_build is not None and w.latest_build.transition == BuildTransition.START
    ]
    if not job_ids:
        return {}
    now = timezone.now()
    by_job: dict = {}
    agents = WorkspaceAgent.objects.filter(resource__job_id__in=job_ids).values(
        "resource__job_id", "last_connected_at", "disconnected_at", "last_seen_at"
    )
    for agent in agents:
        status = agent_status(_Row(agent), now)
        by_job.setdefault(agent["resource__job_id"], []).append(status)
    summaries = {}
    for job_id, statuses in by_job.items():
        connected = statuses.count("connected")
        if len(statuses) == 1:
            summaries[job_id] = statuses[0]
        else:
            summaries[job_id] = f"{connected} of {len(statuses)} connected"
    return summaries


class _Row:
    """agent_status() reads attributes; a values() row has keys."""

    def __init__(self, values: dict):
        self.__dict__.update(values)


def _rows_context(request) -> dict:
    filters = _filters(request)
    qs = queries.visible_to(request.user)
    if not filters["all"]:
        qs = qs.filter(owner=request.user)
    if filters["q"]:
        qs = qs.filter(name__icontains=filters["q"])
    if filters["status"]:
        qs = qs.filter(queries.STATUS_FILTERS[filters["status"]])
    qs = queries.with_latest_build(qs).only(*_COLUMNS).order_by("-created_at", "-id")
    workspaces = list(qs[: PAGE_SIZE + 1])
    more = len(workspaces) > PAGE_SIZE
    workspaces = workspaces[:PAGE_SIZE]
    agents = _agent_summaries(workspaces)
    rows = [
        {
            "workspace": w,
            "status": w.status,
            "agents": agents.get(w.latest_build.job_id, "") if w.latest_build else "",
            "cost": w.latest_build.daily_cost if w.latest_build else 0,
        }
        for w in workspaces
    ]
    return {
        "rows": rows,
        "more": more,
        "filters": filters,
        "statuses": WorkspaceStatus.values,
        "may_see_all": policy.can(request.user, "read", "workspace"),
    }


@signed_in
def workspace_list(request):
    return TemplateResponse(request, "web/workspaces.html", _rows_context(request))


@signed_in
def workspace_rows(request):
    """The list's table alone: what htmx swaps in when a workspace changes and on each filter."""
    return TemplateResponse(request, "web/_workspace_rows.html", _rows_context(request))
