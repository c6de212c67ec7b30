"""A template's scheduling policy: the rules in force (advanced ones gated) and their edits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from portal import features, policy
from portal.accounts.permissions import PERMISSIONS
from portal.audit import services as audit
from portal.audit.choices import AuditAction
from portal.errors import Forbidden, NotFound, ValidationFailed
from templates_app.audit_types import TemplateResourceType
from templates_app.models import Template

GATE = "advanced_template_scheduling"
# Failure cleanup, dormancy threshold, dormancy auto-deletion (0: off), as Coder's template.
CLEANUP = ("failure_ttl_seconds", "time_til_dormant_seconds", "time_til_dormant_autodelete_seconds")
# Their API names (milliseconds, as Coder's).
CLEANUP_API = {
    "failure_ttl_seconds": "failure_ttl_ms",
    "time_til_dormant_seconds": "time_til_dormant_ms",
    "time_til_dormant_autodelete_seconds": "time_til_dormant_autodelete_ms",
}
ADVANCED = (
    "max_lifetime_seconds",
    "autostart_days",
    "allow_user_autostart",
    "allow_user_autostop",
    *CLEANUP,
)
BASIC = ("default_ttl_seconds", "activity_bump_seconds")
# The console form's names of the advanced settings.
ADVANCED_FORM_FIELDS = (
    "max_lifetime_hours",
    "autostart_days",
    "allow_user_autostart",
    "allow_user_autostop",
    "failure_ttl_hours",
    "dormancy_threshold_days",
    "dormancy_autodelete_days",
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_SECONDS = 30 * 24 * 3600  # the longest TTL, bump or lifetime a template may set
MAX_CLEANUP_SECONDS = 3650 * 24 * 3600  # cleanup periods: up to ten years


@dataclass(frozen=True)
class SchedulePolicy:
    """What the scheduler and the workspace services obey for one template, now."""

    default_ttl_seconds: int
    activity_bump_seconds: int
    max_lifetime_seconds: int  # 0: none
    autostart_days: tuple[int, ...]  # Monday=0
    allow_user_autostart: bool
    allow_user_autostop: bool
    failure_ttl_seconds: int = 0  # 0: off (and with the gate off)
    time_til_dormant_seconds: int = 0
    time_til_dormant_autodelete_seconds: int = 0


def effective(template: Template, *, advanced: bool | None = None) -> SchedulePolicy:
    """The policy in force: with the gate off the advanced settings are ignored (kept, not
    applied), as if unset. `advanced` saves the gate check when the caller asked it already."""
    if advanced is None:
        advanced = features.enabled(GATE)
    return SchedulePolicy(
        default_ttl_seconds=template.default_ttl_seconds,
        activity_bump_seconds=template.activity_bump_seconds,
        max_lifetime_seconds=template.max_lifetime_seconds if advanced else 0,
        autostart_days=tuple(template.autostart_days) if advanced else tuple(range(7)),
        allow_user_autostart=template.allow_user_autostart if advanced else True,
        allow_user_autostop=template.allow_user_autostop if advanced else True,
        **{name: getattr(template, name) if advanced else 0 for name in CLEANUP},
    )


def _snapshot(template: Template) -> dict:
    return {f"scheduling.{name}": getattr(template, name) for name in (*BASIC, *ADVANCED)}


def _seconds(field: str, value, *, allow_zero: bool = True, most: int = MAX_SECONDS) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed.field(field, "Give a whole number of seconds.")
    if value < 0 or value > most or (value == 0 and not allow_zero):
        raise ValidationFailed.field(
            field,
            f"Give between {0 if allow_zero else 1} and {most} seconds ({most // 86400} days).",
        )
    return value


def _days(value) -> list[int]:
    if not isinstance(value, list | tuple):
        raise ValidationFailed.field("autostart_days", "Give a list of weekday names.")
    days = set()
    for day in value:
        name = str(day).strip().lower()
        index = next(
            (i for i, full in enumerate(WEEKDAYS) if len(name) >= 3 and full.startswith(name)),
            None,
        )
        if index is None:
            raise ValidationFailed.field(
                "autostart_days", f"Unknown day {day!r}: use {', '.join(WEEKDAYS)}."
            )
        days.add(index)
    return sorted(days)


def update_schedule_policy(template: Template, *, actor, **changes) -> Template:
    """Change the scheduling settings given (a None value leaves that one alone).

    Who may change the template may change them (its `update`: owners, template admins, a
    template ACL's admin). The advanced settings (GATE) are a 403 naming the feature while it
    is off.
    """
    changes = {k: v for k, v in changes.items() if v is not None}
    unknown = sorted(set(changes) - set(BASIC) - set(ADVANCED))
    if unknown:
        raise ValidationFailed.field(unknown[0], "Not a scheduling setting.")
    if not policy.can(actor, "update", template):
        roles = ", ".join(sorted(PERMISSIONS["template.manage"]))
        raise Forbidden(
            f"You are not allowed to change templates: it needs one of the roles {roles}."
        )
    if any(name in changes for name in ADVANCED):
        features.require(GATE)
    clean: dict = {}
    if "default_ttl_seconds" in changes:
        clean["default_ttl_seconds"] = _seconds("default_ttl_ms", changes["default_ttl_seconds"])
    if "activity_bump_seconds" in changes:
        clean["activity_bump_seconds"] = _seconds(
            "activity_bump_ms", changes["activity_bump_seconds"]
        )
    if "max_lifetime_seconds" in changes:
        clean["max_lifetime_seconds"] = _seconds("max_ttl_ms", changes["max_lifetime_seconds"])
    if "autostart_days" in changes:
        clean["autostart_days"] = _days(changes["autostart_days"])
    for name in CLEANUP:
        if name in changes:
            clean[name] = _seconds(CLEANUP_API[name], changes[name], most=MAX_CLEANUP_SECONDS)
    for flag in ("allow_user_autostart", "allow_user_autostop"):
        if flag in changes:
            if not isinstance(changes[flag], bool):
                raise ValidationFailed.field(flag, "Give true or false.")
            clean[flag] = changes[flag]
    with transaction.atomic():
        template = Template.objects.select_for_update(of=("self",)).get(pk=template.pk)
        if template.deleted_at is not None:
            raise NotFound(f"Template {template.name!r} was deleted.")
        before = _snapshot(template)
        fields = [name for name, value in clean.items() if getattr(template, name) != value]
        if not fields:
            return template
        for name in fields:
            setattr(template, name, clean[name])
        ttl, lifetime = template.default_ttl_seconds, template.max_lifetime_seconds
        if lifetime and ttl > lifetime:
            raise ValidationFailed.field(
                "default_ttl_ms",
                f"The default TTL ({ttl} s) is longer than the maximum lifetime ({lifetime} s).",
            )
        template.save(update_fields=[*fields, "updated_at"])
        if "time_til_dormant_autodelete_seconds" in fields:
            _reschedule_deletions(template)
        audit.record(
            actor=actor,
            action=AuditAction.WRITE,
            resource_type=TemplateResourceType.TEMPLATE,
            resource_id=template.pk,
            resource_target=template.name,
            diff=audit.diff(before, _snapshot(template)),
        )
    return template


def _reschedule_deletions(template: Template) -> None:
    """The template's dormant workspaces follow a changed auto-deletion period (as Coder's do):
    deleted that long after they became dormant (never earlier than a warning's lead from now,
    so their owners are still told first), or never when it is turned off."""
    dormant = template.workspaces.filter(dormant_at__isnull=False, deleted_at__isnull=True)
    period = template.time_til_dormant_autodelete_seconds
    if not period:
        dormant.update(deleting_at=None, delete_warn_at=None)
        return
    lead = min(timedelta(days=1), timedelta(seconds=period / 2))
    deleting_at = Greatest(
        F("dormant_at") + timedelta(seconds=period), Value(timezone.now() + lead)
    )
    dormant.update(deleting_at=deleting_at, delete_warn_at=deleting_at - lead)


def as_api(template: Template) -> dict:
    """Coder's template scheduling fields (milliseconds), as stored."""
    return {
        "default_ttl_ms": template.default_ttl_seconds * 1000,
        "activity_bump_ms": template.activity_bump_seconds * 1000,
        "max_ttl_ms": template.max_lifetime_seconds * 1000,
        "autostart_requirement": {
            "days_of_week": [WEEKDAYS[d] for d in sorted(template.autostart_days)]
        },
        "allow_user_autostart": template.allow_user_autostart,
        "allow_user_autostop": template.allow_user_autostop,
        **{api: getattr(template, name) * 1000 for name, api in CLEANUP_API.items()},
    }
