"""Licensing's panel of the console dashboard: the license status (owners and auditors), from
the entitlements the feature gates already keep in memory (no query in the steady state)."""

from __future__ import annotations

from licensing.cache import gate_cache
from licensing.entitlements import EVALUATION_WARNING, USER_LIMIT
from portal.admin_site import changelist_url
from portal.registry import register_dashboard_panel


def status() -> dict:
    snapshot = gate_cache.snapshot()
    if snapshot is None:
        return {"state": "unknown", "link": changelist_url("licensing.license")}
    if snapshot.evaluation:
        state = "evaluation"
    elif snapshot.errors:
        state = "error"
    elif snapshot.has_license:
        state = "trial" if snapshot.trial else "licensed"
    else:
        state = "unlicensed"
    users = snapshot.features.get(USER_LIMIT, {})
    return {
        "state": state,
        "errors": snapshot.errors,
        "warnings": [w for w in snapshot.warnings if w != EVALUATION_WARNING],
        "user_limit": users.get("limit"),
        "active_users": users.get("actual"),
        "entitled": sorted(
            name
            for name, row in snapshot.features.items()
            if name != USER_LIMIT and row.get("entitlement") == "entitled" and row.get("enabled")
        ),
        "link": changelist_url("licensing.license"),
    }


register_dashboard_panel(
    "license",
    title="License",
    template="admin/portal/dashboard/license.html",
    data=status,
    permission="licensing.view_license",
    order=60,
)
