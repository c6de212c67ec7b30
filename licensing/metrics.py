"""Licence gauges for /metrics, from the entitlements the feature gates already hold (no
recomputation per scrape; licensing/cache.py refreshes them)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from licensing import entitlements
from licensing.cache import gate_cache


class LicenseCollector:
    def collect(self):
        # None before the gates' first computation: computed here then (rare).
        snapshot = gate_cache.snapshot() or entitlements.current()
        enabled = GaugeMetricFamily(
            "portal_license_feature_enabled",
            "Whether a licensed feature is on (1) or off (0).",
            labels=["feature"],
        )
        for name, row in sorted(snapshot.features.items()):
            if name != entitlements.USER_LIMIT:
                enabled.add_metric([name], 1 if row["enabled"] else 0)
        yield enabled
        users = snapshot.features.get(entitlements.USER_LIMIT, {})
        limit = GaugeMetricFamily(
            "portal_license_user_limit", "Active users the license allows (no sample: no limit)."
        )
        if users.get("limit") is not None:
            limit.add_metric([], users["limit"])
        yield limit
        active = GaugeMetricFamily(
            "portal_license_active_users",
            "Active users the license counts (as of the last entitlements computation).",
        )
        active.add_metric([], users.get("actual") or 0)
        yield active
        for name, items, text in (
            ("portal_license_errors", snapshot.errors, "License errors (see the console)."),
            ("portal_license_warnings", snapshot.warnings, "License warnings (see the console)."),
        ):
            family = GaugeMetricFamily(name, text)
            family.add_metric([], len(items))
            yield family
        evaluation = GaugeMetricFamily(
            "portal_license_evaluation", "1 while no license is stored (evaluation mode)."
        )
        evaluation.add_metric([], 1 if snapshot.evaluation else 0)
        yield evaluation


COLLECTOR = LicenseCollector()
