"""Template ACL tests: builds are recorded, not sent; groups and templates made through services."""

from __future__ import annotations

import pytest

from enterprise.groups import services as group_services
from enterprise.template_acl import services as acl_services
from portal import hooks
from tests.workspaces.helpers import buildable_template


@pytest.fixture(autouse=True)
def enqueued(monkeypatch) -> list:
    from workspaces.builds import dispatch

    sent: list = []
    monkeypatch.setattr(dispatch, "enqueue", sent.append)
    return sent


@pytest.fixture
def make_group(owner):
    def make(name: str, *members):
        group = group_services.create_group(actor=owner, name=name)
        if members:
            group_services.add_members(group, members, actor=owner)
        return group

    return make


@pytest.fixture
def private_template():
    """A buildable template nobody but template admins may use (Everyone disabled)."""

    def make(name: str = "secret"):
        return buildable_template(name=name, created_hook={"disable_everyone_group_access": True})

    return make


@pytest.fixture
def grant(owner):
    def give(template, *, users=None, groups=None):
        return acl_services.update_acl(template, actor=owner, user_perms=users, group_perms=groups)

    return give


@pytest.fixture
def gate_off():
    """Licensing turns template_rbac off (a feature_gate handler answering False)."""

    def resolve(name):
        return False if name == "template_rbac" else None

    hooks.feature_gate.register(resolve)
    yield
    hooks.feature_gate.unregister(resolve)
