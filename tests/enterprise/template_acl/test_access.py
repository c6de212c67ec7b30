"""Who sees and builds a template under its ACL: lists, reads, workspaces and start builds."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from enterprise.groups import services as group_services
from portal import policy
from portal.errors import Forbidden
from tests import factories
from tests.conftest import PASSWORD
from tests.workspaces.helpers import buildable_template
from workspaces import services as workspace_services
from workspaces.choices import JobStatus
from workspaces.models import ProvisionerJob, WorkspaceBuild

pytestmark = pytest.mark.django_db

REFUSAL = "You no longer have access to template Secret: ask a template admin."


def _names(client) -> set[str]:
    return {t["name"] for t in client.get("/api/v2/templates").json()["results"]}


def _create(client, template, name="dev"):
    return client.post(
        "/api/v2/workspaces", {"template_id": str(template.id), "name": name}, format="json"
    )


def _set_job(build_id, status):
    job_id = WorkspaceBuild.objects.values_list("job_id", flat=True).get(pk=build_id)
    ProvisionerJob.objects.filter(pk=job_id).update(status=status)


def _build(client, ws_id, transition):
    return client.post(
        f"/api/v2/workspaces/{ws_id}/builds", {"transition": transition}, format="json"
    )


class TestNotInTheACL:
    def test_the_template_does_not_exist_for_them(self, member, client_for, private_template):
        template = private_template()
        client = client_for(member)
        assert "secret" not in _names(client)
        for url in (
            "/api/v2/templates/secret",
            f"/api/v2/templates/{template.id}",
            "/api/v2/templates/secret/versions",
            f"/api/v2/templateversions/{template.active_version_id}",
        ):
            response = client.get(url)
            assert response.status_code == 404, url
        # As for a template that does not exist: the same refusal, nothing leaks.
        response = _create(client, template)
        nothing = SimpleNamespace(id=uuid.uuid4())
        missing = _create(client, nothing)
        assert response.status_code == missing.status_code == 400
        said = response.json()["message"].replace(str(template.id), "?")
        assert said == missing.json()["message"].replace(str(nothing.id), "?")

    def test_template_admins_and_auditors_still_see_it(
        self, make_user, client_for, private_template
    ):
        private_template()
        for role in ("template-admin", "auditor", "owner"):
            assert "secret" in _names(client_for(make_user(role)))


class TestAllowed:
    def test_through_a_group(self, member, make_group, client_for, grant, private_template):
        template = private_template()
        make_group("devs", member)
        grant(template, groups={"devs": "use"})
        client = client_for(member)
        assert "secret" in _names(client)
        assert client.get("/api/v2/templates/secret").status_code == 200
        assert _create(client, template).status_code == 201

    def test_by_name(self, member, client_for, grant, private_template):
        template = private_template()
        grant(template, users={member.username: "use"})
        assert _create(client_for(member), template).status_code == 201

    def test_through_everyone_a_new_template_by_default(self, member, client_for):
        template = buildable_template(name="open")
        client = client_for(member)
        assert "open" in _names(client)
        assert _create(client, template).status_code == 201

    def test_everyone_is_for_active_users_only(self, member, private_template, grant, system):
        template = private_template()
        grant(template, groups={"everyone": "use"})
        assert policy.can(member, "use", template)
        from portal.accounts import services as account_services

        account_services.suspend_user(member, actor=system, reason="test")
        member.refresh_from_db()
        assert not policy.can(member, "use", template)


class TestCreateOption:
    def _post(self, client, name, **extra):
        version = factories.TemplateVersionFactory(template=None, import_status="succeeded")
        body = {"name": name, "version_id": str(version.id), **extra}
        return client.post("/api/v2/templates", body, format="json")

    def test_disable_everyone_group_access(self, owner, member, client_for):
        admin = client_for(owner)
        assert self._post(admin, "shared").status_code == 201
        response = self._post(admin, "closed", disable_everyone_group_access=True)
        assert response.status_code == 201, response.content
        assert _names(client_for(member)) >= {"shared"}
        assert "closed" not in _names(client_for(member))
        acl = admin.get("/api/v2/templates/closed/acl").json()
        assert acl == {"users": [], "groups": []}
        groups = admin.get("/api/v2/templates/shared/acl").json()["groups"]
        assert [(g["name"], g["role"]) for g in groups] == [("everyone", "use")]


class TestRemovedFromTheGroup:
    @pytest.fixture
    def running(self, member, make_group, client_for, grant, private_template):
        template = private_template()
        template.display_name = "Secret"
        template.save(update_fields=["display_name"])
        devs = make_group("devs", member)
        grant(template, groups={"devs": "use"})
        response = _create(client_for(member), template)
        assert response.status_code == 201
        _set_job(response.json()["latest_build"]["id"], JobStatus.SUCCEEDED)
        return devs, response.json()["id"]

    def test_it_keeps_running_but_cannot_start_or_update(self, member, owner, client_for, running):
        devs, ws_id = running
        group_services.remove_members(devs, [member], actor=owner)
        client = client_for(member)
        ws = client.get(f"/api/v2/workspaces/{ws_id}").json()
        assert ws["status"] == "running"
        for transition in ("start",):
            response = _build(client, ws_id, transition)
            assert response.status_code == 403
            assert response.json()["message"] == REFUSAL
        response = client.post(f"/api/v2/workspaces/{ws_id}/restart", {}, format="json")
        assert (response.status_code, response.json()["message"]) == (403, REFUSAL)
        stop = _build(client, ws_id, "stop")
        assert stop.status_code == 201
        _set_job(stop.json()["id"], JobStatus.SUCCEEDED)
        assert _build(client, ws_id, "start").status_code == 403
        assert _build(client, ws_id, "delete").status_code == 201

    def test_a_build_the_system_starts_is_checked_against_the_owner(
        self, member, owner, system, running
    ):
        devs, ws_id = running
        group_services.remove_members(devs, [member], actor=owner)
        ws = workspace_services.Workspace.objects.get(pk=ws_id)
        with pytest.raises(Forbidden, match="Its owner no longer has access to template Secret"):
            workspace_services.create_build(ws, actor=system, transition="start")

    def test_the_workspace_page_says_why_and_hides_start(self, member, owner, running):
        devs, ws_id = running
        browser = Client()
        assert browser.post("/login", {"login": "alice", "password": PASSWORD}).status_code == 302
        html = browser.get("/workspaces/alice/dev").content.decode()
        assert REFUSAL not in html and 'id="action-restart"' in html
        group_services.remove_members(devs, [member], actor=owner)
        html = browser.get("/workspaces/alice/dev").content.decode()
        assert REFUSAL in html
        assert 'id="action-stop"' in html
        assert 'id="action-restart"' not in html and 'id="action-start"' not in html


class TestGateOff:
    def test_everyone_sees_and_uses_every_template(
        self, member, client_for, private_template, gate_off
    ):
        template = private_template()
        client = client_for(member)
        assert "secret" in _names(client)
        assert _create(client, template).status_code == 201


class TestQueryCount:
    def _count(self, client) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v2/templates").status_code == 200
        return len(queries)

    def _grow(self, member, make_group, grant, n: int, start: int):
        for i in range(start, start + n):
            group = make_group(f"g{i}", member)
            template = buildable_template(
                name=f"t{i}", created_hook={"disable_everyone_group_access": True}
            )
            grant(template, groups={group.name: "use"})

    def test_the_template_list_does_not_grow_with_groups_or_templates(
        self, member, make_group, grant, client_for
    ):
        client = client_for(member)
        self._grow(member, make_group, grant, 2, 0)
        self._count(client)  # the first request of a session also refreshes its token
        small = self._count(client)
        self._grow(member, make_group, grant, 12, 2)
        assert len(_names(client)) == 14
        assert self._count(client) == small
