"""A stream through the relay marks its workspace used while open (workspaces/schedule_activity)."""

from __future__ import annotations

import asyncio

import pytest

from tests.agents.helpers import make_agent
from tests.relay.helpers import EchoAgent, Socket, client_path
from tests.workspaces.test_websocket import bearer
from workspaces import schedule_activity
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "agent-secret-token"


def test_an_open_port_forward_keeps_the_workspace_used(make_user):
    alice = make_user(username="alice")
    agent = make_agent(alice, TOKEN)
    ws_id = agent.resource.job.build.workspace_id
    collector = schedule_activity.collector
    collector.take()  # start from nothing
    seen_open = {}
    headers = bearer(alice)

    async def go():
        fake = EchoAgent(TOKEN)
        await fake.open()
        serving = asyncio.create_task(fake.serve_one())
        client = Socket(client_path(agent, 22), headers)
        await client.connect()
        await client.send_bytes(b"ping")
        await client.next()
        seen_open["open"] = dict(collector.open)
        await client.hang_up()
        await serving
        await fake.hang_up()

    asyncio.run(asyncio.wait_for(go(), 30))
    assert seen_open["open"].get(ws_id) == 1
    assert ws_id not in collector.open  # closed with the stream
    assert Workspace.objects.get(pk=ws_id).last_used_at is None  # not yet: batched
    assert collector.flush() >= 1
    assert Workspace.objects.get(pk=ws_id).last_used_at is not None
