"""The scheduler's pass: autostop workspaces past their deadline, autostart those whose time came.

Beat sends `workspaces.run_schedules` every 30 s from whichever replica runs beat; any worker
runs it. One pass at a time per deployment: the pass holds a PostgreSQL transaction-level
advisory lock (`pg_try_advisory_xact_lock`), so a second runner skips at once, and a runner that
dies releases it with its connection; the next pass, wherever it runs, catches up (a deadline
missed by a dead runner is still due). Builds are queued through workspaces.services with the
system actor, so pre_build hooks (quotas) and the template access check apply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from portal import features
from portal.accounts.services import system_actor
from portal.errors import Conflict, ServiceError
from templates_app import scheduling
from workspaces import schedule, schedule_cleanup, schedule_notices, services
from workspaces.choices import BuildReason, BuildTransition, JobStatus
from workspaces.models import Workspace, WorkspaceBuild
from workspaces.schedule_services import audit_schedule

log = logging.getLogger(__name__)

# pg advisory lock key: "portal schedules" (an arbitrary constant, the same in every process).
LOCK_KEY = 0x706F7274616C5331
BATCH = 2000  # due rows per kind per pass; more wait for the next pass (30 s later)
# A refused autostop is tried again this much later, not every pass.
STOP_RETRY = timedelta(hours=1)


@dataclass
class PassResult:
    stopped: list = field(default_factory=list)  # workspace ids
    started: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (workspace id, why)
    refused: list = field(default_factory=list)  # (workspace id, message)
    # The cleanup rules (schedule_cleanup): workspace ids.
    failed_stopped: list = field(default_factory=list)
    dormant: list = field(default_factory=list)
    deleted: list = field(default_factory=list)
    warned: list = field(default_factory=list)


def due_stops(now: datetime):
    """Running workspaces whose deadline passed: the latest build, a succeeded start."""
    return (
        WorkspaceBuild.objects.filter(
            deadline__lte=now,
            transition=BuildTransition.START,
            job__status=JobStatus.SUCCEEDED,
            workspace__latest_build=F("pk"),
            workspace__deleted_at__isnull=True,
        )
        .select_related("workspace__owner")
        .order_by("deadline")[:BATCH]
    )


def due_starts(now: datetime):
    """Workspaces whose autostart time came (partial index on next_autostart_at)."""
    return (
        Workspace.objects.filter(next_autostart_at__lte=now, deleted_at__isnull=True)
        .select_related("owner", "template", "latest_build__job")
        .order_by("next_autostart_at")[:BATCH]
    )


def run_pass(now: datetime | None = None) -> PassResult | None:
    """One pass; None when another pass holds the lock."""
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY])
            if not cursor.fetchone()[0]:
                log.info("schedules: another pass is running; skipped")
                return None
        result = PassResult()
        actor = system_actor()
        advanced = features.enabled(scheduling.GATE)
        for build in list(due_stops(now)):
            _autostop(build, actor=actor, now=now, result=result)
        for workspace in list(due_starts(now)):
            _autostart(workspace, actor=actor, now=now, advanced=advanced, result=result)
        schedule_cleanup.run(now, actor=actor, advanced=advanced, result=result)
    if result.failed_stopped or result.dormant or result.deleted:
        log.info(
            "schedules: failed starts stopped %d, marked dormant %d, deleted %d",
            len(result.failed_stopped),
            len(result.dormant),
            len(result.deleted),
        )
    if result.stopped or result.started or result.refused:
        log.info(
            "schedules: stopped %d, started %d, refused %d",
            len(result.stopped),
            len(result.started),
            len(result.refused),
        )
    return result


def _autostop(build: WorkspaceBuild, *, actor, now: datetime, result: PassResult) -> None:
    workspace = build.workspace
    try:
        with transaction.atomic():  # a savepoint: a refusal keeps the rest of the pass
            # Under the build's lock (extend_deadline takes it too): an extension that
            # committed since the query wins.
            deadline = (
                WorkspaceBuild.objects.select_for_update()
                .filter(pk=build.pk)
                .values_list("deadline", flat=True)
                .first()
            )
            if deadline is None or deadline > now:
                result.skipped.append((workspace.id, "its deadline moved"))
                return
            services.create_build(
                workspace, actor=actor, transition=BuildTransition.STOP, reason=BuildReason.AUTOSTOP
            )
            schedule_notices.notify_autostopped(workspace, build)
    except Conflict as e:  # another build started meanwhile: nothing to stop now
        result.skipped.append((workspace.id, e.message))
        return
    except ServiceError as e:
        log.warning("autostop of workspace %s refused: %s", workspace.id, e.message)
        retry = now + STOP_RETRY
        WorkspaceBuild.objects.filter(pk=build.pk).update(deadline=retry)
        audit_schedule(
            actor,
            workspace,
            "deadline",
            {"deadline": build.deadline.isoformat()},
            {"deadline": retry.isoformat()},
            refused=f"Autostop refused: {e.message}",
        )
        result.refused.append((workspace.id, e.message))
        return
    result.stopped.append(workspace.id)


def _start_skip_reason(workspace: Workspace, due: datetime, rules, parsed) -> str | None:
    build = workspace.latest_build
    if workspace.dormant_at is not None:
        return "dormant"
    if build is None or build.transition != BuildTransition.STOP:
        return "not stopped"
    if build.job.status != JobStatus.SUCCEEDED:
        return f"its stop build {build.job.status}"
    if not rules.allow_user_autostart:
        return "the template does not allow autostart"
    if due.astimezone(parsed.zone).weekday() not in rules.autostart_days:
        return "the template does not allow autostart on that day"
    return None


def _autostart(
    workspace: Workspace, *, actor, now: datetime, advanced: bool, result: PassResult
) -> None:
    parsed = schedule.load(workspace.autostart_schedule)
    due = workspace.next_autostart_at
    # Whatever happens now, the next look is at the next scheduled time (a refusal is not
    # retried every minute); schedules are stored as cron without the template's days, so a
    # change of the allowed days applies at once.
    following = parsed.next_after(now) if parsed else None
    # Only if the schedule is still the one read: a change committed since set its own time.
    mine = Workspace.objects.filter(
        pk=workspace.pk, autostart_schedule=workspace.autostart_schedule
    )
    mine.update(next_autostart_at=following)
    if parsed is None:
        return
    rules = scheduling.effective(workspace.template, advanced=advanced)
    skip = _start_skip_reason(workspace, due, rules, parsed)
    if skip is not None:
        result.skipped.append((workspace.id, skip))
        return
    try:
        with transaction.atomic():
            services.create_build(
                workspace,
                actor=actor,
                transition=BuildTransition.START,
                reason=BuildReason.AUTOSTART,
            )
    except Conflict as e:
        result.skipped.append((workspace.id, e.message))
        return
    except ServiceError as e:
        message = f"Autostart at {due:%Y-%m-%d %H:%M} UTC refused: {e.message}"
        log.warning("workspace %s: %s", workspace.id, message)
        mine.update(autostart_refusal=message[:512])
        audit_schedule(actor, workspace, "autostart", {}, {}, refused=message)
        result.refused.append((workspace.id, e.message))
        return
    if workspace.autostart_refusal:
        mine.update(autostart_refusal="")
    result.started.append(workspace.id)
