"""Quotas' chart on the console dashboard: the daily cost of every workspace against the sum of
the groups' allowances, sampled each minute (the same one statement /metrics runs)."""

from __future__ import annotations

from enterprise.quotas.metrics import COLLECTOR
from portal.accounts.admin_permissions import declare_admin_permission
from portal.registry import register_dashboard_series

# Who may read every user's quota (owners, user admins: the `workspace_quota` policy).
PERMISSION = "quotas.view_quotasubject"
declare_admin_permission(PERMISSION, "workspace_quota", "read")
FAMILIES = {"portal_quota_consumed_total": "consumed", "portal_quota_allowance_total": "allowance"}


def cost_and_allowance() -> dict:
    return {
        FAMILIES[family.name]: family.samples[0].value
        for family in COLLECTOR.collect()
        if family.name in FAMILIES
    }


def summary(totals) -> str:
    consumed, allowance = totals.get("consumed", 0), totals.get("allowance", 0)
    if not allowance:
        return f"{consumed:,.0f} credits a day consumed; no group has an allowance (no quota)."
    share = 100 * consumed / allowance
    return f"{consumed:,.0f} of {allowance:,.0f} credits a day consumed ({share:.0f} %)."


register_dashboard_series(
    "quota",
    title="Daily cost against allowances",
    lines=(("consumed", "Consumed (credits a day)"), ("allowance", "Allowances (sum)")),
    permission=PERMISSION,
    gauge=cost_and_allowance,
    summary=summary,
    order=50,
)
