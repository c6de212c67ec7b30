"""The audit registry: declared (resource type, action) pairs record, anything else raises."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pytest

from portal.audit import services as audit
from portal.audit import types
from portal.audit.models import AuditEntry
from tests.workspaces.helpers import buildable_template
from workspaces import services
from workspaces.builds import dispatch
from workspaces.choices import BuildReason

pytestmark = pytest.mark.django_db


class Shape(TypedDict):
    name: str
    count: int
    note: NotRequired[str | None]


@pytest.fixture
def declared():
    """A resource type of a test app, declared for this test only."""
    types.declare_actions([("poke", "Poke")])
    name = types.declare_resource("test_thing", payloads={"poke": Shape, "delete": types.NoPayload})
    yield name
    del types._resources[name]
    del types._actions["poke"]


def poke(resource_type="test_thing", action="poke", **fields):
    return audit.record(
        actor=None, action=action, resource_type=resource_type, additional_fields=fields
    )


def test_a_declared_pair_records_its_payload(declared):
    entry = poke(name="x", count=2)
    assert AuditEntry.objects.get(pk=entry.pk).additional_fields == {"name": "x", "count": 2}
    assert poke(name="x", count=2, note=None).additional_fields["note"] is None
    assert poke(action="delete").additional_fields == {}


@pytest.mark.parametrize(
    ("resource_type", "action", "fields", "message"),
    [
        ("no_such_thing", "poke", {"name": "x", "count": 1}, "Undeclared audit resource type"),
        ("test_thing", "write", {}, "Undeclared audit action"),
        ("test_thing", "poke", {"name": "x"}, "lacks ['count']"),
        ("test_thing", "poke", {"name": "x", "count": 1, "extra": 1}, "undeclared keys"),
        ("test_thing", "poke", {"name": "x", "count": "1"}, "count='1'"),
        ("test_thing", "poke", {"name": "x", "count": True}, "count=True"),
        ("test_thing", "poke", {"name": "x", "count": 1, "note": 3}, "note=3"),
        ("test_thing", "delete", {"any": 1}, "undeclared keys"),
    ],
)
def test_anything_else_raises_at_once_and_writes_nothing(
    declared, resource_type, action, fields, message
):
    with pytest.raises(types.AuditTypeError, match=message.replace("[", r"\[")):
        poke(resource_type, action, **fields)
    assert not AuditEntry.objects.exists()


def test_declaring_twice_differently_or_an_undeclared_action_raises(declared):
    with pytest.raises(types.AuditTypeError):
        types.declare_resource("test_thing", payloads={"poke": types.NoPayload})
    with pytest.raises(types.AuditTypeError):
        types.declare_resource("other_thing", payloads={"jump": types.NoPayload})
    with pytest.raises(types.AuditTypeError):
        types.declare_resource("other_thing", payloads={"poke": dict})
    with pytest.raises(types.AuditTypeError):
        types.declare_actions([("poke", "Prod")])
    types.declare_resource("test_thing", payloads={"poke": Shape, "delete": types.NoPayload})


def test_choices_come_from_the_registry(declared):
    field = AuditEntry._meta.get_field
    assert ("test_thing", "Test Thing") in field("resource_type").choices
    assert ("poke", "Poke") in field("action").choices
    # Core's and every app's, with the strings stored before the registry.
    resource_types = {value for value, _ in types.resource_type_choices()}
    assert {"user", "api_token", "template", "template_version", "file", "workspace"} <= (
        resource_types
    )
    assert {"workspace_build", "workspace_agent", "workspace_app"} <= resource_types
    actions = {value for value, _ in types.action_choices()}
    assert {"create", "write", "delete", "start", "stop", "connect", "open", "close"} <= actions


@pytest.fixture
def build_entries(member, monkeypatch):
    monkeypatch.setattr(dispatch, "enqueue", lambda job: None)
    ws = services.create_workspace(
        actor=member, owner=member, template=buildable_template(), name="dev"
    )
    services.cancel_build(ws.latest_build, actor=member)
    return list(AuditEntry.objects.filter(resource_type="workspace_build").order_by("id"))


def test_build_entries_carry_initiator_and_reason_columns(member, build_entries):
    queued, canceled = build_entries
    assert (queued.action, canceled.action) == ("start", "write")
    for entry in build_entries:
        assert (entry.build_initiator_id, entry.build_reason) == (member.pk, BuildReason.INITIATOR)
        assert "initiator" not in entry.additional_fields  # a column now
    assert not AuditEntry.objects.exclude(resource_type="workspace_build").filter(
        build_reason__isnull=False
    )


def test_the_audit_api_shows_the_build_columns(owner, member, client_for, build_entries):
    r = client_for(owner).get("/api/v2/audit", {"resource_type": "workspace_build"})
    assert r.status_code == 200
    rows = r.json()["results"]
    assert {(row["build_initiator_id"], row["build_reason"]) for row in rows} == {
        (str(member.pk), "initiator")
    }
    r = client_for(owner).get("/api/v2/audit", {"build_reason": "autostop"})
    assert r.status_code == 200 and r.json()["results"] == []
