"""Terminal (kind=pty) streams through the relay: authorized as "terminal", options to the agent."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from portal import hooks
from portal.errors import Conflict
from tests.agents.helpers import make_agent
from tests.relay.helpers import EchoAgent, Socket
from tests.workspaces.test_websocket import bearer

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "agent-secret-token"


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


@pytest.fixture
def agent(alice):
    return make_agent(alice, TOKEN)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def pty_path(agent, query: str) -> str:
    return f"/api/v2/workspaceagents/{agent.pk}/streams?kind=pty&{query}"


def test_pty_stream_carries_its_options_to_the_agent_and_relays(agent, alice):
    reconnect = str(uuid.uuid4())
    headers = bearer(alice)
    seen = []

    def record(user, kind):
        seen.append(kind)

    async def go():
        fake = EchoAgent(TOKEN)
        await fake.open()
        serving = asyncio.create_task(fake.serve_one())
        path = pty_path(agent, f"reconnect={reconnect}&rows=40&cols=120&command=htop%20-d%201")
        client = Socket(path, headers)
        await client.connect()
        await client.send_bytes(b"ls\r")
        echoed = (await client.next())["bytes"]
        await client.hang_up()
        await serving
        await fake.hang_up()
        return fake.opened[0], echoed

    hooks.connection_policy.register(record)
    try:
        opened, echoed = run(go())
    finally:
        hooks.connection_policy.unregister(record)
    assert seen == ["terminal"]
    assert opened["kind"] == "pty" and opened["port"] is None
    assert opened["reconnect"] == reconnect
    assert (opened["rows"], opened["cols"], opened["command"]) == (40, 120, "htop -d 1")
    assert echoed == b"ls\r"


def test_pty_size_defaults_and_empty_command(agent, alice):
    headers = bearer(alice)

    async def go():
        fake = EchoAgent(TOKEN)
        await fake.open()
        serving = asyncio.create_task(fake.serve_one())
        client = Socket(pty_path(agent, f"reconnect={uuid.uuid4()}"), headers)
        await client.connect()
        await client.hang_up()
        await serving
        await fake.hang_up()
        return fake.opened[0]

    opened = run(go())
    assert (opened["rows"], opened["cols"], opened["command"]) == (24, 80, "")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "reconnect"),
        ("reconnect=nope", "reconnect"),
        (f"reconnect={uuid.uuid4()}&rows=0", "rows"),
    ],
)
def test_bad_pty_options_are_refused(agent, alice, query, field):
    headers = bearer(alice)

    async def go():
        return await Socket(pty_path(agent, query), headers).refused()

    closed = run(go())
    assert closed["code"] == 4400
    assert field in closed["reason"]


def test_terminal_policy_refusal(agent, alice):
    headers = bearer(alice)

    def no_terminals(user, kind):
        if kind == "terminal":
            raise Conflict("Terminals are disabled.")

    async def go():
        fake = EchoAgent(TOKEN)
        await fake.open()
        closed = await Socket(pty_path(agent, f"reconnect={uuid.uuid4()}"), headers).refused()
        await fake.hang_up()
        return closed

    hooks.connection_policy.register(no_terminals)
    try:
        closed = run(go())
    finally:
        hooks.connection_policy.unregister(no_terminals)
    assert (closed["code"], closed["reason"]) == (4409, "Terminals are disabled.")
