"""Dormant users: people not seen for PORTAL_USER_DORMANCY_DAYS stop counting against the license.

A dormant user may still sign in; any sign-in or token use makes them active again
(portal.accounts.services._record_login and touch). The deployment's last active owner is
never marked: dormancy refuses nothing, but owners receive what only owners are told (license
expiry, deployment warnings), so at least one stays active to be told.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from portal.accounts.choices import Role, UserStatus
from portal.accounts.models import User
from portal.accounts.services import set_status

BATCH = 1000  # users per run; more wait for the next run (hourly)


def mark_dormant_users(*, actor, days: int | None = None, now: datetime | None = None) -> list[str]:
    """Mark active people not seen (signed in or used a token; never: since created) for
    `days` (default PORTAL_USER_DORMANCY_DAYS; 0: off) dormant, each through set_status
    (audited, `actor` the system). Returns their usernames."""
    days = settings.PORTAL_USER_DORMANCY_DAYS if days is None else days
    if not days:
        return []
    now = now or timezone.now()
    cutoff = now - timedelta(days=days)
    due = list(
        User.objects.filter(status=UserStatus.ACTIVE, is_system=False)
        .annotate(seen=Coalesce("last_seen_at", "created_at"))
        .filter(seen__lt=cutoff)
        .order_by("seen")[:BATCH]
    )
    due_ids = {u.pk for u in due}
    owners_staying = (
        User.objects.filter(status=UserStatus.ACTIVE, is_system=False, roles__contains=[Role.OWNER])
        .exclude(pk__in=due_ids)
        .exists()
    )
    if not owners_staying:
        owners = [u for u in due if u.has_role(Role.OWNER)]
        if owners:  # the most recently seen one stays active
            due.remove(max(owners, key=lambda u: u.seen))
    reason = f"not seen for {days} days"
    marked = []
    for user in due:
        with transaction.atomic():
            # Under the row's lock: a sign-in committed since the query wins.
            row = User.objects.select_for_update().get(pk=user.pk)
            if row.status != UserStatus.ACTIVE or (row.last_seen_at or row.created_at) >= cutoff:
                continue
            set_status(row, UserStatus.DORMANT, actor=actor, reason=reason)
        marked.append(user.username)
    return marked
