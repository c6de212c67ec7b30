"""Who may see and change the appearance: anyone reads it (the sign-in page); owners change it."""

from __future__ import annotations

from enterprise.appearance.models import Appearance
from portal import policy
from portal.accounts.choices import Role
from portal.accounts.permissions import RoleTablePolicy, declare_permission

APPEARANCE_MANAGE = declare_permission("appearance.manage", {Role.OWNER})


class AppearancePolicy(RoleTablePolicy):
    """Site-wide only. `read` is everyone's, signed in or not (what is shown to whom is the
    API's and the pages' business: support links only to signed-in users)."""

    resource = "appearance"
    model = Appearance
    actions = ("read", "update")
    site_wide = {"update": APPEARANCE_MANAGE}

    def allows(self, actor, action, obj) -> bool:
        return action == "read" or self.site_allows(actor, action)

    def scope(self, actor, action):
        if self.allows(actor, action, None):
            return Appearance.objects.all()
        return Appearance.objects.none()


def register_policies() -> None:
    policy.register(AppearancePolicy())
