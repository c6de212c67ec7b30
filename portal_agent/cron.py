"""A small 5-field cron matcher (minute hour day-of-month month day-of-week) for portal_script."""

from __future__ import annotations

import datetime as dt

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# (low, high, names) per field; day-of-week accepts 7 as Sunday.
_FIELDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 7, _DAYS))


class CronError(ValueError):
    """The expression is not a valid 5-field cron schedule."""


def _value(text: str, low: int, high: int, names: dict) -> int:
    text = text.lower()
    if text in names:
        return names[text]
    if not text.isdigit():
        raise CronError(f"{text!r} is not a number")
    n = int(text)
    if not low <= n <= high:
        raise CronError(f"{n} is outside {low}-{high}")
    return n


def _field(text: str, low: int, high: int, names: dict) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"bad step in {part!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, low, high, names), _value(b, low, high, names)
            if start > end:
                raise CronError(f"bad range {base!r}")
        else:
            start = _value(base, low, high, names)
            # "5/15" means from 5 to the end in steps of 15, as in Vixie cron.
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


class Cron:
    """A parsed schedule; `matches(t)` says whether it fires in the minute containing t."""

    def __init__(self, expression: str):
        self.expression = expression
        text = _MACROS.get(expression.strip().lower(), expression)
        parts = text.split()
        if len(parts) != 5:
            raise CronError(f"{expression!r}: want 5 fields (minute hour day month weekday)")
        fields = [_field(p, *spec) for p, spec in zip(parts, _FIELDS)]  # noqa: B905 - 3.9
        self.minutes, self.hours, self.days, self.months, weekdays = fields
        self.weekdays = frozenset(d % 7 for d in weekdays)
        # Standard cron: when both day fields are restricted, either one matching is enough.
        self._days_restricted = parts[2] != "*" and not parts[2].startswith("*/")
        self._weekdays_restricted = parts[4] != "*" and not parts[4].startswith("*/")

    def matches(self, t: dt.datetime) -> bool:
        if t.minute not in self.minutes or t.hour not in self.hours or t.month not in self.months:
            return False
        return self._day_matches(t)

    def next_after(self, t: dt.datetime, limit_days: int = 366 * 5) -> dt.datetime | None:
        """The first matching minute strictly after t (None if none within limit_days)."""
        t = t.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        end = t + dt.timedelta(days=limit_days)
        while t < end:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + dt.timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
                continue
            if t.minute in self.minutes:
                return t
            t += dt.timedelta(minutes=1)
        return None

    def _day_matches(self, t: dt.datetime) -> bool:
        day_ok = t.day in self.days
        weekday_ok = (t.isoweekday() % 7) in self.weekdays
        if self._days_restricted and self._weekdays_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok
