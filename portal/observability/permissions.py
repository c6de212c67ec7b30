"""Who may read the deployment's health report and scrape /metrics on the main address: owners."""

from __future__ import annotations

from portal import policy
from portal.accounts.choices import Role
from portal.accounts.permissions import RoleTablePolicy, declare_permission

DEPLOYMENT_DEBUG = declare_permission("deployment.debug", {Role.OWNER})


class DeploymentPolicy(RoleTablePolicy):
    """Site-wide only: the health report and the metrics describe the whole deployment."""

    resource = "deployment"
    actions = ("read",)
    site_wide = {"read": DEPLOYMENT_DEBUG}

    def allows(self, actor, action, obj) -> bool:
        return self.site_allows(actor, action)


def register_policies() -> None:
    policy.register(DeploymentPolicy())
