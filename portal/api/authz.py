"""What each API view authorizes, and the DRF permission that asks the policy before a view runs.

A view declares `authorizes = {"GET": Authz("workspace", "read"), ...}`: the (resource, action)
its method needs. `whole=True` asks about the resource as a whole (create, or a site-wide
action) and is checked here, before the view (403 naming the roles). Otherwise the view looks
the object up among what the policy lets the caller see (`policy.visible_to`), so another
user's object is "not found" (404), never "forbidden". `many=True` marks a list: any active
caller may ask, and sees what `policy.visible_to` gives.
"""

from __future__ import annotations

from typing import NamedTuple

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from portal import policy


class Authz(NamedTuple):
    resource: str
    action: str
    whole: bool = False  # the resource as a whole: checked here before the view
    many: bool = False  # a list: for any active caller, of what policy.visible_to gives


def declared(view, method: str) -> Authz | None:
    return (getattr(view, "authorizes", None) or {}).get(method.upper())


class PolicyGate(BasePermission):
    """Refuses a method whose declared action on the whole resource the policy refuses."""

    def has_permission(self, request, view) -> bool:
        authz = declared(view, request.method)
        if authz is None or not authz.whole:
            return True
        if policy.can(request.user, authz.action, authz.resource):
            return True
        raise PermissionDenied(policy.policy_for(authz.resource).refusal(authz.action))
