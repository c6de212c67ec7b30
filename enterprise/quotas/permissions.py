"""Who may read a user's workspace quota: the user, and owners and user admins (the policy)."""

from __future__ import annotations

from enterprise.quotas.models import QuotaSubject
from portal import policy
from portal.accounts.choices import Role
from portal.accounts.permissions import RoleTablePolicy, declare_permission

QUOTA_READ_ALL = declare_permission("quota.read_all", {Role.OWNER, Role.USER_ADMIN})


class QuotaPolicy(RoleTablePolicy):
    """A user reads their own quota; quota.read_all reads everyone's. Nobody else learns
    whether the user exists (404)."""

    resource = "workspace_quota"
    model = QuotaSubject
    actions = ("read",)
    site_wide = {"read": QUOTA_READ_ALL}

    def allows(self, actor, action, obj) -> bool:
        if not policy.active(actor):
            return False
        if self.site_allows(actor, action):
            return True
        return obj is not None and obj.pk == actor.pk

    def scope(self, actor, action):
        if not policy.active(actor):
            return QuotaSubject.objects.none()
        if self.site_allows(actor, action):
            return QuotaSubject.objects.all()
        return QuotaSubject.objects.filter(pk=actor.pk)


def register_policies() -> None:
    policy.register(QuotaPolicy())
