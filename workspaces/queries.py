"""Which workspaces a user may see, and the one-query list used by the API and pages."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from portal.accounts.permissions import has_permission
from workspaces.choices import BuildTransition, JobStatus, WorkspaceStatus
from workspaces.models import Workspace


def live() -> QuerySet[Workspace]:
    return Workspace.objects.filter(deleted_at__isnull=True)


def visible_to(user) -> QuerySet[Workspace]:
    qs = live()
    if has_permission(user, "workspace.read_all"):
        return qs
    return qs.filter(owner=user)


def with_latest_build(qs: QuerySet[Workspace]) -> QuerySet[Workspace]:
    return qs.select_related("owner", "template", "latest_build", "latest_build__job")


def _build(transition, job_status) -> Q:
    q = Q(latest_build__job__status=job_status)
    if transition:
        q &= Q(latest_build__transition=transition)
    return q


# The SQL form of choices.workspace_status(), for filtering by status.
STATUS_FILTERS: dict[str, Q] = {
    WorkspaceStatus.PENDING: Q(latest_build__isnull=True) | _build(None, JobStatus.PENDING),
    WorkspaceStatus.STARTING: _build(BuildTransition.START, JobStatus.RUNNING),
    WorkspaceStatus.RUNNING: _build(BuildTransition.START, JobStatus.SUCCEEDED),
    WorkspaceStatus.STOPPING: _build(BuildTransition.STOP, JobStatus.RUNNING),
    WorkspaceStatus.STOPPED: _build(BuildTransition.STOP, JobStatus.SUCCEEDED),
    WorkspaceStatus.FAILED: _build(None, JobStatus.FAILED),
    WorkspaceStatus.CANCELING: _build(None, JobStatus.CANCELING),
    WorkspaceStatus.CANCELED: _build(None, JobStatus.CANCELED),
    WorkspaceStatus.DELETING: _build(BuildTransition.DELETE, JobStatus.RUNNING),
    WorkspaceStatus.DELETED: _build(BuildTransition.DELETE, JobStatus.SUCCEEDED),
}
