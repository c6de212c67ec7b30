"""Schedule notices: "your workspace will stop soon" ahead of its deadline, "it was stopped"
after the scheduler stopped it. One notice per build (the notification's dedupe key)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from portal.notifications import kinds, services
from workspaces.choices import BuildTransition, JobStatus
from workspaces.models import WorkspaceBuild
from workspaces.notices import workspace_link

log = logging.getLogger(__name__)

BATCH = 2000


def soon_to_stop(now: datetime, window: timedelta):
    """Running workspaces whose deadline falls within `window` from now (not yet passed)."""
    return (
        WorkspaceBuild.objects.filter(
            deadline__gt=now,
            deadline__lte=now + window,
            transition=BuildTransition.START,
            job__status=JobStatus.SUCCEEDED,
            workspace__latest_build=F("pk"),
            workspace__deleted_at__isnull=True,
        )
        .select_related("workspace__owner")
        .order_by("deadline")[:BATCH]
    )


def send_autostop_soon(*, now: datetime | None = None) -> int:
    """Tell owners whose workspace stops within PORTAL_AUTOSTOP_NOTICE_MINUTES; how many were
    told now (a build already told is not told again, even if its deadline moved)."""
    minutes = settings.PORTAL_AUTOSTOP_NOTICE_MINUTES
    if minutes <= 0:
        return 0
    now = now or timezone.now()
    sent = 0
    for build in soon_to_stop(now, timedelta(minutes=minutes)):
        workspace = build.workspace
        deadline = build.deadline.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with transaction.atomic():
            notice = services.notify(
                kinds.WORKSPACE_AUTOSTOP_SOON.name,
                workspace.owner,
                context={"workspace": workspace.name, "deadline": deadline},
                link=workspace_link(workspace),
                dedupe_key=f"autostop_soon:{build.pk}",
            )
        sent += notice is not None
    return sent


def notify_autostopped(workspace, build) -> None:
    """Inside the autostop's transaction: the owner hears their workspace was stopped."""
    services.notify(
        kinds.WORKSPACE_AUTOSTOPPED.name,
        workspace.owner,
        context={"workspace": workspace.name, "reason": "its scheduled stop time passed"},
        link=workspace_link(workspace),
        dedupe_key=f"autostopped:{build.pk}",
    )
