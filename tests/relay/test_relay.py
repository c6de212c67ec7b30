"""Port-forward streams over the real ASGI app and a real Redis channel layer: pairing, relay,
backpressure, refusals, audit."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import pytest

from portal import config, hooks
from portal.accounts.choices import Role
from portal.audit.models import AuditEntry
from portal.errors import Conflict
from tests.agents.helpers import agent_headers, make_agent
from tests.relay.helpers import STREAMS, EchoAgent, Socket, client_path, read_until_close
from tests.workspaces.test_websocket import bearer
from workspaces.connectivity import relay

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "agent-secret-token"
FRAME = 256 * 1024


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


@pytest.fixture
def agent(alice):
    return make_agent(alice, TOKEN)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def refused(path: str, headers=None) -> dict:
    async def go():
        return await Socket(path, headers).refused()

    return run(go())


async def start(agent_token: str = TOKEN) -> EchoAgent:
    fake = EchoAgent(agent_token)
    await fake.open()
    return fake


def test_bytes_round_trip_eof_is_forwarded_and_closing_closes_the_other_side(agent, alice):
    headers = bearer(alice)

    async def go():
        fake = await start()
        serving = asyncio.create_task(fake.serve_one())
        client = Socket(client_path(agent, 5432), headers)
        await client.connect()
        await client.send_bytes(b"hello ")
        await client.send_bytes(b"agent")
        got = b""
        while len(got) < 11:
            got += (await client.next())["bytes"]
        await client.send_json({"type": "eof"})
        eof = await client.next()
        await client.hang_up()
        await serving
        await fake.hang_up()
        return fake, got, eof

    fake, got, eof = run(go())
    assert fake.opened[0]["kind"] == "tcp" and fake.opened[0]["port"] == 5432
    assert got == b"hello agent"
    assert fake.received == [{"type": "eof"}]
    assert eof == {"type": "websocket.send", "text": '{"type": "eof"}'}
    # The client hung up: the agent's data socket was closed.
    assert fake.closes and fake.closes[0]["type"] == "websocket.close"
    entries = {e.action: e for e in AuditEntry.objects.filter(resource_type="workspace_agent")}
    assert set(entries) == {"connect", "disconnect"}
    ws = agent.resource.job.build.workspace
    assert entries["connect"].actor == alice
    assert entries["connect"].resource_id == str(agent.pk)
    assert entries["connect"].additional_fields["kind"] == "port-forward"
    assert entries["connect"].additional_fields["port"] == 5432
    assert entries["connect"].additional_fields["workspace"] == f"alice/{ws.name}"
    done = entries["disconnect"].additional_fields
    assert done["bytes_in"] == 11 and done["bytes_out"] == 11
    assert 0 <= done["duration_seconds"] < 30
    assert TOKEN not in str(done)


def test_large_transfer_arrives_intact_with_bounded_queues(agent, alice):
    headers = bearer(alice)
    payload = os.urandom(FRAME) * 80  # 20 MiB
    frames = [payload[i : i + FRAME] for i in range(0, len(payload), FRAME)]

    async def go():
        fake = await start()
        serving = asyncio.create_task(fake.serve_one())
        client = Socket(client_path(agent), headers)
        await client.connect()
        # The agent stops reading: the relay must stop reading the client, not buffer 20 MiB.
        fake.pause.clear()
        for frame in frames[:60]:
            await client.send_bytes(frame)
        await asyncio.sleep(0.3)
        (stream,) = relay.streams.values()
        stalled = (client.inbox.qsize(), stream.agent.queue.qsize())
        fake.pause.set()
        started = time.perf_counter()
        for frame in frames[60:]:
            await client.send_bytes(frame)
        received = bytearray()
        while len(received) < len(payload):
            received += (await client.next())["bytes"]
        elapsed = time.perf_counter() - started
        await client.hang_up()
        await serving
        await fake.hang_up()
        return stalled, stream, bytes(received), elapsed

    (unread, queued), stream, received, _ = run(go())
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    assert queued == relay.QUEUE_FRAMES  # full, and the rest left unread on the client socket
    assert unread >= 60 - relay.QUEUE_FRAMES - 6
    assert stream.agent.max_depth <= relay.QUEUE_FRAMES
    assert stream.client.max_depth <= relay.QUEUE_FRAMES


def test_another_member_sees_no_agent(agent, make_user):
    headers = bearer(make_user(username="bob"))

    async def go():
        fake = await start()
        closed = await Socket(client_path(agent), headers).refused()
        await fake.hang_up()
        return closed

    closed = run(go())
    assert closed["code"] == 4404
    assert closed["reason"] == "No such workspace agent."


def test_unauthenticated_is_refused(agent):
    closed = refused(client_path(agent))
    assert closed["code"] == 4401


def test_platform_owner_is_refused_unless_owners_may_connect(
    agent, make_user, monkeypatch, request
):
    request.addfinalizer(config.load.cache_clear)
    headers = bearer(make_user(Role.OWNER, username="root"))

    async def go():
        fake = await start()
        refused = await Socket(client_path(agent), headers).refused()
        monkeypatch.setenv("PORTAL_OWNERS_MAY_CONNECT", "true")
        config.load.cache_clear()
        serving = asyncio.create_task(fake.serve_one())
        client = Socket(client_path(agent), headers)
        await client.connect()
        await client.send_bytes(b"ping")
        echoed = (await client.next())["bytes"]
        await client.hang_up()
        await serving
        await fake.hang_up()
        return refused, echoed

    refused, echoed = run(go())
    assert refused["code"] == 4403
    assert "Only the workspace owner" in refused["reason"]
    assert echoed == b"ping"


def test_agent_not_connected_is_refused_with_a_reason(agent, alice):
    closed = refused(client_path(agent), bearer(alice))
    assert closed["code"] == 4409
    assert closed["reason"] == "The workspace agent is not connected (it is connecting)."


def test_connection_policy_refusal_is_4409_with_its_message(agent, alice):
    seen = []

    def browser_only(user, kind):
        seen.append((user.username, kind))
        raise Conflict("Only browser connections are allowed.")

    hooks.connection_policy.register(browser_only)
    try:

        async def go():
            fake = await start()
            closed = await Socket(client_path(agent), bearer_headers).refused()
            await fake.hang_up()
            return closed

        bearer_headers = bearer(alice)
        closed = run(go())
    finally:
        hooks.connection_policy.unregister(browser_only)
    assert closed["code"] == 4409
    assert closed["reason"] == "Only browser connections are allowed."
    assert seen == [("alice", "port-forward")]


def test_bad_port_is_refused(agent, alice):
    closed = refused(client_path(agent, port=0), bearer(alice))
    assert closed["code"] == 4400


def test_data_socket_of_another_agent_is_refused(agent, alice, make_user):
    make_agent(make_user(username="bob"), "bob-agent-token")
    headers = bearer(alice)

    async def go():
        fake = await start()
        # Bob's agent dials Alice's stream: refused, and the stream still waits for hers.
        serving = asyncio.create_task(fake.serve_one(dial_token="bob-agent-token"))
        client = Socket(client_path(agent), headers)
        await client.connect()
        await serving
        intruder = fake.closes[0]
        (stream,) = relay.streams.values()
        mine = Socket(STREAMS + str(stream.id), agent_headers(TOKEN))
        await mine.connect()
        await client.send_bytes(b"x")
        got = await mine.next()
        await client.hang_up()
        await mine.next()
        await mine.hang_up()
        await fake.hang_up()
        return intruder, got

    intruder, got = run(go())
    assert intruder["type"] == "websocket.close" and intruder["code"] == 4403
    assert got["bytes"] == b"x"


def test_unknown_stream_is_4404(agent):
    async def go():
        return await Socket(STREAMS + "0" * 32, agent_headers(TOKEN)).refused()

    closed = run(go())
    assert closed["code"] == 4404


def test_agent_that_never_dials_gets_the_client_an_error(agent, alice, monkeypatch):
    monkeypatch.setattr(relay, "AGENT_DIAL_TIMEOUT", 0.3)
    headers = bearer(alice)

    async def go():
        fake = await start()
        client = Socket(client_path(agent), headers)
        await client.connect()
        result = await read_until_close(client)
        opened = await fake.control.receive()  # it was asked, it just never dialed
        late = await Socket(STREAMS + opened["stream"], agent_headers(TOKEN)).refused()
        await fake.hang_up()
        return result, late

    (_, control, close), late = run(go())
    assert control == [{"type": "error", "message": "the agent did not open the stream"}]
    assert close["code"] == 4504
    assert late["code"] == 4404
    assert not AuditEntry.objects.filter(resource_type="workspace_agent").exists()


def test_agent_local_connect_error_reaches_the_client(agent, alice):
    headers = bearer(alice)

    async def go():
        fake = await start()
        serving = asyncio.create_task(fake.serve_one(error="connection refused: 127.0.0.1:8080"))
        client = Socket(client_path(agent), headers)
        await client.connect()
        result = await read_until_close(client)
        await serving
        await fake.hang_up()
        return result

    _, control, close = run(go())
    assert control == [{"type": "error", "message": "connection refused: 127.0.0.1:8080"}]
    assert close["type"] == "websocket.close"
    fields = AuditEntry.objects.get(action="disconnect").additional_fields
    assert fields["bytes_in"] == 0 and fields["bytes_out"] == 0


def test_control_consumer_leaves_its_group_on_disconnect(agent):
    async def go():
        fake = await start()
        await fake.hang_up()
        layer = relay.get_channel_layer()
        group = layer._group_key(relay.control_group(agent.pk))
        conn = layer.connection(layer.consistent_hash(group))
        return await conn.zcard(group)

    assert run(go()) == 0


def test_an_oversized_frame_closes_the_stream(agent, alice):
    headers = bearer(alice)

    async def go():
        fake = await start()
        serving = asyncio.create_task(fake.serve_one())
        client = Socket(client_path(agent), headers)
        await client.connect()
        await client.send_bytes(b"x" * (FRAME + 1))
        closed = await client.next()
        await serving
        await fake.hang_up()
        return closed

    closed = run(go())
    assert closed["code"] == 1009
    assert closed["reason"] == "Frames carry at most 256 KiB."
