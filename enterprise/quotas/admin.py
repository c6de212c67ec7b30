"""The console: each user's page shows their workspace quota (consumed of budget, a day)."""

from __future__ import annotations

from enterprise.quotas.budget import usage_of
from enterprise.quotas.services import GATE, in_force
from portal import features
from portal.admin_site import changelist_url
from portal.registry import register_user_admin_link


def _user_quota_link(user) -> tuple[str, str] | None:
    """Consumption against the budget, linking to the user's groups (where allowances are)."""
    if user.is_system or not features.enabled(GATE):
        return None
    usage = usage_of(user)
    text = f"{usage.consumed} of {usage.budget} a day used ({usage.remaining} left)"
    if not in_force():
        text += "; not enforced: no group has an allowance yet"
    return text, changelist_url("groups.group", member=user.username)


register_user_admin_link("Workspace quota", _user_quota_link)
