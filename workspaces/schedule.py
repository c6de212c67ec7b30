"""Autostart schedules: 5-field cron in a time zone, stored as Coder does ("CRON_TZ=Zone cron")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from portal.errors import ValidationFailed

STORED_MAX = 128  # Workspace.autostart_schedule
CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
# How far ahead the next allowed time is searched: a schedule whose every time falls on a day
# the template refuses (or a 31 February) has none.
_HORIZON = timedelta(days=366)


@dataclass(frozen=True)
class Schedule:
    cron: str  # the 5 fields, space-separated
    tz: str  # an IANA zone name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def stored(self) -> str:
        return f"CRON_TZ={self.tz} {self.cron}"

    def next_after(self, after: datetime, days: list[int] | None = None) -> datetime | None:
        """The first time strictly after `after` (aware) on one of `days` (Monday=0, in the
        schedule's zone; None: any day), or None within a year."""
        local = after.astimezone(self.zone)
        it = croniter(self.cron, local)
        horizon = local + _HORIZON
        allowed = set(range(7)) if days is None else set(days)
        if not allowed:
            return None
        while True:
            try:
                nxt = it.get_next(datetime)
            except CroniterBadDateError:
                return None
            if nxt > horizon:
                return None
            if nxt.weekday() in allowed:
                return nxt


def _field_error(fields: list[str]) -> str | None:
    """The name of the first cron field croniter refuses, tried alone among harmless ones."""
    for i, value in enumerate(fields):
        probe = ["*"] * 5
        probe[i] = value
        if not croniter.is_valid(" ".join(probe)):
            return CRON_FIELDS[i]
    return None


def parse(
    text: str, tz: str | None = None, *, field: str = "schedule", check_runs: bool = True
) -> Schedule:
    """A schedule from "cron" plus `tz`, or from "CRON_TZ=Zone cron" (`tz` then must agree or
    be empty); a 400 naming `field` and the cron field or zone at fault."""
    text = " ".join((text or "").split())
    if text.startswith("CRON_TZ="):
        head, _, text = text.partition(" ")
        stored_tz = head.removeprefix("CRON_TZ=")
        if tz and tz != stored_tz:
            raise ValidationFailed.field(
                field, f"The schedule says CRON_TZ={stored_tz} but the time zone given is {tz}."
            )
        tz = stored_tz
    tz = tz or "UTC"
    fields = text.split(" ") if text else []
    if len(fields) != 5:
        raise ValidationFailed.field(
            field,
            f"Give 5 cron fields (minute hour day-of-month month day-of-week), e.g. "
            f'"0 9 * * 1-5"; got {len(fields)}.',
        )
    bad = _field_error(fields)
    if bad is not None:
        i = CRON_FIELDS.index(bad)
        raise ValidationFailed.field(field, f"The cron {bad} field {fields[i]!r} is not valid.")
    if not croniter.is_valid(" ".join(fields)):
        raise ValidationFailed.field(field, f"The cron expression {' '.join(fields)!r} is invalid.")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed.field(
            "tz" if field == "schedule" else field,
            f"Unknown time zone {tz!r}: use an IANA name such as Europe/Berlin or UTC.",
        ) from None
    schedule = Schedule(cron=" ".join(fields), tz=tz)
    if len(schedule.stored()) > STORED_MAX:
        raise ValidationFailed.field(
            field, f"The schedule and its time zone take at most {STORED_MAX} characters."
        )
    if check_runs and schedule.next_after(datetime.now(schedule.zone)) is None:
        raise ValidationFailed.field(field, f"The schedule {schedule.cron!r} never runs.")
    return schedule


def load(stored: str) -> Schedule | None:
    """The schedule a workspace stored (None for none, or one no longer valid)."""
    if not stored:
        return None
    try:
        return parse(stored, check_runs=False)
    except ValidationFailed:
        return None
