"""Who may see and change licenses: owners manage them; auditors read them and entitlements."""

from __future__ import annotations

from licensing.models import License
from portal import policy
from portal.accounts.choices import Role
from portal.accounts.permissions import RoleTablePolicy, declare_permission

LICENSE_READ = declare_permission("license.read", {Role.OWNER, Role.AUDITOR})
LICENSE_MANAGE = declare_permission("license.manage", {Role.OWNER})


class LicensePolicy(RoleTablePolicy):
    """Site-wide only: a license belongs to the deployment, not to a user."""

    resource = "license"
    model = License
    actions = ("read", "create", "delete")
    site_wide = {"read": LICENSE_READ, "create": LICENSE_MANAGE, "delete": LICENSE_MANAGE}

    def allows(self, actor, action, obj) -> bool:
        return self.site_allows(actor, action)

    def scope(self, actor, action):
        if self.site_allows(actor, action):
            return License.objects.all()
        return License.objects.none()


def register_policies() -> None:
    policy.register(LicensePolicy())
