"""Groups to act on: a Portal group, an IdP-owned one, and the SCIM actor that owns it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from enterprise.groups import services
from enterprise.groups.choices import GroupSource
from enterprise.groups.membership import everyone
from tests.cli.conftest import cli  # noqa: F401  (the CLI against a live server)


@dataclass
class IdPActor:
    """An identity provider acting on its own groups (what the SCIM and OIDC apps pass)."""

    username: str = "SCIM (okta)"
    pk: None = None
    id: None = None
    is_authenticated: bool = True
    is_system: bool = True
    is_active: bool = True
    roles: tuple = ()

    def has_role(self, role) -> bool:
        return False


@pytest.fixture
def idp():
    return IdPActor()


@pytest.fixture
def team(system, member):
    """The Portal group "team" with alice in it."""
    group = services.create_group(actor=system, name="team", display_name="The team")
    services.add_members(group, [member], actor=system)
    return group


@pytest.fixture
def scim_group(idp, member):
    """The SCIM-owned group "engineering" with alice in it."""
    group = services.create_group(
        actor=idp, name="engineering", display_name="Engineering", source=GroupSource.SCIM
    )
    services.add_members(group, [member], actor=idp)
    return group


@pytest.fixture
def everyone_group(db):
    return everyone()
