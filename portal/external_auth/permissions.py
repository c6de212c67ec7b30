"""Policy of external auth links: each signed-in user sees and removes only their own."""

from __future__ import annotations

from portal import policy
from portal.external_auth.models import ExternalAuthLink


class ExternalAuthPolicy(policy.Policy):
    resource = "external_auth"
    model = ExternalAuthLink
    actions = ("read", "delete")

    def allows(self, actor, action, obj) -> bool:
        if not policy.active(actor):
            return False
        return obj is None or obj.user_id == actor.pk

    def scope(self, actor, action):
        if not policy.active(actor):
            return ExternalAuthLink.objects.none()
        return ExternalAuthLink.objects.filter(user=actor)


def register_policies() -> None:
    policy.register(ExternalAuthPolicy())
