"""The workspace page's schedule card: when it stops and starts next, and the form to change it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from templates_app import scheduling
from workspaces import schedule
from workspaces.choices import BuildTransition, JobStatus

EXTEND_CHOICES = (1, 2, 4, 8)  # hours the card offers to push the stop back by


def _in(seconds: float) -> str:
    minutes = max(0, int(seconds // 60))
    hours, minutes = divmod(minutes, 60)
    if hours >= 1:
        return f"in {hours} h" + (f" {minutes} min" if minutes else "")
    return f"in {minutes} min"


def _local(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    today = timezone.now().astimezone(ZoneInfo(zone)).date()
    day = "" if local.date() == today else local.strftime("%a %d %b ")
    return f"{day}{local:%H:%M} {zone}"


def schedule_context(workspace, now: datetime | None = None) -> dict:
    """What the card says: stops at HH:MM (in N h), starts next at ..., the form's values."""
    now = now or timezone.now()
    parsed = schedule.load(workspace.autostart_schedule)
    zone = parsed.tz if parsed else "UTC"
    build = workspace.latest_build
    stops = None
    if (
        build is not None
        and build.transition == BuildTransition.START
        and build.job.status == JobStatus.SUCCEEDED
        and build.deadline is not None
    ):
        stops = {
            "at": _local(build.deadline, zone),
            "in": _in((build.deadline - now).total_seconds()),
            "iso": build.deadline.astimezone(UTC).isoformat(),
            "max": _local(build.max_deadline, zone) if build.max_deadline else "",
        }
    starts = None
    if parsed is not None and workspace.next_autostart_at is not None:
        starts = _local(workspace.next_autostart_at, zone)
    rules = scheduling.effective(workspace.template)
    return {
        "schedule": {
            "stops": stops,
            "starts": starts,
            "cron": parsed.cron if parsed else "",
            "tz": parsed.tz if parsed else "",
            "ttl_hours": round(workspace.ttl_seconds / 3600, 2) if workspace.ttl_seconds else "",
            "refusal": workspace.autostart_refusal,
            "may_autostart": rules.allow_user_autostart,
            "may_autostop": rules.allow_user_autostop,
        },
        "extend_choices": EXTEND_CHOICES,
    }
