"""WebSockets through the app proxy: a real `websockets` app behind a fake agent's TCP bridge."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import uvicorn
from channels.db import database_sync_to_async
from django.db import close_old_connections
from django.test import Client
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from portal import config
from portal.asgi import application
from portal.audit.models import AuditEntry
from tests.agents.helpers import make_agent
from tests.relay.test_app_proxy import TOKEN, HttpAgent
from tests.workspaces.test_websocket import WAIT, bearer
from workspaces.models import WorkspaceApp

pytestmark = pytest.mark.django_db(transaction=True)
HOST = "portal.test"
PROTOCOLS = ["chat.v2", "chat.v1"]  # the app's, in its order of preference


class App:
    """A small HTTP + WebSocket app: echoes messages; /headers first sends what it was sent;
    /close closes with 4321; /fragments pings, then sends fragmented messages; /forbidden
    answers 403; plain GETs get their path and headers."""

    def __init__(self):
        self.closes: list[int | None] = []  # close codes the app received

    @staticmethod
    def _request(request) -> dict:
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        return {"path": request.path, "headers": headers}

    def process_request(self, connection, request):
        if request.path.startswith("/forbidden"):
            return connection.respond(403, "not for you\n")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return connection.respond(200, json.dumps(self._request(request)))
        return None

    @staticmethod
    def select_subprotocol(connection, offered):
        return next((p for p in PROTOCOLS if p in offered), None)

    async def handler(self, ws):
        path = ws.request.path
        if path.startswith("/headers"):
            await ws.send(json.dumps({**self._request(ws.request), "subprotocol": ws.subprotocol}))
        if path.startswith("/close"):
            await ws.close(4321, "bye from the app")
            return
        if path.startswith("/fragments"):
            await asyncio.wait_for(await ws.ping(), WAIT)  # answered by the proxy
            await ws.send(["frag", "mented ", "text"])  # one message in three frames
            await ws.send([b"\x00", b"\x01"])
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass  # a close other than 1000
        self.closes.append(ws.close_code)

    async def __aenter__(self):
        self.server = await serve(
            self.handler,
            "127.0.0.1",
            0,
            process_request=self.process_request,
            select_subprotocol=self.select_subprotocol,
            compression=None,
            max_size=None,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def drained(self) -> None:
        """Until the proxy hung up every connection it opened to the app."""
        for _ in range(int(WAIT / 0.05)):
            if not self.server.all_connections:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(self.server.all_connections)} app connections left open")

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()


class Browser:
    """One WebSocket into the real ASGI app, as a browser on `origin` would open it."""

    def __init__(self, path: str, headers=(), subprotocols=(), host: str = HOST):
        parts = urlsplit(path)
        self.key = base64.b64encode(os.urandom(16)).decode()
        scope = {
            "type": "websocket",
            "scheme": "ws",
            "path": parts.path,
            "raw_path": parts.path.encode(),
            "query_string": parts.query.encode(),
            "headers": [
                (b"host", host.encode()),
                (b"sec-websocket-key", self.key.encode()),
                (b"sec-websocket-version", b"13"),
                *[(k.lower().encode(), v.encode()) for k, v in dict(headers).items()],
            ],
            "subprotocols": list(subprotocols),
            "client": ("10.1.2.3", 5000),
            "server": (host, 80),
        }
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.outbox: asyncio.Queue = asyncio.Queue(maxsize=4)
        self.task = asyncio.create_task(application(scope, self.inbox.get, self.outbox.put))

    async def open(self) -> dict:
        """The accept, or the close after the accept when refused."""
        await self.inbox.put({"type": "websocket.connect"})
        accepted = await self.next()
        assert accepted["type"] == "websocket.accept", accepted
        return accepted

    async def refused(self) -> dict:
        accepted = await self.open()
        assert accepted.get("subprotocol") is None
        close = await self.next()
        assert close["type"] == "websocket.close", close
        await asyncio.wait_for(self.task, WAIT)
        return close

    async def next(self) -> dict:
        return await asyncio.wait_for(self.outbox.get(), WAIT)

    async def send(self, data: str | bytes) -> None:
        key = "bytes" if isinstance(data, bytes) else "text"
        await self.inbox.put({"type": "websocket.receive", key: data})

    async def receive(self) -> str | bytes:
        message = await self.next()
        assert message["type"] == "websocket.send", message
        return message["bytes"] if message.get("bytes") is not None else message["text"]

    async def hang_up(self, code: int = 1000) -> None:
        await self.inbox.put({"type": "websocket.disconnect", "code": code})
        await asyncio.wait_for(self.task, WAIT)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def auth(user) -> dict:
    return {k.decode(): v.decode() for k, v in bearer(user)}


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


@pytest.fixture
def bob(make_user):
    return make_user(username="bob")


@pytest.fixture
def as_alice(alice) -> dict:
    return auth(alice)


@pytest.fixture
def as_bob(bob) -> dict:
    return auth(bob)


@pytest.fixture
def agent(alice):
    return make_agent(alice, TOKEN, name="dev")


def point_apps(agent, port: int) -> None:
    """The `preview` (owner) app, plus `team` (authenticated) and `open` (public), at `port`."""
    url = f"http://localhost:{port}"
    WorkspaceApp.objects.filter(agent=agent, slug="preview").update(url=url)
    WorkspaceApp.objects.create(agent=agent, slug="team", url=url, share="authenticated")
    WorkspaceApp.objects.create(agent=agent, slug="open", url=url, share="public")


def through(agent, scenario):
    """Run `scenario(app)` with the app listening and the agent connected."""

    async def go():
        async with App() as app:
            await database_sync_to_async(point_apps)(agent, app.port)
            async with HttpAgent():
                result = await scenario(app)
                await app.drained()
                return result

    return run(go())


def test_messages_echo_both_ways_with_the_subprotocol_the_app_chose(agent, alice):
    headers = {**auth(alice), "Origin": f"http://{HOST}", "Cookie": "sessionid=x; theme=dark"}

    async def scenario(app):
        browser = Browser(
            "/@alice/dev/apps/preview/headers?room=1", headers, subprotocols=["chat.v1", "x"]
        )
        accepted = await browser.open()
        assert accepted["subprotocol"] == "chat.v1"
        seen = json.loads(await browser.receive())
        await browser.send("hello")
        assert await browser.receive() == "hello"
        payload = os.urandom(1024 * 1024 + 7)  # several agent frames each way
        await browser.send(payload)
        assert await browser.receive() == payload
        await browser.hang_up(4000)
        return browser, seen

    browser, seen = through(agent, scenario)
    assert seen["path"] == "/headers?room=1"
    assert seen["subprotocol"] == "chat.v1"
    headers = seen["headers"]
    assert headers["sec-websocket-key"] == browser.key
    assert headers["sec-websocket-protocol"] == "chat.v1, x"
    assert headers["origin"] == f"http://{HOST}"
    assert headers["cookie"] == "theme=dark"
    assert "authorization" not in headers
    assert headers["x-forwarded-for"] == "10.1.2.3"
    assert headers["x-forwarded-proto"] == "http"
    entry = AuditEntry.objects.get(action="open", resource_type="workspace_app")
    assert entry.resource_target == "alice/dev/preview"


def test_the_browsers_close_reaches_the_app_and_the_apps_close_reaches_the_browser(agent, as_alice):
    async def scenario(app):
        browser = Browser("/@alice/dev.main/apps/preview/", as_alice)
        await browser.open()
        await browser.send(b"x")
        assert await browser.receive() == b"x"
        await browser.hang_up(4000)
        for _ in range(100):  # the app's handler ends once the close arrived
            if app.closes:
                break
            await asyncio.sleep(0.05)
        closing = Browser("/@alice/dev/apps/preview/close", as_alice)
        await closing.open()
        return app.closes, await closing.next()

    closes, close = through(agent, scenario)
    assert closes == [4000]
    assert close == {"type": "websocket.close", "code": 4321, "reason": "bye from the app"}


def test_fragmented_messages_arrive_whole_and_the_apps_pings_are_answered(agent, as_alice):
    async def scenario(app):
        browser = Browser("/@alice/dev/apps/preview/fragments", as_alice)
        await browser.open()
        received = [await browser.receive(), await browser.receive()]
        await browser.hang_up()
        return received

    assert through(agent, scenario) == ["fragmented text", b"\x00\x01"]


@pytest.fixture
def app_domain():
    """Subdomain apps served on <slug>--<agent>--<workspace>--<user>.apps.portal.test."""
    os.environ["PORTAL_WILDCARD_ACCESS_URL"] = "http://*.apps.portal.test"
    config.load.cache_clear()
    yield "apps.portal.test"
    os.environ.pop("PORTAL_WILDCARD_ACCESS_URL", None)
    config.load.cache_clear()


def test_share_levels_are_enforced_without_telling_strangers_what_exists(agent, as_bob, app_domain):
    team, public = f"team--main--dev--alice.{app_domain}", f"open--main--dev--alice.{app_domain}"

    async def scenario(app):
        results = {}
        for name, path, headers, host in [
            ("stranger", "/@alice/dev/apps/preview/", as_bob, HOST),
            ("stranger, no such app", "/@alice/dev/apps/nope/", as_bob, HOST),
            ("stranger, shared path app", "/@alice/dev/apps/team/", as_bob, HOST),
            ("anonymous", "/@alice/dev/apps/preview/", {}, HOST),
            ("anonymous, no such app", "/@alice/dev/apps/nope/", {}, HOST),
            ("anonymous, no such user", "/@nobody/dev/apps/preview/", {}, HOST),
            ("anonymous, public path app", "/@alice/dev/apps/open/", {}, HOST),
        ]:
            close = await Browser(path, headers, host=host).refused()
            results[name] = (close["code"], close["reason"])
        # Shared as subdomain apps, served on their own hosts.
        shared = WorkspaceApp.objects.filter(slug__in=["team", "open"])
        await database_sync_to_async(shared.update)(subdomain=True)
        close = await Browser("/", {}, host=team).refused()
        results["anonymous, authenticated app"] = (close["code"], close["reason"])
        for name, headers, host in [
            ("member, authenticated app", as_bob, team),
            ("anonymous, public app", {}, public),
        ]:
            browser = Browser("/", headers, host=host)
            await browser.open()
            await browser.send(name)
            results[name] = await browser.receive()
            await browser.hang_up()
        return results

    results = through(agent, scenario)
    for name in ("stranger", "stranger, no such app", "stranger, shared path app"):
        assert results[name] == (4404, "No such app."), name
    anonymous = ["anonymous", "anonymous, no such app", "anonymous, no such user"]
    for name in [*anonymous, "anonymous, public path app", "anonymous, authenticated app"]:
        assert results[name] == (4401, "Sign in to open this app."), name
    assert results["member, authenticated app"] == "member, authenticated app"
    assert results["anonymous, public app"] == "anonymous, public app"


def test_a_cross_site_page_cannot_use_the_visitors_session(agent, alice):
    cookie = session_cookie(alice)

    async def scenario(app):
        evil = Browser(
            "/@alice/dev/apps/preview/", {"Cookie": cookie, "Origin": "https://evil.example"}
        )
        refused = await evil.refused()
        null = Browser("/@alice/dev/apps/preview/", {"Cookie": cookie, "Origin": "null"})
        null_refused = await null.refused()
        own = Browser("/@alice/dev/apps/preview/", {"Cookie": cookie, "Origin": f"http://{HOST}"})
        await own.open()
        await own.send("mine")
        echoed = await own.receive()
        await own.hang_up()
        return refused, null_refused, echoed

    refused, null_refused, echoed = through(agent, scenario)
    assert refused["code"] == 4403
    assert "Cross-site WebSocket from https://evil.example refused" in refused["reason"]
    assert null_refused["code"] == 4403
    assert echoed == "mine"


def test_an_app_that_refuses_the_upgrade_is_a_close_with_its_status(agent, as_alice):
    async def scenario(app):
        return await Browser("/@alice/dev/apps/preview/forbidden", as_alice).refused()

    close = through(agent, scenario)
    assert close["code"] == 4403
    assert close["reason"] == "The app refused the WebSocket: HTTP 403 Forbidden"


def test_an_app_that_hangs_up_instead_of_answering_is_a_close_saying_so(agent, as_alice):
    async def hang_up(reader, writer):
        writer.close()

    async def scenario(app):
        rude = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        url = f"http://localhost:{rude.sockets[0].getsockname()[1]}"
        update = WorkspaceApp.objects.filter(slug="preview").update
        await database_sync_to_async(update)(url=url)
        async with rude:
            return await Browser("/@alice/dev/apps/preview/", as_alice).refused()

    close = through(agent, scenario)
    assert close["code"] == 4502
    assert "instead of answering the WebSocket upgrade" in close["reason"]


def test_a_disconnected_agent_is_refused(agent, as_alice):
    async def go():
        return await Browser("/@alice/dev/apps/preview/", as_alice).refused()

    close = run(go())
    assert close["code"] == 4502
    assert "not connected" in close["reason"]


def test_a_subdomain_app_without_a_wildcard_domain_says_what_the_operator_must_do(agent, as_alice):
    WorkspaceApp.objects.filter(slug="preview").update(subdomain=True, url="http://localhost:1")

    async def go():
        return await Browser("/@alice/dev/apps/preview/", as_alice).refused()

    close = run(go())
    assert close["code"] == 4409
    assert "PORTAL_WILDCARD_ACCESS_URL" in close["reason"]


@pytest.fixture
def server_url():
    """The ASGI app served by uvicorn as `portal server` runs it."""
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


async def tcp_agent(url: str, connected: asyncio.Event) -> None:
    """A real agent's part over real sockets: each stream it is asked for, bridged to TCP."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    bridges = set()

    async def bridge(message):
        path = f"{url}/api/v2/workspaceagents/me/streams/{message['stream']}"
        async with connect(path, additional_headers=headers, compression=None) as data:
            reader, writer = await asyncio.open_connection("127.0.0.1", message["port"])

            async def up():
                async for frame in data:
                    if isinstance(frame, bytes):
                        writer.write(frame)
                        await writer.drain()
                    elif json.loads(frame)["type"] == "eof" and writer.can_write_eof():
                        writer.write_eof()

            async def down():
                while chunk := await reader.read(256 * 1024):
                    await data.send(chunk)
                await data.send(json.dumps({"type": "eof"}))

            tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            writer.close()

    async with connect(f"{url}/api/v2/workspaceagents/me/rpc", additional_headers=headers) as ctl:
        await ctl.send(json.dumps({"type": "ping", "t": 0.5}))
        while True:
            message = json.loads(await ctl.recv())
            if message.get("type") == "pong":
                connected.set()
            elif message.get("type") == "open_stream":
                task = asyncio.create_task(bridge(message))
                bridges.add(task)
                task.add_done_callback(bridges.discard)


def test_a_browser_websocket_through_uvicorn_echoes_with_its_subprotocol(server_url, agent, alice):
    (header,) = bearer(alice)
    payload = os.urandom(256 * 1024) * 16  # 4 MiB messages

    async def go():
        async with App() as app:
            await database_sync_to_async(point_apps)(agent, app.port)
            connected = asyncio.Event()
            serving = asyncio.create_task(tcp_agent(server_url, connected))
            await asyncio.wait_for(connected.wait(), WAIT)
            async with connect(
                f"{server_url}/@alice/dev/apps/preview/",
                additional_headers={"Authorization": header[1].decode()},
                subprotocols=["chat.v1"],
                compression=None,
                max_size=None,
            ) as browser:
                subprotocol = browser.subprotocol
                started = time.perf_counter()
                for _ in range(8):
                    await browser.send(payload)
                    assert await browser.recv() == payload
                elapsed = time.perf_counter() - started
                await browser.send("text too")
                text = await browser.recv()
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            await app.drained()
            return subprotocol, text, elapsed

    subprotocol, text, elapsed = run(go())
    assert subprotocol == "chat.v1"
    assert text == "text too"
    print(f"\napp WebSocket through uvicorn: {8 * len(payload) / elapsed / 1e6:.0f} MB/s echoed")
