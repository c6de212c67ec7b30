"""Read-only lists: templates, workspaces (visibility and filters) and the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.accounts import services
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from portal.errors import Unauthenticated
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


# Audit log


@pytest.fixture
def audit_log(owner, member, make_user):
    """Entries written by real services: creating users, a token, a failed login."""
    services.create_token(member, actor=member, name="ci")
    with pytest.raises(Unauthenticated):
        services.authenticate_password("alice", "wrong")


def _audit(client, **params):
    r = client.get("/api/v2/audit", params)
    assert r.status_code == 200, r.content
    return r.json()["results"]


def test_audit_filters(owner, client_for, audit_log):
    client = client_for(owner)
    created = _audit(client, action="create", resource_type="api_token")
    assert [(e["actor_username"], e["resource_target"]) for e in created] == [("alice", "ci")]
    failed = _audit(client, action="login_failed")
    assert [e["resource_target"] for e in failed] == ["alice"]
    assert {e["action"] for e in _audit(client, username="ALICE")} == {"create", "login_failed"}
    users = _audit(client, resource_type="user", action="create")
    assert {e["resource_target"] for e in users} == {"admin", "alice"}


def test_audit_since_until(owner, client_for, audit_log):
    client = client_for(owner)
    old = AuditEntry.objects.get(action="login_failed")
    AuditEntry.objects.filter(pk=old.pk).update(time=timezone.now() - timedelta(days=10))
    week_ago = (timezone.now() - timedelta(days=7)).isoformat()
    recent = _audit(client, since=week_ago)
    assert old.pk not in {e["id"] for e in recent}
    assert [e["id"] for e in _audit(client, until=week_ago)] == [old.pk]
    day = (timezone.now() - timedelta(days=10)).date().isoformat()
    assert old.pk in {e["id"] for e in _audit(client, since=day, until=day)}
    assert _audit(client, since=(timezone.now() + timedelta(days=1)).isoformat()) == []


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "2024-02-30T10:00:00"])
def test_audit_invalid_date_is_400(owner, client_for, value):
    r = client_for(owner).get("/api/v2/audit", {"since": value})
    assert r.status_code == 400
    assert r.json()["validations"] == [
        {"field": "since", "detail": "Use an ISO 8601 date or date-time."}
    ]
