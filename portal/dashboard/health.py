"""The dashboard's health panel: the health report (portal/observability/health.py, every
registered check), run by the periodic leader and read back from its snapshot, so a page view
never waits on the checks' network round trips."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from portal.dashboard.models import Snapshot
from portal.observability import health

NAME = "health"
# The task runs every 30 s: older than this, the periodic work itself is what to look at.
STALE_AFTER = timedelta(minutes=3)


def snapshot() -> dict:
    """Run every check now and keep the report (the last one stands; one row)."""
    report = health.run_checks()
    Snapshot.objects.update_or_create(
        name=NAME, defaults={"taken_at": timezone.now(), "data": report}
    )
    return report


def panel_data() -> dict:
    """The last report, its age, and whether it is too old to trust (one query)."""
    row = Snapshot.objects.filter(name=NAME).first()
    if row is None:
        return {"report": None, "stale": True, "taken_at": None}
    lines = [
        {**line, "details_text": _details(line.get("details") or {})}
        for line in row.data.get("checks", [])
    ]
    return {
        "report": {**row.data, "checks": lines},
        "taken_at": row.taken_at,
        "stale": timezone.now() - row.taken_at > STALE_AFTER,
    }


def _details(details: dict) -> str:
    """Details as one short line (lists joined): the full report is one link away."""
    parts = []
    for key, value in details.items():
        if isinstance(value, list):
            value = (
                "; ".join(
                    str(v if not isinstance(v, dict) else v.get("hostname") or v.get("id") or v)
                    for v in value
                )
                or "none"
            )
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return ", ".join(parts)
