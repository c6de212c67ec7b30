"""Two real replicas, a real agent and the streams a user opens on them: the live revocation
tests' fixtures and openers (terminal, SSH, port-forward, app WebSocket, events, log follow)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from types import SimpleNamespace

import httpx
import pytest
from channels.db import database_sync_to_async
from django.db import close_old_connections
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from portal.accounts import services as accounts
from portal.accounts.choices import Role
from portal.audit.choices import AuditAction
from portal.audit.models import AuditEntry
from tests import factories
from tests.agents.helpers import make_agent
from tests.relay.replicas import EchoService, Replica, start_agent, stop, wait_connected
from workspaces.choices import JobStatus
from workspaces.models import ProvisionerJobLog, WorkspaceApp

DEADLINE = 5.0  # the issue's: closed within 5 seconds of losing access
OPEN_TIMEOUT = 30.0  # a generous time for a stream to open (the agent dials back)
ALICE_AGENT_TOKEN = "alice-agent-token"
BOB_AGENT_TOKEN = "bob-agent-token"


@pytest.fixture(scope="module")
def replicas(django_db_setup, django_db_blocker):
    """A and B; the periodic re-check is off, so only the announcements can close anything."""
    env = {"PORTAL_OWNERS_MAY_CONNECT": "true", "PORTAL_REVOCATION_RECHECK_SECONDS": "0"}
    with django_db_blocker.unblock():
        a, b = Replica("revoke-a", **env).start(), Replica("revoke-b", **env).start()
    try:
        yield a.wait_ready(), b.wait_ready()
    finally:
        a.stop()
        b.stop()
        close_old_connections()


@pytest.fixture
def site(replicas, make_user):
    """alice's workspace with its real agent on replica A; bob's workspace; two owners."""
    a, b = replicas
    admin = make_user(Role.OWNER, username="admin")
    carol = make_user(Role.OWNER, username="carol")
    alice = make_user(username="alice")
    bob = make_user(username="bob")
    agent = make_agent(alice, ALICE_AGENT_TOKEN)
    bob_agent = make_agent(bob, BOB_AGENT_TOKEN)
    # A build still running: its log follow stays open.
    running = factories.workspace(alice, job_status=JobStatus.RUNNING).latest_build
    ProvisionerJobLog.objects.create(job_id=running.job_id, output="terraform apply ...")
    tokens = {
        user.username: accounts.create_token(user, actor=user, name="revocation")[1]
        for user in (admin, carol, alice, bob)
    }
    proc = start_agent(a.url, ALICE_AGENT_TOKEN)
    echo = EchoService()
    try:
        wait_connected(agent)
        yield SimpleNamespace(
            a=a,
            b=b,
            admin=admin,
            carol=carol,
            alice=alice,
            bob=bob,
            agent=agent,
            workspace=agent.resource.job.build.workspace,
            bob_workspace=bob_agent.resource.job.build.workspace,
            running_build=running,
            tokens=tokens,
            echo=echo,
        )
    finally:
        stop(proc)
        echo.close()
        close_old_connections()


# --- clients ----------------------------------------------------------------------------------


class Open:
    """One open WebSocket, read in the background (unread frames would hide its close)."""

    def __init__(self, name: str, ws):
        self.name = name
        self.ws = ws
        self.messages: list = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self.ws:
                self.messages.append(message)

    async def wait_for(self, wanted, timeout: float = OPEN_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not any(wanted(m) for m in self.messages):
            if self.reader.done():
                raise AssertionError(
                    f"{self.name} closed: {self.ws.close_code} {self.ws.close_reason}"
                )
            assert time.monotonic() < deadline, f"{self.name}: nothing came ({self.messages})"
            await asyncio.sleep(0.05)

    async def assert_alive(self) -> None:
        assert not self.reader.done(), f"{self.name} was closed: {self.ws.close_reason}"
        await asyncio.wait_for(await self.ws.ping(), 10)

    async def closed(self, within: float = DEADLINE) -> tuple[int, str]:
        try:
            await asyncio.wait_for(asyncio.shield(self.reader), within)
        except TimeoutError:
            raise AssertionError(f"{self.name} still open {within} s after losing access") from None
        return self.ws.close_code, self.ws.close_reason

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()


async def _open(name: str, url: str, *, token: str | None = None, cookie: str | None = None):
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if cookie:
        headers["Cookie"] = f"sessionid={cookie}"
    ws = await connect(url, additional_headers=headers, max_size=None, open_timeout=OPEN_TIMEOUT)
    return Open(name, ws)


def _stream_url(replica, agent, query: str) -> str:
    return f"{replica.ws_url}/api/v2/workspaceagents/{agent.pk}/streams?{query}"


async def terminal(replica, agent, **auth) -> Open:
    url = _stream_url(replica, agent, f"kind=pty&reconnect={uuid.uuid4()}")
    conn = await _open(f"terminal on {replica.name}", url, **auth)
    await conn.ws.send(b"echo ready-$((40+2))\r")
    await conn.wait_for(lambda m: isinstance(m, bytes) and b"ready-42" in m)
    return conn


async def ssh(replica, agent, **auth) -> Open:
    conn = await _open(f"ssh on {replica.name}", _stream_url(replica, agent, "kind=ssh"), **auth)
    await conn.wait_for(lambda m: isinstance(m, bytes) and m.startswith(b"SSH-2.0-"))
    return conn


async def port_forward(replica, agent, port: int, **auth) -> Open:
    url = _stream_url(replica, agent, f"kind=tcp&port={port}")
    conn = await _open(f"port-forward on {replica.name}", url, **auth)
    await echoes(conn)
    return conn


async def echoes(conn: Open) -> None:
    marker = uuid.uuid4().hex.encode()
    await conn.ws.send(marker)
    await conn.wait_for(lambda m: isinstance(m, bytes) and marker in m, timeout=10)


async def events(replica, **auth) -> Open:
    conn = await _open(
        f"events on {replica.name}", f"{replica.ws_url}/api/v2/users/me/events", **auth
    )
    await conn.wait_for(lambda m: isinstance(m, str) and json.loads(m)["type"] == "subscribed")
    return conn


async def build_logs(replica, build, **auth) -> Open:
    url = f"{replica.ws_url}/api/v2/workspacebuilds/{build.pk}/logs?follow=1"
    conn = await _open(f"build log follow on {replica.name}", url, **auth)
    await conn.wait_for(lambda m: isinstance(m, str) and json.loads(m)["type"] == "logs")
    return conn


async def app_socket(replica, workspace, **auth) -> Open:
    url = f"{replica.ws_url}/@alice/{workspace.name}/apps/preview/"
    conn = await _open(f"app WebSocket on {replica.name}", url, **auth)
    await conn.ws.send("hello app")
    await conn.wait_for(lambda m: m == "hello app")
    return conn


async def _echo_app(ws) -> None:
    async for message in ws:
        await ws.send(message)


@contextlib.asynccontextmanager
async def app_server(agent):
    """The workspace's app: a WebSocket echo server, the app `preview` points at."""
    async with serve(_echo_app, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        await database_sync_to_async(
            WorkspaceApp.objects.filter(agent=agent, slug="preview").update
        )(url=f"http://localhost:{port}")
        yield


def api(replica, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{replica.url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


async def assert_all_closed(conns: list[Open], code: int, reason: str) -> None:
    results = await asyncio.gather(*(c.closed() for c in conns))
    for conn, (got_code, got_reason) in zip(conns, results, strict=True):
        assert (conn.name, got_code, got_reason) == (conn.name, code, reason)


def closures(expect: int = 1, **fields) -> list[AuditEntry]:
    """The audit entries of connections Portal closed, waiting a little for `expect` of them to
    land (each is written as its connection ends, after the client saw it close)."""
    deadline = time.monotonic() + 20
    while True:
        entries = [
            e
            for e in AuditEntry.objects.filter(action=AuditAction.CLOSE).order_by("time")
            if all(e.additional_fields.get(k) == v for k, v in fields.items())
        ]
        if len(entries) >= expect or time.monotonic() > deadline:
            return entries
        time.sleep(0.2)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 240))


# --- the tests --------------------------------------------------------------------------------
