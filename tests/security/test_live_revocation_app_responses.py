"""Losing access ends long plain-HTTP responses through the app proxy too (downloads, event
streams, a request the app never answers), within 5 s and audited; another user's stay open."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import pytest
from channels.db import database_sync_to_async

from tests.relay.replicas import start_agent, stop, wait_connected
from tests.security.live_streams import (
    BOB_AGENT_TOKEN,
    DEADLINE,
    OPEN_TIMEOUT,
    api,
    closures,
    run,
)
from workspaces.models import WorkspaceAgent, WorkspaceApp

pytestmark = pytest.mark.django_db(transaction=True)


class SlowApp:
    """A workspace app that answers slowly or never: Server-Sent Events (chunked) and a download
    (Content-Length) that trickle a line every 0.1 s, and /hang that sends no answer. It notes
    which of its connections Portal still pulls from, by the `who` of their query."""

    def __init__(self):
        self.open: dict[str, bool] = {}
        self.server = None

    async def __aenter__(self) -> SlowApp:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _serve(self, reader, writer) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        target = head.split(b" ", 2)[1].decode()
        path, _, who = target.partition("?who=")
        self.open[who] = True
        ticking = asyncio.create_task(self._tick(path, writer))
        try:
            await reader.read()  # until Portal hangs up
        finally:
            self.open[who] = False
            ticking.cancel()
            writer.close()

    async def _tick(self, path: str, writer) -> None:
        if path == "/hang":
            return
        if path == "/events":
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
        with contextlib.suppress(OSError):
            while True:
                line = b"data: tick\n\n"
                writer.write(b"%x\r\n%s\r\n" % (len(line), line) if path == "/events" else line)
                await writer.drain()
                await asyncio.sleep(0.1)

    async def wait_open(self, *whos: str) -> None:
        deadline = time.monotonic() + OPEN_TIMEOUT
        while not all(self.open.get(who) for who in whos):
            assert time.monotonic() < deadline, f"the app was not asked: {self.open}"
            await asyncio.sleep(0.05)


class Response:
    """One request through the app proxy, its response read in the background."""

    def __init__(self, name: str, replica, path: str, token: str):
        self.name = name
        self.status: int | None = None
        self.body = b""
        self.client = httpx.AsyncClient(
            base_url=replica.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        self.reader = asyncio.create_task(self._read(path))

    async def _read(self, path: str) -> None:
        async with self.client.stream("GET", path) as response:
            self.status = response.status_code
            async for chunk in response.aiter_raw():
                self.body += chunk

    async def wait_for(self, data: bytes) -> None:
        deadline = time.monotonic() + OPEN_TIMEOUT
        while self.body.count(data) < 2:
            assert not self.reader.done(), f"{self.name} ended: {self.status} {self.body[-200:]}"
            assert time.monotonic() < deadline, f"{self.name}: nothing came"
            await asyncio.sleep(0.05)

    async def ended(self, within: float = DEADLINE) -> BaseException | None:
        try:
            await asyncio.wait_for(asyncio.shield(self.reader), within)
        except TimeoutError:
            raise AssertionError(
                f"{self.name} still streams {within} s after losing access"
            ) from None
        except httpx.HTTPError as e:
            return e
        return None

    async def close(self) -> None:
        self.reader.cancel()
        await asyncio.gather(self.reader, return_exceptions=True)
        await self.client.aclose()


def test_suspending_a_user_ends_her_long_app_responses(site):
    """A slow download or Server-Sent Events through the app proxy: cut, and the app no longer
    pulled from, when the visitor is suspended; another user's stream goes on."""
    a, b = site.a, site.b
    bob_agent = WorkspaceAgent.objects.get(resource__job__build__workspace=site.bob_workspace)
    bob_proc = start_agent(a.url, BOB_AGENT_TOKEN)

    async def go():
        async with SlowApp() as app:
            await database_sync_to_async(
                WorkspaceApp.objects.filter(
                    agent__in=[site.agent, bob_agent], slug="preview"
                ).update
            )(url=f"http://localhost:{app.port}")
            alice_path = f"/@alice/{site.workspace.name}/apps/preview"
            responses = {
                "events": Response(
                    "alice's events",
                    b,
                    f"{alice_path}/events?who=alice-events",
                    site.tokens["alice"],
                ),
                "download": Response(
                    "alice's download",
                    a,
                    f"{alice_path}/download?who=alice-download",
                    site.tokens["alice"],
                ),
                "hang": Response(
                    "alice's unanswered request",
                    b,
                    f"{alice_path}/hang?who=alice-hang",
                    site.tokens["alice"],
                ),
                "bob": Response(
                    "bob's events",
                    b,
                    f"/@bob/{site.bob_workspace.name}/apps/preview/events?who=bob",
                    site.tokens["bob"],
                ),
            }
            try:
                for name in ("events", "download", "bob"):
                    await responses[name].wait_for(b"data: tick")
                await app.wait_open("alice-events", "alice-download", "alice-hang", "bob")

                async with api(a, site.tokens["admin"]) as admin:
                    r = await admin.put("/users/alice/status", json={"status": "suspended"})
                    assert r.status_code == 200, r.text
                started = time.monotonic()
                # Headers out: the connection is cut mid-body (an incomplete body, not an end).
                for name in ("events", "download"):
                    error = await responses[name].ended()
                    assert isinstance(error, httpx.RemoteProtocolError), (name, error)
                # No answer yet: the refusal is the answer.
                assert await responses["hang"].ended() is None
                hang = responses["hang"]
                assert (hang.status, hang.body) == (403, b"Your account was suspended.\n")
                # Portal stopped pulling from the app for her.
                whos = ("alice-events", "alice-download", "alice-hang")
                while any(app.open[who] for who in whos):
                    assert time.monotonic() - started < DEADLINE, f"still pulled: {app.open}"
                    await asyncio.sleep(0.05)

                bob = responses["bob"]
                seen = bob.body.count(b"data: tick")
                await asyncio.sleep(1)
                assert not bob.reader.done(), f"bob's stream ended: {bob.body[-200:]}"
                assert bob.body.count(b"data: tick") > seen
                assert app.open["bob"]
            finally:
                for response in responses.values():
                    await response.close()

    try:
        wait_connected(bob_agent)
        run(go())
    finally:
        stop(bob_proc)
    entries = closures(user="alice")
    assert sorted(e.additional_fields["path"] for e in entries) == [
        "/download?who=alice-download",
        "/events?who=alice-events",
        "/hang?who=alice-hang",
    ]
    for entry in entries:
        assert entry.actor_username == "admin"
        assert entry.additional_fields["connection"] == "app-http"
        assert entry.additional_fields["cause"] == "user_suspended"
        assert entry.status_code == 403
        assert entry.resource_target == f"alice/{site.workspace.name}/preview"
    assert closures(user="bob") == []
