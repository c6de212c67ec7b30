"""Many agent control sockets in one process: stream requests routed, heartbeats and hang-ups
recorded together (workspaces/agent_consumer.ControlHub), over real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from portal import config
from tests.agents.helpers import FakeAgent, make_agent
from tests.workspaces.test_websocket import WAIT
from workspaces.connectivity import agents, relay
from workspaces.models import Workspace, WorkspaceAgent

pytestmark = pytest.mark.django_db(transaction=True)
COUNT = 12


@pytest.fixture
def fleet(make_user):
    owner = make_user(username="alice")
    return [make_agent(owner, f"agent-token-{n}") for n in range(COUNT)]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def group_size(agent) -> int:
    layer = get_channel_layer()
    key = layer._group_key(relay.control_group(agent.pk))
    return await layer.connection(layer.consistent_hash(key)).zcard(key)


def test_agents_hanging_up_together_are_all_recorded_and_leave_their_groups(fleet):
    async def go():
        fakes = [FakeAgent(f"agent-token-{n}") for n in range(COUNT)]
        for fake in fakes:
            assert await fake.open() is None
        joined = [await group_size(agent) for agent in fleet]
        await asyncio.gather(*(fake.hang_up() for fake in fakes))
        left = [await group_size(agent) for agent in fleet]
        return joined, left

    joined, left = run(go())
    assert joined == [1] * COUNT and left == [0] * COUNT
    for row in WorkspaceAgent.objects.filter(pk__in=[a.pk for a in fleet]):
        assert agents.agent_status(row) == "disconnected"


def test_a_stream_request_reaches_every_socket_of_its_agent_and_no_other(fleet):
    wanted = fleet[0]
    request = {
        "type": "agent.open_stream",
        "stream": "5b7c2a1e-0d3f-4a55-9b8e-1c2d3e4f5a6b",
        "kind": "pty",
        "port": None,
        "reconnect": "c0ffee00-0000-4000-8000-000000000000",
        "rows": 40,
        "cols": 120,
    }

    async def go():
        old, new = FakeAgent("agent-token-0"), FakeAgent("agent-token-0")
        bystander = FakeAgent("agent-token-1")  # another agent
        for fake in (old, new, bystander):
            assert await fake.open() is None
        await get_channel_layer().group_send(relay.control_group(wanted.pk), request)
        got = [await old.receive(), await new.receive()]
        quiet = await bystander.nothing_more()
        for fake in (old, new, bystander):
            await fake.hang_up()
        return got, quiet

    got, quiet = run(go())
    expected = {**request, "type": "open_stream"}
    assert got == [expected, expected]
    assert quiet


def test_the_heartbeats_of_many_agents_are_all_recorded(fleet, monkeypatch, request):
    monkeypatch.setenv("PORTAL_AGENT_INACTIVE_SECONDS", "1")  # last_seen written every 0.5 s
    config.load.cache_clear()
    request.addfinalizer(config.load.cache_clear)
    before = timezone.now()

    async def go():
        fakes = [FakeAgent(f"agent-token-{n}") for n in range(COUNT)]
        for fake in fakes:
            assert await fake.open() is None
        await asyncio.sleep(0.6)
        for n, fake in enumerate(fakes):
            await fake.send({"type": "ping", "t": n})
        pongs = [await fake.receive() for fake in fakes]
        quiet = [await fake.nothing_more() for fake in fakes]
        await asyncio.gather(*(fake.hang_up() for fake in fakes))
        return pongs, quiet

    pongs, quiet = run(go())
    assert pongs == [{"type": "pong", "t": n} for n in range(COUNT)]
    assert all(quiet)  # no errors, nobody hung up on
    rows = list(WorkspaceAgent.objects.filter(pk__in=[a.pk for a in fleet]))
    assert len(rows) == COUNT
    assert all(row.last_seen_at > row.last_connected_at >= before for row in rows)


def test_a_socket_whose_workspace_is_deleted_while_connected_is_hung_up(
    fleet, monkeypatch, request
):
    monkeypatch.setenv("PORTAL_AGENT_INACTIVE_SECONDS", "1")
    config.load.cache_clear()
    request.addfinalizer(config.load.cache_clear)
    doomed, survivor = fleet[0], fleet[1]

    def delete():
        Workspace.objects.filter(pk=doomed.resource.job.build.workspace.pk).update(
            deleted_at=timezone.now()
        )

    async def go():
        gone, alive = FakeAgent("agent-token-0"), FakeAgent("agent-token-1")
        assert await gone.open() is None and await alive.open() is None
        await database_sync_to_async(delete)()
        await asyncio.sleep(0.6)
        await gone.send({"type": "ping", "t": 1})
        await alive.send({"type": "ping", "t": 2})
        assert await gone.receive() == {"type": "pong", "t": 1}
        assert await alive.receive() == {"type": "pong", "t": 2}
        closed = await gone.comm.receive_output(WAIT)
        still_open = await alive.nothing_more()
        await gone.hang_up()
        await alive.hang_up()
        return closed, still_open

    closed, still_open = run(go())
    assert closed["type"] == "websocket.close" and closed["code"] == 4401
    assert "deleted" in closed["reason"]
    assert still_open
    assert WorkspaceAgent.objects.get(pk=doomed.pk).disconnected_at is not None
    assert agents.agent_status(WorkspaceAgent.objects.get(pk=survivor.pk)) == "disconnected"


def test_an_agent_marked_inactive_on_an_open_socket_is_connected_again_when_it_pings(
    fleet, monkeypatch, request
):
    # A suspended agent process: silent past the timeout, then it resumes on the same socket.
    monkeypatch.setenv("PORTAL_AGENT_INACTIVE_SECONDS", "1")
    config.load.cache_clear()
    request.addfinalizer(config.load.cache_clear)
    agent = fleet[0]

    def status() -> str:
        return agents.agent_status(WorkspaceAgent.objects.get(pk=agent.pk))

    async def go():
        fake = FakeAgent("agent-token-0")
        assert await fake.open() is None
        await asyncio.sleep(1.2)
        marked = await database_sync_to_async(agents.mark_inactive)()
        silent = await database_sync_to_async(status)()
        await fake.send({"type": "ping", "t": 1})
        assert await fake.receive() == {"type": "pong", "t": 1}
        assert await fake.nothing_more()
        back = await database_sync_to_async(status)()
        await fake.hang_up()
        return marked, silent, back

    marked, silent, back = run(go())
    assert (marked, silent, back) == (1, "disconnected", "connected")
    assert status() == "disconnected"  # and hanging up still counts
