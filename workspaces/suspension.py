"""A suspended user's workspaces stop (they are kept): the user_status_changed hook's handler."""

from __future__ import annotations

import logging

from portal.accounts.choices import UserStatus
from portal.accounts.services import system_actor
from portal.errors import ServiceError
from workspaces import services
from workspaces.choices import BuildTransition, JobStatus
from workspaces.models import Workspace

log = logging.getLogger(__name__)


def running_workspaces(user):
    """The user's live workspaces whose latest build is a start that succeeded."""
    return Workspace.objects.filter(
        owner=user,
        deleted_at__isnull=True,
        latest_build__transition=BuildTransition.START,
        latest_build__job__status=JobStatus.SUCCEEDED,
    ).order_by("created_at")


def stop_workspaces_of_suspended(user, *, old: str, new: str, actor) -> list:
    """Queue a stop build, by the system actor, for each running workspace of a user who was
    just suspended; returns the builds. A workspace that cannot stop now (another build is
    active) is logged and left: its owner can no longer start it anyway."""
    if new != UserStatus.SUSPENDED or old == UserStatus.SUSPENDED:
        return []
    system = system_actor()
    builds = []
    for workspace in running_workspaces(user):
        try:
            builds.append(
                services.create_build(workspace, actor=system, transition=BuildTransition.STOP)
            )
        except ServiceError as exc:
            log.warning("could not stop %s of suspended %s: %s", workspace, user, exc.message)
    return builds
