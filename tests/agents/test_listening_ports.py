"""Listening ports the agent reports: stored on change, announced to the owner, read by the API."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from rest_framework.test import APIClient

from portal import user_events
from tests.agents.helpers import FakeAgent, make_agent
from tests.workspaces.test_websocket import WAIT
from workspaces.models import WorkspaceAgent

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "agent-secret-token"
PORTS = [
    {"port": 8000, "network": "tcp", "process_name": "python3"},
    {"port": 3000, "network": "tcp", "process_name": "node"},
]


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


@pytest.fixture
def agent(alice):
    return make_agent(alice, TOKEN, name="dev")


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_report_is_stored_sorted_announced_once_and_listed_with_urls(agent, alice):
    async def ports_event(layer, channel) -> dict:
        while "ports" not in (message := await layer.receive(channel))["event"]:
            pass  # the connection's own event
        return message

    async def go():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(user_events.group_name(alice.pk), channel)
        fake = FakeAgent(TOKEN)
        assert await fake.open() is None
        await fake.send({"type": "listening_ports", "ports": PORTS})
        first = await asyncio.wait_for(ports_event(layer, channel), WAIT)
        await fake.send({"type": "listening_ports", "ports": list(reversed(PORTS))})  # no change
        await fake.send({"type": "listening_ports", "ports": PORTS[:1]})
        second = await asyncio.wait_for(ports_event(layer, channel), WAIT)
        listed = await database_sync_to_async(
            lambda: api(alice).get(f"/api/v2/workspaceagents/{agent.id}/listening-ports").json()
        )()
        await fake.send({"type": "listening_ports", "ports": [{"port": 70000}]})
        error = await fake.receive()
        await fake.hang_up()
        return first, second, listed, error

    first, second, listed, error = asyncio.run(go())
    assert first["event"]["kind"] == "agent" and first["event"]["ports"] == 2
    assert second["event"]["ports"] == 1  # the unchanged report announced nothing
    [port] = listed["ports"]
    assert (port["port"], port["process_name"], port["host_url"]) == (8000, "python3", None)
    assert port["url"].endswith("/@alice/dev.main/ports/8000/")
    assert error["type"] == "error" and "65535" in error["message"]
    assert WorkspaceAgent.objects.get(pk=agent.pk).listening_ports == PORTS[:1]


def test_a_disconnected_agents_ports_are_not_listed(agent, alice, make_user):
    WorkspaceAgent.objects.filter(pk=agent.pk).update(listening_ports=PORTS)
    response = api(alice).get(f"/api/v2/workspaceagents/{agent.id}/listening-ports")
    assert response.status_code == 200 and response.json() == {"ports": []}
    bob = make_user(username="bob")
    refused = api(bob).get(f"/api/v2/workspaceagents/{agent.id}/listening-ports")
    assert refused.status_code == 404
