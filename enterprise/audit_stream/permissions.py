"""Who sees the streams' delivery state (who may read the audit log) and who re-sends (owners)."""

from __future__ import annotations

from enterprise.audit_stream.models import StreamDestination
from portal import policy
from portal.accounts.choices import Role
from portal.accounts.permissions import RoleTablePolicy, declare_permission

AUDIT_STREAM_MANAGE = declare_permission("audit_stream.manage", {Role.OWNER})


class AuditStreamPolicy(RoleTablePolicy):
    """Site-wide only: owners and auditors read; owners re-send entries a receiver refused."""

    resource = "audit_stream"
    model = StreamDestination
    actions = ("read", "resend")
    site_wide = {"read": "audit.read", "resend": AUDIT_STREAM_MANAGE}

    def allows(self, actor, action, obj) -> bool:
        return self.site_allows(actor, action)

    def scope(self, actor, action):
        if self.site_allows(actor, action):
            return StreamDestination.objects.all()
        return StreamDestination.objects.none()


def register_policies() -> None:
    policy.register(AuditStreamPolicy())
