"""Notifications about builds: a failed build tells its workspace's owner (build_finished hook)."""

from __future__ import annotations

import logging

from django.db import transaction

from portal.notifications import kinds, services
from workspaces.choices import JobStatus

log = logging.getLogger(__name__)


def workspace_link(workspace) -> str:
    return f"/workspaces/{workspace.owner.username}/{workspace.name}"


def notify_build_failed(build, *, status: str) -> None:
    """After commit, once per build: a failed build (not a canceled one) tells the owner why.
    Keyed by the build, so a second call (a reaped build reported twice) sends nothing."""
    if status != JobStatus.FAILED:
        return
    workspace = build.workspace
    error = (build.job.error or "the build failed").strip()
    with transaction.atomic():
        services.notify(
            kinds.BUILD_FAILED.name,
            workspace.owner,
            context={
                "workspace": workspace.name,
                "transition": build.transition,
                "error": error[:2000],
            },
            link=workspace_link(workspace),
            dedupe_key=f"build_failed:{build.pk}",
        )
