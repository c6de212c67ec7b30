"""PATCH /api/v2/workspaceagents/me/logs: a watcher beside the agent (a container or pod
follower) posts lines with the agent's token; the owner reads them in the startup log."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone

from tests.agents.helpers import make_agent
from workspaces.logstream.sink import LOGS_PATH, AgentLogSink
from workspaces.models import WorkspaceAgent

pytestmark = pytest.mark.django_db
TOKEN = "agent-secret-token"


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


def report(body, token: str | None = TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().patch(LOGS_PATH, json.dumps(body), content_type="application/json", **headers)


def test_lines_posted_with_the_agent_token_reach_its_startup_log(alice, client_for):
    agent = make_agent(alice, token=TOKEN)

    r = report({"source": "docker", "logs": [
        {"output": "Container portal-alice-box started; waiting for the agent to connect"},
        {"output": "Container portal-alice-box exited with code 3 (an error)", "level": "error"},
    ]})  # fmt: skip

    assert r.status_code == 200, r.content
    assert r.json() == {"stored": 2, "dropped": 0, "connected": False,
                        "lifecycle_state": "created"}  # fmt: skip
    page = client_for(alice).get(f"/api/v2/workspaceagents/{agent.id}/logs").json()
    assert [(x["source"], x["level"], x["output"][:24]) for x in page["results"]] == [
        ("docker", "info", "Container portal-alice-b"),
        ("docker", "error", "Container portal-alice-b"),
    ]


def test_the_answer_says_when_the_agent_has_connected(alice):
    agent = make_agent(alice, token=TOKEN)
    now = timezone.now()
    WorkspaceAgent.objects.filter(pk=agent.pk).update(first_connected_at=now,
                                                      last_connected_at=now)  # fmt: skip

    r = report({"logs": []})

    assert r.status_code == 200 and r.json()["connected"] is True


def test_a_wrong_token_or_a_user_credential_is_refused(alice, client_for):
    make_agent(alice, token=TOKEN)
    assert report({"logs": [{"output": "x"}]}, token="not-the-token").status_code == 401
    assert report({"logs": [{"output": "x"}]}, token=None).status_code == 401
    # A signed-in user is no agent.
    r = client_for(alice).patch(LOGS_PATH, {"logs": [{"output": "x"}]}, format="json")
    assert r.status_code == 401


def test_bad_bodies_get_a_clear_error(alice):
    make_agent(alice, token=TOKEN)
    r = report({"logs": "not a list"})
    assert r.status_code == 400
    assert "logs" in json.dumps(r.json())


class DjangoTransport:
    """AgentLogSink's HTTP client, answered by Django in process."""

    def patch(self, url, json=None, headers=None):
        import json as _json

        class Answer:
            def __init__(self, response):
                self.status_code = response.status_code
                self._body = response.content

            def json(self):
                return _json.loads(self._body)

        auth = (headers or {}).get("Authorization", "")
        path = url.split("://", 1)[1].split("/", 1)[1]
        return Answer(Client().patch("/" + path, _json.dumps(json), content_type="application/json",
                                     HTTP_AUTHORIZATION=auth))  # fmt: skip


def test_the_sink_keeps_lines_while_the_token_is_refused_and_delivers_them_later(alice):
    sink = AgentLogSink("http://portal.example", TOKEN, "docker", client=DjangoTransport())
    sink.add("Building image portal-workspace-1\nStep 1/3 : FROM debian:12")

    assert sink.flush() is False  # the start build has not recorded the agent yet
    assert sink.pending == 2

    agent = make_agent(alice, token=TOKEN)
    assert sink.flush() is True
    assert sink.pending == 0 and sink.delivered == 2
    rows = list(agent.logs.order_by("id").values_list("source", "output"))
    assert rows == [("docker", "Building image portal-workspace-1"),
                    ("docker", "Step 1/3 : FROM debian:12")]  # fmt: skip
