"""The actor an identity provider acts as: "SCIM (<key name>)" in every audit entry."""

from __future__ import annotations


class ScimActor:
    """A system actor (no user row): services let it act, the audit shows its name."""

    pk = None
    id = None
    is_authenticated = True
    is_anonymous = False
    is_system = True
    is_active = True
    roles: tuple = ()

    def __init__(self, key_name: str):
        self.key_name = key_name
        self.username = f"SCIM ({key_name})"

    def has_role(self, *roles: str) -> bool:
        return False

    def __str__(self) -> str:
        return self.username
