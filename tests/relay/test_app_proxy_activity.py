"""App traffic through the app proxy marks its workspace used (workspaces/schedule_activity)."""

from __future__ import annotations

import pytest

from tests.relay.test_app_proxy import agent, alice, auth, server_port, through_agent  # noqa: F401
from workspaces import schedule_activity
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_app_request_marks_the_workspace_used(agent, alice):  # noqa: F811
    ws_id = agent.resource.job.build.workspace_id
    collector = schedule_activity.collector
    collector.take()
    response, _ = through_agent("GET", "/@alice/dev/apps/preview/", headers=auth(alice))
    assert response.status_code == 200
    assert ws_id in collector.seen
    collector.flush()
    assert Workspace.objects.get(pk=ws_id).last_used_at is not None


def test_a_refused_request_marks_nothing(agent, make_user):  # noqa: F811
    bob = make_user(username="bob")
    collector = schedule_activity.collector
    collector.take()
    response, _ = through_agent("GET", "/@alice/dev/apps/preview/", headers=auth(bob))
    assert response.status_code == 404
    assert agent.resource.job.build.workspace_id not in collector.seen


def test_a_port_request_marks_the_workspace_used(agent, alice, server_port):  # noqa: F811
    ws_id = agent.resource.job.build.workspace_id
    collector = schedule_activity.collector
    collector.take()
    path = f"/@alice/dev/ports/{server_port}/"
    response, opened = through_agent("GET", path, headers=auth(alice))
    assert response.status_code == 200
    assert opened[0]["kind"] == "tcp" and opened[0]["port"] == server_port
    assert ws_id in collector.seen
