"""Accounts' chart on the console dashboard: active users over time (sampled each minute)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from portal.accounts.choices import UserStatus
from portal.accounts.models import User
from portal.registry import register_dashboard_series

ACTIVE_WITHIN = timedelta(hours=1)


def active_users() -> dict:
    """People (not the system actor) seen in the last hour, and all active accounts."""
    people = User.objects.filter(status=UserStatus.ACTIVE, is_system=False)
    return {
        "seen": people.filter(last_seen_at__gte=timezone.now() - ACTIVE_WITHIN).count(),
        "active": people.count(),
    }


register_dashboard_series(
    "users",
    title="Active users",
    lines=(("seen", "Seen in the last hour"), ("active", "Active accounts")),
    permission="accounts.view_user",
    gauge=active_users,
    order=35,
)
