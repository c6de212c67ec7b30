"""Read-only lists: templates and workspaces (visibility and filters); the audit log's are in
tests/enterprise/audit/."""

from __future__ import annotations

import pytest
from django.utils import timezone

from portal.accounts.choices import Role
from tests import factories
from workspaces.choices import BuildTransition, JobStatus

pytestmark = pytest.mark.django_db


def _names(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["name"] for row in response.json()["results"]}


def test_templates_list_shows_live_templates(member, client_for):
    factories.TemplateFactory(name="docker", display_name="")
    factories.TemplateFactory(name="gone", deleted_at=timezone.now())
    r = client_for(member).get("/api/v2/templates")
    assert _names(r) == {"docker"}
    row = r.json()["results"][0]
    assert row["display_name"] == "docker"  # falls back to the name
    assert row["active_version_id"]


@pytest.fixture
def workspaces(owner, member, make_user):
    bob = make_user(username="bob")
    template = factories.TemplateFactory(name="docker")
    return {
        "alice-dev": factories.workspace(member, template=template, name="alice-dev"),
        "alice-off": factories.workspace(
            member, template=template, name="alice-off", transition=BuildTransition.STOP
        ),
        "bob-dev": factories.workspace(
            bob, template=template, name="bob-dev", job_status=JobStatus.RUNNING
        ),
        "admin-new": factories.workspace(
            owner, template=template, name="admin-new", transition=None
        ),
    }


def test_member_sees_only_their_own_workspaces(member, client_for, workspaces):
    client = client_for(member)
    assert _names(client.get("/api/v2/workspaces")) == {"alice-dev", "alice-off"}
    assert _names(client.get("/api/v2/workspaces", {"owner": "bob"})) == set()


def test_template_admin_sees_all_and_filters_by_owner(make_user, client_for, workspaces):
    client = client_for(make_user(Role.TEMPLATE_ADMIN))
    assert _names(client.get("/api/v2/workspaces")) == set(workspaces)
    assert _names(client.get("/api/v2/workspaces", {"owner": "BOB"})) == {"bob-dev"}
    assert _names(client.get("/api/v2/workspaces", {"owner": "me"})) == set()


def test_owner_me_filter(owner, client_for, workspaces):
    assert _names(client_for(owner).get("/api/v2/workspaces", {"owner": "me"})) == {"admin-new"}


def test_workspace_rows_show_status_and_latest_build(owner, client_for, workspaces):
    rows = {
        row["name"]: row for row in client_for(owner).get("/api/v2/workspaces").json()["results"]
    }
    assert {name: row["status"] for name, row in rows.items()} == {
        "alice-dev": "running",
        "alice-off": "stopped",
        "bob-dev": "starting",
        "admin-new": "pending",
    }
    assert rows["admin-new"]["latest_build"] is None
    build = rows["alice-dev"]["latest_build"]
    assert build["build_number"] == 1
    assert build["job_status"] == "succeeded"
    assert rows["alice-dev"]["owner_name"] == "alice"
    assert rows["alice-dev"]["outdated"] is False


def test_status_filter(owner, client_for, workspaces):
    client = client_for(owner)
    assert _names(client.get("/api/v2/workspaces", {"status": "running"})) == {"alice-dev"}
    assert _names(client.get("/api/v2/workspaces", {"status": "stopped"})) == {"alice-off"}
    assert _names(client.get("/api/v2/workspaces", {"status": "starting"})) == {"bob-dev"}
    assert _names(client.get("/api/v2/workspaces", {"status": "pending"})) == {"admin-new"}
    r = client.get("/api/v2/workspaces", {"status": "sleeping"})
    assert r.status_code == 400
    assert r.json()["validations"][0]["field"] == "status"


def test_deleted_workspaces_are_not_listed(owner, client_for, workspaces):
    workspaces["alice-dev"].deleted_at = timezone.now()
    workspaces["alice-dev"].save(update_fields=["deleted_at"])
    assert "alice-dev" not in _names(client_for(owner).get("/api/v2/workspaces"))
