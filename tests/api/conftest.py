"""A small world for API tests: one user per role, a member whose things the others act on,
another member, a suspended user, and their clients."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from rest_framework.test import APIClient

from portal.accounts import services
from portal.accounts.choices import Role

# "member" owns the objects the requests act on (its workspaces, its account); "another-member"
# is a plain member acting on them.
CALLERS = (
    "owner",
    "template-admin",
    "user-admin",
    "auditor",
    "member",
    "another-member",
    "suspended",
    "anonymous",
)
STRONG_PASSWORD = "a-Strong-passw0rd!"


@dataclass
class World:
    users: dict = field(default_factory=dict)  # caller -> User (no entry for anonymous)
    clients: dict = field(default_factory=dict)  # caller -> APIClient
    tokens: dict = field(default_factory=dict)  # caller -> a named APIToken of that caller
    target: object = None  # the plain member ("member") whose things the others act on


@pytest.fixture
def world(make_user, client_for, system) -> World:
    w = World()
    for caller in CALLERS[:-1]:
        role = caller if caller in Role.values else Role.MEMBER
        user = make_user(role, username=f"{caller}-user")
        w.users[caller] = user
        w.clients[caller] = client_for(user)
        w.tokens[caller], _ = services.create_token(user, actor=user, name="ci")
    # Suspended after its credentials exist: they still authenticate, and must get 403.
    services.suspend_user(w.users["suspended"], actor=system, reason="test")
    w.users["suspended"].refresh_from_db()
    w.clients["anonymous"] = APIClient()
    w.target = w.users["member"]
    return w
