"""Notifications portal/accounts' changes send: the account_suspended hook handler."""

from __future__ import annotations

from django.db import transaction

from portal.accounts.choices import UserStatus
from portal.notifications import kinds, services


def notify_suspended(user, *, old: str, new: str, actor) -> None:
    """Tell a user their account was just suspended (hooks.user_status_changed, after commit).

    The bell is unreachable to a suspended user but email and the webhook still reach them; a
    re-activated user finds it in their inbox. One notice per suspension (keyed by its time).
    """
    if new != UserStatus.SUSPENDED or old == UserStatus.SUSPENDED:
        return
    reason = getattr(user, "status_reason", "") or ""
    stamp = getattr(user, "status_changed_at", None)
    key = f"suspended:{stamp.isoformat() if stamp else ''}"
    with transaction.atomic():
        services.notify(
            kinds.ACCOUNT_SUSPENDED.name,
            user,
            context={"username": user.username, "reason": reason},
            dedupe_key=key,
        )
