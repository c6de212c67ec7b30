"""Dormant workspaces: marking one dormant (the scheduler or a person) and reactivating it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from portal.notifications.services import notify
from templates_app import scheduling
from workspaces import queries, services
from workspaces.choices import BuildReason, BuildTransition, JobStatus
from workspaces.models import Workspace
from workspaces.schedule_services import audit_schedule

# The owner is warned this long before a dormant workspace is deleted (or half the
# auto-deletion period when that is shorter, so the warning never comes with the marking).
WARN_BEFORE = timedelta(days=1)


def page_link(workspace: Workspace) -> str:
    return f"/workspaces/{workspace.owner.username}/{workspace.name}"


def fmt_time(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else ""


def _locked(workspace: Workspace, actor) -> Workspace:
    return queries.locked_for_change(
        workspace, actor, refusal="You may not change whether this workspace is dormant."
    )


def _snapshot(workspace: Workspace) -> dict:
    return {
        "dormant_at": workspace.dormant_at.isoformat() if workspace.dormant_at else None,
        "deleting_at": workspace.deleting_at.isoformat() if workspace.deleting_at else None,
    }


def _running(workspace: Workspace) -> bool:
    build = workspace.latest_build
    return (
        build is not None
        and build.transition == BuildTransition.START
        and build.job.status == JobStatus.SUCCEEDED
    )


def set_dormant(
    workspace: Workspace,
    *,
    actor,
    dormant: bool,
    reason: str = "",
    now: datetime | None = None,
    unused_since: datetime | None = None,
) -> Workspace:
    """Mark `workspace` dormant (True) or reactivate it (False); a no-op when already so.

    Dormant: it cannot start; deleting_at is set from its template's auto-deletion period (if
    any); a running one is stopped (build reason dormancy); its owner is notified when the
    scheduler did it. Reactivated: dormant_at and deleting_at are cleared and
    last_used_at is set to now, so the next pass does not mark it again at once.
    Who: its owner and owner-role admins; others who cannot see it get a 404.
    `unused_since` (the scheduler): only if it was not used after then (checked under the lock,
    so use recorded since the scheduler's query wins).
    """
    now = now or timezone.now()
    with transaction.atomic():
        workspace = _locked(workspace, actor)
        if (workspace.dormant_at is not None) == dormant:
            return workspace
        if unused_since is not None and (workspace.last_used_at or workspace.created_at) > (
            unused_since
        ):
            return workspace
        before = _snapshot(workspace)
        rules = scheduling.effective(workspace.template)
        if dormant:
            workspace.dormant_at = now
            autodelete = rules.time_til_dormant_autodelete_seconds
            if autodelete:
                workspace.deleting_at = now + timedelta(seconds=autodelete)
                lead = min(WARN_BEFORE, timedelta(seconds=autodelete / 2))
                workspace.delete_warn_at = workspace.deleting_at - lead
            fields = ["dormant_at", "deleting_at", "delete_warn_at", "updated_at"]
        else:
            workspace.dormant_at = workspace.deleting_at = workspace.delete_warn_at = None
            workspace.cleanup_retry_at = None
            workspace.last_used_at = now
            fields = [
                "dormant_at",
                "deleting_at",
                "delete_warn_at",
                "cleanup_retry_at",
                "last_used_at",
                "updated_at",
            ]
        workspace.save(update_fields=fields)
        why = reason or ("marked dormant" if dormant else "reactivated")
        audit_schedule(actor, workspace, "dormancy", before, _snapshot(workspace), reason=why)
        if dormant and _running(workspace):
            services.create_build(
                workspace,
                actor=actor,
                transition=BuildTransition.STOP,
                reason=BuildReason.DORMANCY,
            )
        if dormant and actor.is_system:  # the scheduler: its owner did not see it happen
            days = rules.time_til_dormant_seconds // 86400
            notify(
                "workspace_dormant",
                workspace.owner,
                context={
                    "workspace": workspace.name,
                    "days": days,
                    "delete_at": fmt_time(workspace.deleting_at),
                },
                link=page_link(workspace),
                dedupe_key=f"workspace-dormant:{workspace.pk}:{now.isoformat()}",
            )
    return workspace
