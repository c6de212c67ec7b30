"""The scheduler pass's cleanup rules: failed starts stopped, unused workspaces made dormant,
dormant ones warned about and deleted (templates' failure_ttl and dormancy settings).

Called by schedule_pass.run_pass inside its transaction, so under the same advisory lock. The
settings are advanced template scheduling: with the gate off nothing here runs. Every query is
per template (few) over a partial index, and every action runs in its own savepoint through the
services with the system actor, so each is audited (builds with their reason) and a refusal
spoils nothing else.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce

from portal.errors import Conflict, ServiceError
from portal.notifications.services import notify
from templates_app.models import Template
from workspaces import dormancy, services
from workspaces.choices import JOB_ACTIVE, BuildReason, BuildTransition, JobStatus
from workspaces.models import Workspace, WorkspaceBuild
from workspaces.schedule_services import audit_schedule

log = logging.getLogger(__name__)

BATCH = 500  # rows per rule and template per pass; more wait for the next pass (30 s later)
# A failed auto-delete is tried again this much later; a refused cleanup build an hour later.
DELETE_RETRY = timedelta(days=1)
REFUSED_RETRY = timedelta(hours=1)


def _retry_ok(now: datetime) -> Q:
    return Q(cleanup_retry_at__isnull=True) | Q(cleanup_retry_at__lte=now)


def _building() -> Q:
    return Q(latest_build__job__status__in=JOB_ACTIVE)


def run(now: datetime, *, actor, advanced: bool, result) -> None:
    """Every rule once; `result` (schedule_pass.PassResult) collects what was done."""
    if not advanced:
        return
    templates = list(
        Template.objects.filter(
            Q(failure_ttl_seconds__gt=0)
            | Q(time_til_dormant_seconds__gt=0)
            | Q(time_til_dormant_autodelete_seconds__gt=0)
        ).values_list("pk", "failure_ttl_seconds", "time_til_dormant_seconds")
    )
    for template_id, failure_ttl, til_dormant in templates:
        if failure_ttl:
            for build in due_failed_starts(template_id, now - timedelta(seconds=failure_ttl), now):
                _stop_failed(build, actor=actor, now=now, result=result)
        if til_dormant:
            cutoff = now - timedelta(seconds=til_dormant)
            for workspace in due_dormant(template_id, cutoff, now):
                _mark_dormant(workspace, cutoff, til_dormant, actor=actor, now=now, result=result)
    for workspace in due_deletes(now):
        _autodelete(workspace, actor=actor, now=now, result=result)
    _warn(now, result=result)


def due_failed_starts(template_id, failed_before: datetime, now: datetime) -> list:
    """Live workspaces of the template whose latest build is a start that failed before then
    (jobs' (status, created_at) index finds the failed ones)."""
    return list(due_failed_starts_query(template_id, failed_before, now))


def due_failed_starts_query(template_id, failed_before: datetime, now: datetime):
    return (
        WorkspaceBuild.objects.filter(
            workspace__template_id=template_id,
            workspace__latest_build=F("pk"),
            workspace__deleted_at__isnull=True,
            transition=BuildTransition.START,
            job__status=JobStatus.FAILED,
            job__completed_at__lte=failed_before,
        )
        .filter(
            Q(workspace__cleanup_retry_at__isnull=True) | Q(workspace__cleanup_retry_at__lte=now)
        )
        .select_related("workspace__owner")
        .order_by("job__completed_at")[:BATCH]
    )


def due_dormant(template_id, unused_since: datetime, now: datetime) -> list:
    """Live, not dormant, not building workspaces of the template unused since then (partial
    index workspace_dormancy_due on (template, coalesce(last_used_at, created_at)))."""
    return list(due_dormant_query(template_id, unused_since, now))


def due_dormant_query(template_id, unused_since: datetime, now: datetime):
    return (
        Workspace.objects.annotate(used=Coalesce("last_used_at", "created_at"))
        .filter(
            template_id=template_id,
            dormant_at__isnull=True,
            deleted_at__isnull=True,
            used__lte=unused_since,
        )
        .filter(_retry_ok(now))
        .exclude(_building())
        .select_related("owner")
        .order_by("used")[:BATCH]
    )


def due_deletes(now: datetime) -> list:
    """Dormant workspaces whose deletion time came (partial index workspace_autodelete_due),
    while their template still deletes dormant ones, not building, not recently tried."""
    return list(due_deletes_query(now))


def due_deletes_query(now: datetime):
    return (
        Workspace.objects.filter(
            deleting_at__lte=now,
            deleted_at__isnull=True,
            dormant_at__isnull=False,
            template__time_til_dormant_autodelete_seconds__gt=0,
        )
        .filter(_retry_ok(now))
        .exclude(_building())
        .select_related("owner")
        .order_by("deleting_at")[:BATCH]
    )


def _refused(workspace: Workspace, *, actor, now: datetime, what: str, message: str, result):
    log.warning("%s of workspace %s refused: %s", what, workspace.id, message)
    Workspace.objects.filter(pk=workspace.pk).update(cleanup_retry_at=now + REFUSED_RETRY)
    audit_schedule(actor, workspace, "dormancy", {}, {}, refused=f"{what} refused: {message}")
    result.refused.append((workspace.id, message))


def _stop_failed(build: WorkspaceBuild, *, actor, now: datetime, result) -> None:
    workspace = build.workspace
    try:
        with transaction.atomic():
            # Once: the stop becomes the latest build, so this failed start is no longer due.
            services.create_build(
                workspace,
                actor=actor,
                transition=BuildTransition.STOP,
                reason=BuildReason.FAILED_STOP,
            )
    except Conflict as e:  # a build started meanwhile
        result.skipped.append((workspace.id, e.message))
    except ServiceError as e:
        _refused(
            workspace,
            actor=actor,
            now=now,
            what="Failure cleanup",
            message=e.message,
            result=result,
        )
    else:
        result.failed_stopped.append(workspace.id)


def _mark_dormant(
    workspace: Workspace, cutoff: datetime, til_dormant: int, *, actor, now: datetime, result
) -> None:
    days = til_dormant // 86400
    reason = f"not used for {days} days" if days else f"not used for {til_dormant} seconds"
    try:
        with transaction.atomic():
            marked = dormancy.set_dormant(
                workspace, actor=actor, dormant=True, reason=reason, now=now, unused_since=cutoff
            )
    except Conflict as e:
        result.skipped.append((workspace.id, e.message))
        return
    except ServiceError as e:
        _refused(workspace, actor=actor, now=now, what="Dormancy", message=e.message, result=result)
        return
    if marked.dormant_at == now:
        result.dormant.append(workspace.id)
    else:
        result.skipped.append((workspace.id, "used since"))


def _autodelete(workspace: Workspace, *, actor, now: datetime, result) -> None:
    try:
        with transaction.atomic():
            services.create_build(
                workspace,
                actor=actor,
                transition=BuildTransition.DELETE,
                reason=BuildReason.DORMANCY,
            )
            # If the delete fails, the workspace stays dormant and is tried again a day later.
            Workspace.objects.filter(pk=workspace.pk).update(cleanup_retry_at=now + DELETE_RETRY)
    except Conflict as e:
        result.skipped.append((workspace.id, e.message))
    except ServiceError as e:
        _refused(
            workspace, actor=actor, now=now, what="Auto-deletion", message=e.message, result=result
        )
    else:
        result.deleted.append(workspace.id)


def _warn(now: datetime, *, result) -> None:
    """Tell owners once that their dormant workspace will be deleted soon (index
    workspace_delete_warn_due); the warning time is cleared once told."""
    due = list(
        Workspace.objects.filter(
            delete_warn_at__lte=now,
            deleted_at__isnull=True,
            dormant_at__isnull=False,
            template__time_til_dormant_autodelete_seconds__gt=0,
        )
        .select_related("owner")
        .order_by("delete_warn_at")[:BATCH]
    )
    for workspace in due:
        notify(
            "workspace_delete_soon",
            workspace.owner,
            context={
                "workspace": workspace.name,
                "delete_at": dormancy.fmt_time(workspace.deleting_at),
            },
            link=dormancy.page_link(workspace),
            dedupe_key=f"workspace-delete-soon:{workspace.pk}:{workspace.deleting_at.isoformat()}",
        )
        result.warned.append(workspace.id)
    Workspace.objects.filter(pk__in=[w.pk for w in due]).update(delete_warn_at=None)
