"""What the console's index page shows a user: the series and panels their roles may see.

A bounded number of queries whatever the data size: one for every chart's samples (a few
hundred rows: series x lines x 168 hours), plus what each visible panel's `data()` costs.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.apps import apps

from portal.dashboard.hours import HOUR, WINDOW, hour_of
from portal.registry import DashboardSeries, registry

log = logging.getLogger(__name__)
DAY_HOURS = 24
WEEK_HOURS = int(WINDOW / HOUR)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def default_summary(series: DashboardSeries, totals: dict[str, float]) -> str:
    if not totals:
        return "No figures yet."
    return ", ".join(
        f"{label}: {_number(totals[key])}" for key, label in series.lines if key in totals
    )


def _window(series: DashboardSeries, values: dict[str, list], hours: int) -> dict:
    """A window's figures: sums of events, the last sampled value of a gauge."""
    totals: dict[str, float] = {}
    for key, _ in series.lines:
        recent = values[key][-hours:]
        if series.per_hour is not None:
            totals[key] = sum(v or 0 for v in recent)
        else:
            known = [v for v in recent if v is not None]
            if known:
                totals[key] = known[-1]
    summary = series.summary or (lambda t: default_summary(series, t))
    return {"hours": hours, "text": summary(totals) if totals else "No figures yet."}


def charts(user, now: datetime | None = None) -> list[dict]:
    visible = sorted(
        (s for s in registry["dashboard_series"].values() if user.has_perm(s.permission)),
        key=lambda s: (s.order, s.name),
    )
    if not visible:
        return []
    last = hour_of(now or datetime.now(UTC))
    buckets = [last - (WEEK_HOURS - 1 - n) * HOUR for n in range(WEEK_HOURS)]
    index = {bucket: n for n, bucket in enumerate(buckets)}
    # By name: the console's site (portal.admin_site) imports this module before models load.
    rows = (
        apps.get_model("dashboard", "Sample")
        .objects.filter(
            series__in=[s.name for s in visible], bucket__gte=buckets[0], bucket__lte=last
        )
        .values_list("series", "line", "bucket", "value")
    )
    found: dict[tuple[str, str], dict[int, float]] = {}
    for series, line, bucket, value in rows:
        found.setdefault((series, line), {})[index[hour_of(bucket)]] = value
    result = []
    for series in visible:
        # A missing hour of events counted nothing; a missing gauge sample is unknown (a gap).
        missing = 0.0 if series.per_hour is not None else None
        values = {
            key: [found.get((series.name, key), {}).get(n, missing) for n in range(WEEK_HOURS)]
            for key, _ in series.lines
        }
        chart = {
            "name": series.name,
            "title": series.title,
            "kind": "bar" if series.per_hour is not None else "line",
            "labels": [b.isoformat() for b in buckets],
            "lines": [
                {"key": key, "label": label, "values": values[key]} for key, label in series.lines
            ],
        }
        result.append(
            {
                "name": series.name,
                "title": series.title,
                "order": series.order,
                "chart": chart,
                "json_id": f"dashboard-data-{series.name}",
                "windows": [
                    {"label": "Last 24 hours", **_window(series, values, DAY_HOURS)},
                    {"label": "Last 7 days", **_window(series, values, WEEK_HOURS)},
                ],
                # The table behind the chart (no JavaScript, screen readers): the last 24 hours.
                "headers": [label for _, label in series.lines],
                "table": [
                    (buckets[n], [values[key][n] for key, _ in series.lines])
                    for n in range(WEEK_HOURS - DAY_HOURS, WEEK_HOURS)
                ],
            }
        )
    return result


def panels(user) -> list[dict]:
    shown = []
    for panel in sorted(registry["dashboard_panels"].values(), key=lambda p: (p.order, p.name)):
        if not user.has_perm(panel.permission):
            continue
        try:
            data = panel.data()
        except Exception:
            # One app's broken panel says so; the rest of the dashboard still shows.
            log.exception("dashboard: the panel %s failed", panel.name)
            data, template = {}, "admin/portal/dashboard/broken.html"
        else:
            template = panel.template
        shown.append(
            {
                "name": panel.name,
                "title": panel.title,
                "order": panel.order,
                "template": template,
                "data": data,
            }
        )
    return shown


def context(user) -> dict:
    """The index page's dashboard: charts and panels in one list, by their `order`."""
    blocks = [{"kind": "chart", **c} for c in charts(user)] + [
        {"kind": "panel", **p} for p in panels(user)
    ]
    blocks.sort(key=lambda b: (b["order"], b["name"]))
    return {"dashboard_blocks": blocks}
