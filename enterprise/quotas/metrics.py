"""Quota gauges for /metrics: deployment-wide totals (never one series per user), one query."""

from __future__ import annotations

from django.db import connection
from prometheus_client.core import GaugeMetricFamily

from enterprise.groups.models import Group
from workspaces.models import Workspace


class QuotaCollector:
    def collect(self):
        groups_sql, groups_params = (
            Group.objects.order_by().values("quota_allowance").query.sql_with_params()
        )
        consumed_sql, consumed_params = (
            Workspace.objects.filter(deleted_at__isnull=True)
            .order_by()
            .values("latest_build__daily_cost")
            .query.sql_with_params()
        )
        # Only Django's own SQL is interpolated; every value is a parameter.
        statement = (
            "SELECT coalesce(sum(g.c), 0), count(*) FILTER (WHERE g.c > 0), "  # noqa: S608
            f"(SELECT coalesce(sum(w.c), 0) FROM ({consumed_sql}) AS w(c)) "
            f"FROM ({groups_sql}) AS g(c)"
        )
        with connection.cursor() as cursor:
            cursor.execute(statement, [*consumed_params, *groups_params])
            allowance, with_allowance, consumed = cursor.fetchone()
        for name, text, number in (
            (
                "portal_quota_allowance_total",
                "The sum of every group's quota allowance (credits a day).",
                allowance,
            ),
            (
                "portal_quota_in_force",
                "1 when some group has a quota allowance (quotas apply).",
                1 if with_allowance else 0,
            ),
            (
                "portal_quota_consumed_total",
                "What the latest build of every workspace costs a day (credits), all users.",
                consumed,
            ),
        ):
            family = GaugeMetricFamily(name, text)
            family.add_metric([], number)
            yield family


COLLECTOR = QuotaCollector()
