"""Writes of a workspace's schedule: autostart, TTL, the running deadline (and its stamp)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Conflict, Forbidden, ValidationFailed
from templates_app import scheduling
from workspaces import queries, schedule
from workspaces.audit_types import WorkspaceResourceType
from workspaces.choices import BuildTransition, JobStatus
from workspaces.models import Workspace, WorkspaceBuild

MIN_TTL = 60
MAX_TTL = scheduling.MAX_SECONDS
# Coder's rule: an extension must leave at least this long, so a typo cannot stop it at once.
MIN_EXTEND = timedelta(minutes=30)


def _locked(workspace: Workspace, actor) -> Workspace:
    return queries.locked_for_change(
        workspace, actor, refusal="You may not change this workspace's schedule."
    )


def audit_schedule(
    actor, workspace: Workspace, setting: str, before, after, *, refused: str = "", reason: str = ""
) -> None:
    audit.record(
        actor=actor,
        action=AuditAction.WRITE,
        resource_type=WorkspaceResourceType.WORKSPACE,
        resource_id=workspace.id,
        resource_target=workspace.name,
        diff=audit.diff(before, after),
        additional_fields={
            "owner": workspace.owner.username,
            "setting": setting,
            **({"refused": refused} if refused else {}),
            **({"reason": reason} if reason else {}),
        },
        status_code=403 if refused else 200,
    )


def _template_label(workspace: Workspace) -> str:
    return workspace.template.display_name or workspace.template.name


def set_autostart(
    workspace: Workspace, *, actor, schedule_text: str, tz: str | None = None, now=None
) -> Workspace:
    """Set (cron + zone) or clear ("" or "manual") the autostart schedule."""
    now = now or timezone.now()
    text = (schedule_text or "").strip()
    parsed = None if text in ("", "manual") else schedule.parse(text, tz)
    with transaction.atomic():
        workspace = _locked(workspace, actor)
        rules = scheduling.effective(workspace.template)
        if not rules.allow_user_autostart:
            raise Forbidden(
                f"Template {_template_label(workspace)} does not allow changing autostart.",
                detail="Its template admins turned off users' autostart schedules.",
            )
        stored = parsed.stored() if parsed else ""
        before = {"autostart_schedule": workspace.autostart_schedule}
        if stored == workspace.autostart_schedule and not workspace.autostart_refusal:
            return workspace
        workspace.autostart_schedule = stored
        workspace.next_autostart_at = parsed.next_after(now) if parsed else None
        workspace.autostart_refusal = ""
        workspace.save(
            update_fields=[
                "autostart_schedule",
                "next_autostart_at",
                "autostart_refusal",
                "updated_at",
            ]
        )
        audit_schedule(actor, workspace, "autostart", before, {"autostart_schedule": stored})
    return workspace


def set_ttl(workspace: Workspace, *, actor, ttl_seconds: int | None) -> Workspace:
    """Set (seconds) or clear (None or 0) the time a start runs before autostop; it applies
    from the next start (extend moves the running one's deadline)."""
    ttl = ttl_seconds or None
    if ttl is not None and not MIN_TTL <= ttl <= MAX_TTL:
        raise ValidationFailed.field(
            "ttl_ms", f"Give a TTL between 1 minute and 30 days (got {ttl} s)."
        )
    with transaction.atomic():
        workspace = _locked(workspace, actor)
        rules = scheduling.effective(workspace.template)
        if not rules.allow_user_autostop:
            raise Forbidden(
                f"Template {_template_label(workspace)} does not allow changing autostop.",
                detail="Its template admins turned off users' TTLs.",
            )
        if ttl and rules.max_lifetime_seconds and ttl > rules.max_lifetime_seconds:
            raise ValidationFailed.field(
                "ttl_ms",
                f"A TTL of {_human(ttl)} is longer than template {_template_label(workspace)}'s "
                f"maximum lifetime of {_human(rules.max_lifetime_seconds)}.",
            )
        if ttl == workspace.ttl_seconds:
            return workspace
        before = {"ttl_seconds": workspace.ttl_seconds}
        workspace.ttl_seconds = ttl
        workspace.save(update_fields=["ttl_seconds", "updated_at"])
        audit_schedule(actor, workspace, "ttl", before, {"ttl_seconds": ttl})
    return workspace


def extend_deadline(workspace: Workspace, *, actor, deadline: datetime, now=None) -> WorkspaceBuild:
    """Move the running start build's deadline (at least 30 minutes from now, never past its
    max_deadline)."""
    now = now or timezone.now()
    if timezone.is_naive(deadline):
        raise ValidationFailed.field("deadline", "Give a time with its UTC offset.")
    with transaction.atomic():
        workspace = _locked(workspace, actor)
        rules = scheduling.effective(workspace.template)
        if not rules.allow_user_autostop:
            raise Forbidden(
                f"Template {_template_label(workspace)} does not allow changing autostop."
            )
        build = workspace.latest_build
        if (
            build is None
            or build.transition != BuildTransition.START
            or build.job.status != JobStatus.SUCCEEDED
        ):
            raise Conflict(f"Workspace {workspace.name!r} is not running: nothing to extend.")
        build = WorkspaceBuild.objects.select_for_update().get(pk=build.pk)
        if deadline < now + MIN_EXTEND:
            raise ValidationFailed.field(
                "deadline",
                f"The new deadline must be at least 30 minutes from now ({_fmt(now)} UTC); "
                f"got {_fmt(deadline)} UTC.",
            )
        if build.max_deadline is not None and deadline > build.max_deadline:
            started = build.max_deadline - timedelta(seconds=rules.max_lifetime_seconds)
            raise ValidationFailed.field(
                "deadline",
                f"{_fmt(deadline)} UTC is past this start's maximum lifetime: it must stop by "
                f"{_fmt(build.max_deadline)} UTC ({_human(rules.max_lifetime_seconds)} after "
                f"{_fmt(started)} UTC), {_human((build.max_deadline - now).total_seconds())} "
                "from now.",
            )
        before = {"deadline": build.deadline.isoformat() if build.deadline else None}
        build.deadline = deadline
        build.save(update_fields=["deadline", "updated_at"])
        audit_schedule(actor, workspace, "deadline", before, {"deadline": deadline.isoformat()})
    return build


def stamp_deadlines(build: WorkspaceBuild, *, at: datetime) -> list[str]:
    """Set a start build's deadline (its workspace's TTL) and max_deadline (its template's
    maximum lifetime) as it succeeds at `at`; returns the fields to save."""
    workspace = build.workspace
    rules = scheduling.effective(workspace.template)
    build.max_deadline = (
        at + timedelta(seconds=rules.max_lifetime_seconds) if rules.max_lifetime_seconds else None
    )
    deadline = at + timedelta(seconds=workspace.ttl_seconds) if workspace.ttl_seconds else None
    if build.max_deadline is not None and (deadline is None or deadline > build.max_deadline):
        deadline = build.max_deadline
    build.deadline = deadline
    return ["deadline", "max_deadline"]


def _fmt(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _human(seconds: float) -> str:
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours}h{minutes:02d}m"
    return f"{hours}h" if hours else f"{minutes}m"
