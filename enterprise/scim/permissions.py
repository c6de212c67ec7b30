"""Who may manage SCIM keys: owners only (a key provisions and suspends anyone)."""

from __future__ import annotations

from enterprise.scim.models import ScimKey
from portal import policy
from portal.accounts.choices import Role
from portal.accounts.permissions import RoleTablePolicy, declare_permission

SCIM_MANAGE = declare_permission("scim.manage", {Role.OWNER})


class ScimKeyPolicy(RoleTablePolicy):
    """Owners list, create and revoke SCIM keys; nobody else sees them."""

    resource = "scim_key"
    model = ScimKey
    actions = ("read", "create", "delete")
    site_wide = {"read": SCIM_MANAGE, "create": SCIM_MANAGE, "delete": SCIM_MANAGE}

    def allows(self, actor, action, obj) -> bool:
        return self.site_allows(actor, action)

    def scope(self, actor, action):
        if self.site_allows(actor, action):
            return ScimKey.objects.all()
        return ScimKey.objects.none()


def register_policies() -> None:
    policy.register(ScimKeyPolicy())
