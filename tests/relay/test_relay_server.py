"""A stream over real sockets: uvicorn (as `portal server` runs it) serving the ASGI app."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time

import pytest
import uvicorn
from django.db import close_old_connections
from websockets.asyncio.client import connect

from portal.asgi import application
from portal.audit.models import AuditEntry
from tests.agents.helpers import make_agent
from tests.workspaces.test_websocket import bearer

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "agent-secret-token"
FRAME = 256 * 1024


@pytest.fixture
def server_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_level="error",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield f"ws://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    close_old_connections()


async def echo_agent(url: str) -> None:
    """The agent: on open_stream, dial the stream and echo it until it closes."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with connect(f"{url}/api/v2/workspaceagents/me/rpc", additional_headers=headers) as ctl:
        while True:
            message = json.loads(await ctl.recv())
            if message.get("type") == "open_stream":
                break
        path = f"{url}/api/v2/workspaceagents/me/streams/{message['stream']}"
        async with connect(
            path, additional_headers=headers, compression=None, max_size=None
        ) as data:
            async for frame in data:
                await data.send(frame)


def test_a_stream_round_trips_over_uvicorn(server_url, make_user):
    alice = make_user(username="alice")
    agent = make_agent(alice, TOKEN)
    (header,) = bearer(alice)
    payload = os.urandom(FRAME) * 64  # 16 MiB each way

    async def go():
        serving = asyncio.create_task(echo_agent(server_url))
        await asyncio.sleep(0.3)  # the control socket connects (a real agent retries)
        url = f"{server_url}/api/v2/workspaceagents/{agent.pk}/streams?kind=tcp&port=22"
        async with connect(
            url,
            additional_headers={"Authorization": header[1].decode()},
            compression=None,
            max_size=None,
        ) as client:
            started = time.perf_counter()

            async def send_all():
                for i in range(0, len(payload), FRAME):
                    await client.send(payload[i : i + FRAME])

            sender = asyncio.create_task(send_all())
            received = bytearray()
            while len(received) < len(payload):
                received += await client.recv()
            elapsed = time.perf_counter() - started
            await sender
        await asyncio.wait_for(serving, 10)
        return bytes(received), elapsed

    received, elapsed = asyncio.run(asyncio.wait_for(go(), 60))
    assert received == payload
    entry = AuditEntry.objects.get(action="disconnect")
    assert entry.ip == "127.0.0.1"
    assert entry.additional_fields["bytes_in"] == len(payload)
    assert entry.additional_fields["bytes_out"] == len(payload)
    print(f"\nrelay over uvicorn: {len(payload) / elapsed / 1e6:.0f} MB/s echoed (each way)")
