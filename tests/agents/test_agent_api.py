"""GET /api/v2/workspaceagents/{id}: visible to whoever may see the workspace."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.agents.helpers import make_agent
from workspaces.models import WorkspaceAgent

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


def test_owner_sees_the_agent_with_status_and_apps(alice, client_for):
    agent = make_agent(alice)
    now = timezone.now()
    WorkspaceAgent.objects.filter(pk=agent.pk).update(
        first_connected_at=now, last_connected_at=now, last_seen_at=now, version="1.0"
    )
    r = client_for(alice).get(f"/api/v2/workspaceagents/{agent.id}")
    assert r.status_code == 200
    body = r.json()
    assert (body["id"], body["name"], body["status"], body["version"]) == (
        str(agent.id),
        "main",
        "connected",
        "1.0",
    )
    assert body["lifecycle_state"] == "created" and body["lifecycle_reason"] == ""
    assert body["last_seen_at"] and body["first_connected_at"]
    assert (body["os"], body["arch"], body["directory"]) == ("linux", "amd64", "/home/coder")
    assert [(a["slug"], a["health"]) for a in body["apps"]] == [("preview", "initializing")]
    assert body["workspace_id"] == str(agent.resource.job.build.workspace_id)

    # The workspace detail shows the same status.
    ws = client_for(alice).get(f"/api/v2/workspaces/{body['workspace_id']}").json()
    [resource] = ws["resources"]
    [shown] = resource["agents"]
    assert shown["status"] == "connected" and shown["last_seen_at"] == body["last_seen_at"]


def test_another_member_gets_404(alice, make_user, client_for):
    agent = make_agent(alice)
    bob = make_user(username="bob")
    for path in (f"/api/v2/workspaceagents/{agent.id}", f"/api/v2/workspaceagents/{agent.id}/logs"):
        r = client_for(bob).get(path)
        assert r.status_code == 404, path
        assert set(r.json()) == {"message", "detail", "validations"}


def test_an_agent_of_a_deleted_workspace_is_gone(alice, client_for):
    agent = make_agent(alice)
    ws = agent.resource.job.build.workspace
    ws.deleted_at = timezone.now()
    ws.save(update_fields=["deleted_at"])
    assert client_for(alice).get(f"/api/v2/workspaceagents/{agent.id}").status_code == 404


def test_bad_log_paging_is_a_validation_error(alice, client_for):
    agent = make_agent(alice)
    r = client_for(alice).get(f"/api/v2/workspaceagents/{agent.id}/logs?limit=0")
    assert r.status_code == 400
    assert r.json()["validations"][0]["field"] == "limit"
