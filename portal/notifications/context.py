"""The bell's figure on every portal page: the signed-in user's unread notifications."""

from __future__ import annotations

from portal import policy
from portal.notifications import queries


def bell(request) -> dict:
    user = getattr(request, "user", None)
    if not policy.active(user) or getattr(user, "is_system", False):
        return {}
    # Lazy: the console's pages never show the bell and never pay for the count.
    return {"notifications_bell": True, "notifications_unread": lambda: queries.unread_count(user)}
