"""Per-user live events: a workspace's build or agent changed; pages then re-fetch what they show.

Events go to each owner's group (portal.user_events), which their browser's events WebSocket
(connectivity.event_consumers) joins. Messages carry ids and the new status only: the database
stays the truth, and a page re-reads its fragment when told something changed.

Publishing happens after commit (`transaction.on_commit`), so a page never re-reads a change that
is not visible yet, and a rolled-back change is never announced.
"""

from __future__ import annotations

from django.db import transaction

from portal import hooks, user_events

BUILD = "build"
AGENT = "agent"


def _send_all(events: list[tuple[object, dict]]) -> None:
    for user_id, event in events:
        user_events.publish_quietly(user_id, event)


def _build_events(job_ids, status: str | None) -> list[tuple[object, dict]]:
    from workspaces.models import WorkspaceBuild

    rows = WorkspaceBuild.objects.filter(job_id__in=job_ids).values(
        "id", "job_id", "workspace_id", "workspace__owner_id", "transition", "job__status"
    )
    return [
        (
            row["workspace__owner_id"],
            {
                "kind": BUILD,
                "workspace_id": str(row["workspace_id"]),
                "build_id": str(row["id"]),
                "job_id": str(row["job_id"]),
                "transition": row["transition"],
                "status": str(status or row["job__status"]),
            },
        )
        for row in rows
    ]


def jobs_changed(job_ids, status: str | None = None) -> None:
    """After commit: tell the owners of these build jobs their status changed (to `status`, or
    what the row says then). Jobs that are not workspace builds (imports) are skipped."""
    ids = [str(job_id) for job_id in job_ids]
    if not ids:
        return
    transaction.on_commit(lambda: _send_all(_build_events(ids, status)), robust=True)


def job_changed(job_id, status: str | None = None) -> None:
    jobs_changed([job_id], status)


def _agent_events(agent_ids, fields: dict) -> list[tuple[object, dict]]:
    from workspaces.models import WorkspaceAgent

    rows = WorkspaceAgent.objects.filter(pk__in=agent_ids).values(
        "id",
        "lifecycle_state",
        "resource__job__build__workspace_id",
        "resource__job__build__workspace__owner_id",
    )
    events = []
    for row in rows:
        if row["resource__job__build__workspace_id"] is None:
            continue  # an import's dry-run agent: no workspace, nobody to tell
        event = {
            "kind": AGENT,
            "workspace_id": str(row["resource__job__build__workspace_id"]),
            "agent_id": str(row["id"]),
            "lifecycle": row["lifecycle_state"],
            **fields,
        }
        events.append((row["resource__job__build__workspace__owner_id"], event))
    return events


def agents_changed(agent_ids, **fields) -> None:
    """After commit: tell the owners of these agents that their connection or lifecycle changed.

    `fields` (e.g. status="connected") go into each event as they are.
    """
    ids = [str(agent_id) for agent_id in agent_ids]
    if not ids:
        return
    transaction.on_commit(lambda: _send_all(_agent_events(ids, fields)), robust=True)


def agent_changed(agent_id, **fields) -> None:
    agents_changed([agent_id], **fields)


def agents_disconnected_at(at) -> None:
    """After commit: announce the agents mark_inactive() just marked disconnected at `at`."""
    from workspaces.models import WorkspaceAgent

    def send() -> None:
        ids = list(WorkspaceAgent.objects.filter(disconnected_at=at).values_list("pk", flat=True))
        _send_all(_agent_events(ids, {"status": "disconnected"}))

    transaction.on_commit(send, robust=True)


def build_finished(build, status: str) -> None:
    """Call the build_finished hook's handlers once the end of `build`'s job is committed."""
    for handler in hooks.build_finished.handlers():
        transaction.on_commit(lambda handler=handler: handler(build, status=status), robust=True)
