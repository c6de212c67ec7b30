"""Who may manage provisioner keys (owners) and see the daemons (owners, template admins)."""

from __future__ import annotations

from enterprise.provisioner_daemons.models import ProvisionerKey
from portal import policy
from portal.accounts.choices import Role
from portal.accounts.permissions import RoleTablePolicy, declare_permission
from workspaces.models import Provisioner

KEYS_MANAGE = declare_permission("provisioner_key.manage", {Role.OWNER})
DAEMONS_READ = declare_permission("provisioner_daemon.read", {Role.OWNER, Role.TEMPLATE_ADMIN})


class ProvisionerKeyPolicy(RoleTablePolicy):
    """Owners list, create and revoke keys: a key runs builds with everyone's secrets."""

    resource = "provisioner_key"
    model = ProvisionerKey
    actions = ("read", "create", "delete")
    site_wide = {"read": KEYS_MANAGE, "create": KEYS_MANAGE, "delete": KEYS_MANAGE}

    def allows(self, actor, action, obj) -> bool:
        return self.site_allows(actor, action)

    def scope(self, actor, action):
        if self.site_allows(actor, action):
            return ProvisionerKey.objects.all()
        return ProvisionerKey.objects.none()


class ProvisionerDaemonPolicy(RoleTablePolicy):
    """Reading the provisioners online; `serve` is a daemon's (its key decides), never a user's."""

    resource = "provisioner_daemon"
    model = Provisioner
    actions = ("read", "serve")
    site_wide = {"read": DAEMONS_READ}

    def allows(self, actor, action, obj) -> bool:
        return action == "read" and self.site_allows(actor, action)

    def scope(self, actor, action):
        if action == "read" and self.site_allows(actor, action):
            return Provisioner.objects.all()
        return Provisioner.objects.none()

    def refusal(self, action: str) -> str:
        if action == "serve":
            return "Only a provisioner daemon with a provisioner key may serve jobs."
        return super().refusal(action)


def register_policies() -> None:
    policy.register(ProvisionerKeyPolicy())
    policy.register(ProvisionerDaemonPolicy())
