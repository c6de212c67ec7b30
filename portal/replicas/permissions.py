"""Who may see the replicas: owners and auditors (the deployment's read), as Coder's /replicas."""

from __future__ import annotations

from portal import policy
from portal.accounts.choices import Role
from portal.accounts.permissions import RoleTablePolicy, declare_permission
from portal.replicas.models import Replica

REPLICA_READ = declare_permission("replica.read", {Role.OWNER, Role.AUDITOR})


class ReplicaPolicy(RoleTablePolicy):
    """Site-wide only: replicas are the deployment's processes, nobody's objects; read-only
    (rows are written by the processes themselves, never through the API or console)."""

    resource = "replica"
    model = Replica
    actions = ("read",)
    site_wide = {"read": REPLICA_READ}

    def allows(self, actor, action, obj) -> bool:
        return self.site_allows(actor, action)

    def scope(self, actor, action):
        if self.site_allows(actor, action):
            return Replica.objects.all()
        return Replica.objects.none()


def register_policies() -> None:
    policy.register(ReplicaPolicy())
