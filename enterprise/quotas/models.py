"""The quota's subject: a user, as the policy's resource `workspace_quota` (a proxy, no table)."""

from __future__ import annotations

from portal.accounts.models import User


class QuotaSubject(User):
    """A user seen as the holder of a workspace quota: what `policy.can(actor, "read", ...)`
    is asked about, so reading a quota has its own rule (not the user policy's)."""

    class Meta:
        proxy = True
        verbose_name = "workspace quota"
