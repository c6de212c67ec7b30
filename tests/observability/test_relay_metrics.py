"""Relay metrics through a real stream (the ASGI app, Redis channel layer, an echoing agent):
the open-streams gauge while it is open, the bytes once it ends."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection

from portal.observability import exposition
from tests.agents.helpers import make_agent
from tests.observability.helpers import value
from tests.relay.helpers import EchoAgent, Socket, client_path
from tests.workspaces.test_websocket import bearer

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "agent-secret-token"


def scrape() -> str:
    return exposition.render().decode()


def scrape_in_thread() -> str:
    try:
        return scrape()
    finally:
        connection.close()  # the thread's own connection, before the test database goes


def test_streams_open_and_bytes_relayed(make_user):
    alice = make_user(username="alice")
    agent = make_agent(alice, TOKEN)
    headers = bearer(alice)
    before = scrape()

    async def go():
        fake = EchoAgent(TOKEN)
        await fake.open()
        serving = asyncio.create_task(fake.serve_one())
        client = Socket(client_path(agent, 5432), headers)
        await client.connect()
        await client.send_bytes(b"x" * 1000)
        got = b""
        while len(got) < 1000:
            got += (await client.next())["bytes"]
        during = await asyncio.to_thread(scrape_in_thread)
        await client.hang_up()
        await serving
        await fake.hang_up()
        return during

    during = asyncio.run(asyncio.wait_for(go(), 30))
    after = scrape()
    opened = value(during, "portal_relay_streams_open", kind="tcp")
    assert opened == value(before, "portal_relay_streams_open", kind="tcp") + 1
    assert value(after, "portal_relay_streams_open", kind="tcp") == opened - 1
    for direction in ("client_to_agent", "agent_to_client"):
        sent = value(after, "portal_relay_bytes_total", direction=direction)
        assert sent - value(before, "portal_relay_bytes_total", direction=direction) == 1000
