"""Lookups of workspaces, builds, agents and resources a user may see (the policy decides)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from portal import policy
from portal.errors import Conflict, Forbidden, NotFound
from workspaces.choices import BuildTransition, JobStatus, WorkspaceStatus
from workspaces.models import (
    Workspace,
    WorkspaceAgent,
    WorkspaceBuild,
    WorkspacePortShare,
    WorkspaceResource,
)


def live() -> QuerySet[Workspace]:
    return Workspace.objects.filter(deleted_at__isnull=True)


def visible_to(user) -> QuerySet[Workspace]:
    """The live workspaces `user` may see."""
    return policy.visible_to(user, "workspace").filter(deleted_at__isnull=True)


def visible_builds(user) -> QuerySet[WorkspaceBuild]:
    """Builds of the workspaces the user may see, deleted workspaces included.

    A delete build's outcome must stay readable after it removed its workspace from the list.
    """
    return policy.visible_to(user, "build").select_related(
        "workspace__owner", "job", "initiator", "template_version"
    )


def resolve_build(build_id, user) -> WorkspaceBuild:
    build = visible_builds(user).filter(pk=build_id).first()
    if build is None:
        raise NotFound(f"No workspace build {str(build_id)!r}.")
    return build


def detailed(qs: QuerySet[Workspace]) -> QuerySet[Workspace]:
    """What a workspace's detail shows, joined in one query."""
    return with_latest_build(qs).select_related(
        "template__active_version",
        "latest_build__initiator",
        "latest_build__template_version",
    )


def resolve_workspace(workspace_id, user) -> Workspace:
    workspace = detailed(visible_to(user)).filter(pk=workspace_id).first()
    if workspace is None:
        raise NotFound(f"No workspace {str(workspace_id)!r}.")
    return workspace


def resolve_agent(agent_id, user) -> WorkspaceAgent:
    """The agent, if it belongs to a workspace the user may see; NotFound otherwise."""
    agent = (
        policy.visible_to(user, "agent")
        .filter(pk=agent_id)
        .select_related("resource__job__build__workspace")
        .prefetch_related("apps")
        .first()
    )
    if agent is None:
        raise NotFound(f"No workspace agent {str(agent_id)!r}.")
    return agent


def current_resources(workspace: Workspace) -> list[WorkspaceResource]:
    """What exists of the workspace: the resources of its newest build that succeeded or has some.

    While a start runs, that is the stopped workspace's; after a failed apply, what it recorded.
    """
    build = workspace.latest_build
    if build is None:
        return []
    if build.job.status == JobStatus.SUCCEEDED:
        job_id = build.job_id
    else:
        has_resources = WorkspaceResource.objects.filter(job_id=OuterRef("job_id"))
        job_id = (
            WorkspaceBuild.objects.filter(workspace=workspace)
            .filter(Q(job__status=JobStatus.SUCCEEDED) | Exists(has_resources))
            .order_by("-build_number")
            .values_list("job_id", flat=True)
            .first()
        )
    if job_id is None:
        return []
    return list(
        WorkspaceResource.objects.filter(job_id=job_id)
        .prefetch_related("agents__apps")
        .order_by("type", "name")
    )


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


def port_shares(workspace: Workspace):
    """The workspace's shared ports, by agent and port."""
    return WorkspacePortShare.objects.filter(workspace=workspace).select_related("workspace__owner")


def locked_for_change(workspace: Workspace, actor, *, refusal: str) -> Workspace:
    """`workspace` locked for a change of its settings (schedule, dormancy) by `actor`, who must
    be allowed to build it: 404 if they may not see it, 403 with `refusal` if they may see but
    not change it, 409 if it was deleted. Call inside a transaction."""
    row = (
        Workspace.objects.select_for_update(of=("self",))
        .select_related("owner", "template", "latest_build__job")
        .filter(pk=workspace.pk)
        .first()
    )
    if row is None or not policy.can(actor, "read", row):
        raise NotFound("Workspace not found.")
    if not policy.can(actor, "build", row):
        raise Forbidden(refusal, detail="Only its owner or a user with the owner role can.")
    if row.deleted_at is not None:
        raise Conflict(f"Workspace {row.name!r} was deleted.")
    return row
