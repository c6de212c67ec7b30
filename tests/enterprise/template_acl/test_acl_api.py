"""GET/PATCH /api/v2/templates/{id}/acl, the ACL admin role, and the policy's grants."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from enterprise.template_acl.models import TemplateACL
from portal import policy
from portal.audit.models import AuditEntry
from tests import factories
from tests.workspaces.helpers import buildable_template

pytestmark = pytest.mark.django_db


class TestRead:
    def test_users_and_groups_with_their_roles(self, owner, member, make_group, client_for):
        template = buildable_template(name="py")
        make_group("devs", member)
        client = client_for(owner)
        body = {"user_perms": {"alice": "admin"}, "group_perms": {"devs": "use"}}
        assert client.patch("/api/v2/templates/py/acl", body, format="json").status_code == 200
        acl = client.get(f"/api/v2/templates/{template.id}/acl").json()
        assert acl["users"] == [
            {"id": str(member.id), "username": "alice", "name": member.name, "role": "admin"}
        ]
        groups = {g["name"]: (g["role"], g["members"]) for g in acl["groups"]}
        assert groups == {"devs": ("use", 1), "everyone": ("use", 2)}

    def test_a_member_who_sees_the_template_may_not_read_its_acl(
        self, member, client_for, private_template
    ):
        buildable_template(name="py")
        private_template()
        client = client_for(member)
        response = client.get("/api/v2/templates/py/acl")
        assert response.status_code == 403
        assert "admin role" in response.json()["message"]
        assert client.get("/api/v2/templates/secret/acl").status_code == 404


class TestPatch:
    def test_an_empty_role_removes_and_the_change_is_audited(self, owner, client_for):
        template = buildable_template(name="py")
        client = client_for(owner)
        body = {"group_perms": {"everyone": ""}, "user_perms": {"admin": "use"}}
        response = client.patch("/api/v2/templates/py/acl", body, format="json")
        assert response.status_code == 200
        assert response.json()["groups"] == []
        assert not TemplateACL.objects.filter(template=template, group__is_everyone=True)
        entry = AuditEntry.objects.filter(resource_type="template", action="write").latest("time")
        assert (entry.resource_target, entry.actor_username) == ("py", "admin")
        assert entry.diff["acl.groups.everyone"] == {"old": "use", "new": None, "secret": False}
        assert entry.diff["acl.users.admin"]["new"] == "use"

    def test_unknown_names_and_roles_are_refused_and_nothing_is_written(
        self, owner, member, client_for
    ):
        template = buildable_template(name="py")
        before = list(TemplateACL.objects.filter(template=template).values_list("role"))
        body = {
            "user_perms": {"alice": "admin", "nobody": "use"},
            "group_perms": {"ghosts": "use", "everyone": "owner"},
        }
        response = client_for(owner).patch("/api/v2/templates/py/acl", body, format="json")
        assert response.status_code == 400
        message = response.json()["message"]
        assert "No user 'nobody'" in message and "No group 'ghosts'" in message
        assert "'owner'" in message
        assert list(TemplateACL.objects.filter(template=template).values_list("role")) == before
        assert not policy.can(member, "update", template)


class TestAdminRole:
    def test_manages_that_template_only(self, member, owner, client_for, grant):
        mine = buildable_template(name="mine")
        other = buildable_template(name="other")
        grant(mine, users={"alice": "admin"})
        client = client_for(member)
        response = client.patch("/api/v2/templates/mine", {"description": "Mine"}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["description"] == "Mine"
        body = {"group_perms": {"everyone": ""}}
        assert client.patch("/api/v2/templates/mine/acl", body, format="json").status_code == 200
        assert client.get("/api/v2/templates/mine").status_code == 200  # still theirs
        response = client.patch("/api/v2/templates/other", {"description": "x"}, format="json")
        assert response.status_code == 403
        assert client.get("/api/v2/templates/other/acl").status_code == 403
        # can and visible_to agree on what the grant allows
        assert policy.can(member, "update", mine) and not policy.can(member, "update", other)
        assert set(policy.visible_to(member, "template", "update")) == {mine}
        assert not policy.can(member, "update", "template")  # never the resource as a whole
        assert set(policy.visible_to(owner, "template", "update")) == {mine, other}

    def test_the_grant_goes_with_the_gate(self, member, client_for, grant, gate_off):
        mine = buildable_template(name="mine")
        grant(mine, users={"alice": "admin"})
        assert not policy.can(member, "update", mine)
        response = client_for(member).patch(
            "/api/v2/templates/mine", {"description": "x"}, format="json"
        )
        assert response.status_code == 403


def test_the_upgrade_lets_everyone_use_every_existing_template(member):
    old = factories.TemplateFactory(
        name="old", created_hook={"disable_everyone_group_access": True}
    )
    assert not policy.can(member, "use", old)
    migration = importlib.import_module(
        "enterprise.template_acl.migrations.0002_everyone_uses_existing_templates"
    )
    migration.grant_everyone(apps, None)
    migration.grant_everyone(apps, None)  # twice changes nothing
    assert policy.can(member, "use", old)
    assert TemplateACL.objects.filter(template=old).count() == 1
