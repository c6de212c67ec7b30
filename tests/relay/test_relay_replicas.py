"""Streams across server replicas: a real agent on replica A, its clients on replica B."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import httpx
import pytest
import redis
from django.conf import settings
from django.db import close_old_connections
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from portal.accounts.services import create_token
from tests.agents.helpers import make_agent
from tests.relay.replicas import (
    REPO,
    EchoService,
    Replica,
    SourceService,
    base_env,
    free_port,
    start_agent,
    stop,
    wait_connected,
    wait_port,
)
from workspaces.connectivity import relay_link
from workspaces.models import WorkspaceApp

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "replica-agent-token"
OTHER_TOKEN = "replica-agent-token-2"
MB = 1024 * 1024


@pytest.fixture
def replicas(transactional_db):
    a, b = Replica("a").start(), Replica("b").start()
    try:
        yield a.wait_ready(), b.wait_ready()
    finally:
        a.stop()
        b.stop()
        close_old_connections()


@pytest.fixture
def workspace(replicas, make_user):
    """alice's workspace, its real agent connected to replica A, and her API token."""
    a, b = replicas
    alice = make_user(username="alice")
    agent = make_agent(alice, TOKEN)
    proc = start_agent(a.url, TOKEN)
    try:
        wait_connected(agent)
        _, token = create_token(alice, actor=alice, name="replicas")
        name = agent.resource.job.build.workspace.name
        yield SimpleNamespace(agent=agent, user=alice, token=token, name=name, a=a, b=b)
    finally:
        stop(proc)


def client_url(replica: Replica, agent, port: int) -> str:
    return f"{replica.ws_url}/api/v2/workspaceagents/{agent.pk}/streams?kind=tcp&port={port}"


def agent_url(replica: Replica, stream: str) -> str:
    return f"{replica.ws_url}/api/v2/workspaceagents/me/streams/{stream}"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def port_forward(ws, local: int, remote: int) -> subprocess.Popen:
    """`portal port-forward` against replica B."""
    return subprocess.Popen(
        [sys.executable, "-m", "portal", "port-forward", ws.name, "--tcp", f"{local}:{remote}"],
        cwd=REPO,
        env={**base_env(), "PORTAL_URL": ws.b.url, "PORTAL_SESSION_TOKEN": ws.token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def echo_through(port: int, payload: bytes) -> bytes:
    """Send payload on one connection (then half-close) and read everything that comes back."""
    with socket.create_connection(("127.0.0.1", port)) as conn:

        def send() -> None:
            conn.sendall(payload)
            conn.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        received = bytearray()
        while chunk := conn.recv(256 * 1024):
            received += chunk
        sender.join()
    return bytes(received)


def test_port_forward_through_another_replica_echoes_parallel_and_large_streams(workspace):
    echo = EchoService()
    local = free_port()
    forward = port_forward(workspace, local, echo.port)
    try:
        wait_port(local)
        payloads = [os.urandom(2 * MB + i) for i in range(8)]
        results: list[bytes | None] = [None] * len(payloads)

        def run(i: int) -> None:
            results[i] = echo_through(local, payloads[i])

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(payloads))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert [len(r or b"") for r in results] == [len(p) for p in payloads]
        assert results == payloads

        large = os.urandom(MB) * 64
        received = echo_through(local, large)
        assert len(received) == len(large)
        assert hashlib.sha256(received).digest() == hashlib.sha256(large).digest()
    finally:
        stop(forward)
        echo.close()
    assert forward.returncode is not None


class _App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    BODY = os.urandom(3 * MB)

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = self.BODY if self.path == "/big" else self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_the_app_proxy_on_another_replica_reaches_the_app(workspace):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://localhost:{server.server_address[1]}"
    WorkspaceApp.objects.filter(agent=workspace.agent, slug="preview").update(url=url)
    base = f"{workspace.b.url}/@alice/{workspace.name}/apps/preview"
    try:
        with httpx.Client(headers=bearer(workspace.token), timeout=60) as http:
            small = http.get(f"{base}/hello?x=1")
            big = http.get(f"{base}/big")
    finally:
        server.shutdown()
    assert (small.status_code, small.text) == (200, "/hello?x=1")
    assert big.status_code == 200
    assert big.content == _App.BODY


def test_the_agents_refusal_reaches_a_client_on_another_replica(workspace):
    closed_port = free_port()  # nothing listens there in the "workspace"

    async def go():
        url = client_url(workspace.b, workspace.agent, closed_port)
        async with connect(url, additional_headers=bearer(workspace.token)) as client:
            messages = [json.loads(m) async for m in client]
            return messages, client.close_code

    messages, _ = asyncio.run(asyncio.wait_for(go(), 60))
    assert messages[0]["type"] == "error"
    assert f"cannot connect to 127.0.0.1:{closed_port}" in messages[0]["message"]


async def _link_attempt(port: int, payload: bytes) -> tuple[int, str]:
    """A raw relay link with this handshake: the close the home answers with."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        relay_link.write_frame(writer, relay_link.HELLO, payload)
        kind, body = await asyncio.wait_for(relay_link.read_frame(reader), 10)
        assert kind == relay_link.CLOSE
        assert await asyncio.wait_for(reader.read(), 10) == b""  # and it hangs up
        return relay_link.parse_close(body)
    finally:
        writer.close()


async def _dial_refused(url: str, token: str) -> int:
    """The close code an agent dialing a stream gets when it is refused."""
    async with connect(url, additional_headers=bearer(token)) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 30)
        return ws.close_code


def test_refusals_and_forged_links_across_replicas(replicas, make_user):
    """The test plays a second agent (connected to A) to control when and how it dials."""
    a, b = replicas
    alice = make_user(username="alice")
    make_agent(alice, TOKEN)  # another of alice's agents: the wrong one to dial with
    agent = make_agent(alice, OTHER_TOKEN)
    _, token = create_token(alice, actor=alice, name="replicas")
    store = redis.Redis.from_url(settings.REDIS_URL)

    async def go():
        rpc = f"{a.ws_url}/api/v2/workspaceagents/me/rpc"
        async with connect(rpc, additional_headers=bearer(OTHER_TOKEN)) as control:
            await asyncio.sleep(0.5)  # the control socket joins its group (a real agent retries)
            async with connect(client_url(b, agent, 9), additional_headers=bearer(token)) as client:
                while True:
                    message = json.loads(await asyncio.wait_for(control.recv(), 30))
                    if message.get("type") == "open_stream":
                        break
                stream = uuid.UUID(message["stream"])
                home = store.get(relay_link.KEY_PREFIX + str(stream))
                assert home == f"127.0.0.1:{b.relay_port}".encode()

                forged = relay_link.hello(stream, agent.pk, secret="not-the-secret-key")
                code, reason = await _link_attempt(b.relay_port, forged)
                assert (code, "bad signature" in reason) == (4401, True)
                stale_ms = int(time.time() * 1000) - 120_000
                expired = relay_link.hello(stream, agent.pk, now_ms=stale_ms)
                code, reason = await _link_attempt(b.relay_port, expired)
                assert (code, "stale" in reason) == (4401, True)
                garbage = os.urandom(40)
                code, _ = await _link_attempt(b.relay_port, garbage)
                assert code == 4400

                # Another agent's token: refused at B, the refusal reaches it through A.
                assert await _dial_refused(agent_url(a, str(stream)), TOKEN) == 4403

                async with connect(
                    agent_url(a, str(stream)), additional_headers=bearer(OTHER_TOKEN)
                ) as data:
                    await client.send(b"ping")
                    assert await asyncio.wait_for(data.recv(), 30) == b"ping"
                    await data.send(b"pong")
                    await data.send(json.dumps({"type": "eof"}))
                    assert await asyncio.wait_for(client.recv(), 30) == b"pong"
                    # A text frame stays a text frame: control messages keep their boundaries.
                    assert await asyncio.wait_for(client.recv(), 30) == '{"type": "eof"}'

                    valid = relay_link.hello(stream, agent.pk)
                    code, _ = await _link_attempt(b.relay_port, valid)
                    assert code == 4409  # already open
                    code, reason = await _link_attempt(b.relay_port, valid)
                    assert (code, "replayed" in reason) == (4401, True)
                    url = agent_url(a, str(stream))
                    assert await _dial_refused(url, OTHER_TOKEN) == 4409

                    await client.close()
                    with pytest.raises(ConnectionClosed):
                        await asyncio.wait_for(data.recv(), 30)
                    assert data.close_code == 1000

            assert await _dial_refused(agent_url(a, str(uuid.uuid4())), OTHER_TOKEN) == 4404

    asyncio.run(asyncio.wait_for(go(), 120))
    # The stream ended: its home is forgotten.
    deadline = time.monotonic() + 10
    while store.keys(relay_link.KEY_PREFIX + "*") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.keys(relay_link.KEY_PREFIX + "*") == []


def test_a_slow_client_on_another_replica_holds_the_agent_back(workspace):
    total = 256 * MB
    source = SourceService(total)
    before = workspace.a.rss(), workspace.b.rss()

    async def go():
        url = client_url(workspace.b, workspace.agent, source.port)
        async with connect(
            url,
            additional_headers=bearer(workspace.token),
            compression=None,
            max_size=None,
            max_queue=4,
        ) as client:
            # The client reads nothing until the source cannot send any more.
            stalled = await asyncio.to_thread(source.wait_stalled)
            during = workspace.a.rss(), workspace.b.rss()
            digest, received = hashlib.sha256(), 0
            while received < total:
                frame = await asyncio.wait_for(client.recv(), 60)
                if isinstance(frame, bytes):
                    digest.update(frame)
                    received += len(frame)
            return stalled, during, received, digest.hexdigest()

    stalled, during, received, digest = asyncio.run(asyncio.wait_for(go(), 300))
    source.close()
    print(f"\nsent before the slow client read: {stalled / MB:.0f} MB; RSS growth A, B: "
          f"{(during[0] - before[0]) / MB:.0f}, {(during[1] - before[1]) / MB:.0f} MB")  # fmt: skip
    # Held back: the source could not push everything into the servers' memory.
    assert stalled < total // 2
    assert during[0] - before[0] < 64 * MB
    assert during[1] - before[1] < 64 * MB
    assert received == total
    assert digest == source.digest()


def test_streams_pair_across_the_workers_of_one_replica(transactional_db, make_user):
    """PORTAL_HTTP_WORKERS > 1: the client's and the agent's sockets land on either worker."""
    server = Replica("workers", workers=2).start()
    echo = EchoService()
    procs = []
    try:
        server.wait_ready()
        alice = make_user(username="alice")
        agent = make_agent(alice, TOKEN)
        procs.append(start_agent(server.url, TOKEN))
        wait_connected(agent)
        _, token = create_token(alice, actor=alice, name="workers")
        ws = SimpleNamespace(name=agent.resource.job.build.workspace.name, b=server, token=token)
        local = free_port()
        procs.append(port_forward(ws, local, echo.port))
        wait_port(local)
        # Each connection is a new stream: its two sockets are accepted by either worker.
        payloads = [os.urandom(1000 + i) for i in range(30)]
        assert [echo_through(local, p) for p in payloads] == payloads
    finally:
        for proc in reversed(procs):
            stop(proc)
        echo.close()
        server.stop()
        close_old_connections()


def test_a_replica_dying_ends_the_streams_it_carried(workspace):
    """Replica A (the agent's) is killed mid-stream: the client on B is told, not left hanging."""
    echo = EchoService()

    async def go():
        url = client_url(workspace.b, workspace.agent, echo.port)
        async with connect(url, additional_headers=bearer(workspace.token)) as client:
            await client.send(b"before")
            assert await asyncio.wait_for(client.recv(), 30) == b"before"
            workspace.a.proc.kill()
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(client.recv(), 30)
            return client.close_code

    try:
        code = asyncio.run(asyncio.wait_for(go(), 90))
    finally:
        echo.close()
    assert code == 1000
