"""The actor an identity provider's changes are recorded under (audit shows its username)."""

from __future__ import annotations


class IdPActor:
    """Not a user row: pk None, a system actor (services let it manage IdP-owned data)."""

    pk = None
    id = None
    is_authenticated = True
    is_anonymous = False
    is_system = True
    is_active = True
    is_superuser = False
    roles: tuple[str, ...] = ()

    def __init__(self, username: str = "OIDC"):
        self.username = username

    def has_role(self, *roles: str) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


OIDC_ACTOR = IdPActor("OIDC")
