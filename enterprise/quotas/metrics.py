"""Quota gauges for /metrics: deployment-wide totals (never one series per user)."""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from prometheus_client.core import GaugeMetricFamily

from enterprise.groups.models import Group
from workspaces.models import Workspace


class QuotaCollector:
    def collect(self):
        groups = Group.objects.aggregate(
            allowance=Sum("quota_allowance"), with_allowance=Count("id", Q(quota_allowance__gt=0))
        )
        allowance = GaugeMetricFamily(
            "portal_quota_allowance_total",
            "The sum of every group's quota allowance (credits a day).",
        )
        allowance.add_metric([], groups["allowance"] or 0)
        yield allowance
        in_force = GaugeMetricFamily(
            "portal_quota_in_force", "1 when some group has a quota allowance (quotas apply)."
        )
        in_force.add_metric([], 1 if groups["with_allowance"] else 0)
        yield in_force
        consumed = GaugeMetricFamily(
            "portal_quota_consumed_total",
            "What the latest build of every workspace costs a day (credits), all users.",
        )
        total = Workspace.objects.filter(deleted_at__isnull=True).aggregate(
            total=Sum("latest_build__daily_cost")
        )["total"]
        consumed.add_metric([], total or 0)
        yield consumed


COLLECTOR = QuotaCollector()
