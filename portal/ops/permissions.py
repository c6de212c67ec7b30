"""Who may read the deployment's settings page: owners and auditors (secrets masked for all)."""

from __future__ import annotations

from portal import policy
from portal.accounts.choices import Role
from portal.accounts.permissions import RoleTablePolicy, declare_permission

DEPLOYMENT_SETTINGS_READ = declare_permission(
    "deployment_settings.read", {Role.OWNER, Role.AUDITOR}
)


class DeploymentSettingsPolicy(RoleTablePolicy):
    """Site-wide only: the settings describe the whole deployment."""

    resource = "deployment_settings"
    actions = ("read",)
    site_wide = {"read": DEPLOYMENT_SETTINGS_READ}

    def allows(self, actor, action, obj) -> bool:
        return self.site_allows(actor, action)


def register_policies() -> None:
    policy.register(DeploymentSettingsPolicy())
