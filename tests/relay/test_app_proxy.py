"""The path-based app proxy over the real ASGI app: a fake agent dials a real local HTTP server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from portal import config
from portal.asgi import application
from portal.audit.models import AuditEntry
from tests.agents.helpers import FakeAgent, agent_headers, make_agent
from tests.relay.helpers import STREAMS, Socket
from tests.workspaces.test_websocket import bearer
from workspaces.models import WorkspaceApp

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "agent-secret-token"
BIG = bytes(range(256)) * (5 * 1024 * 1024 // 256)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/big":
            return self._reply(200, BIG, "application/octet-stream")
        echo = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        self._reply(201 if self.path.startswith("/created") else 200, json.dumps(echo).encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        result = {"path": self.path, "sha": hashlib.sha256(body).hexdigest(), "len": len(body)}
        self._reply(200, json.dumps(result).encode())


@pytest.fixture(scope="module")
def server_port():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def alice(make_user):
    return make_user(username="alice")


@pytest.fixture
def bob(make_user):
    return make_user(username="bob")


@pytest.fixture
def agent(alice, server_port):
    agent = make_agent(alice, TOKEN, name="dev")
    url = f"http://localhost:{server_port}"
    WorkspaceApp.objects.filter(agent=agent, slug="preview").update(url=url)
    WorkspaceApp.objects.create(agent=agent, slug="team", url=url, share="authenticated")
    WorkspaceApp.objects.create(agent=agent, slug="open", url=url, share="public")
    return agent


class HttpAgent:
    """A connected agent that, on each open_stream, connects the data socket to 127.0.0.1:port."""

    def __init__(self):
        self.control = FakeAgent(TOKEN)
        self.opened: list[dict] = []
        self.tasks: list[asyncio.Task] = []

    async def __aenter__(self):
        assert await self.control.open() is None
        self.loop = asyncio.create_task(self._serve())
        return self

    async def __aexit__(self, *exc):
        self.loop.cancel()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(self.loop, *self.tasks, return_exceptions=True)
        await self.control.hang_up()

    async def _serve(self):
        while True:
            message = await self.control.receive()
            if message["type"] == "open_stream":
                self.opened.append(message)
                self.tasks.append(asyncio.create_task(self._stream(message)))

    async def _stream(self, message):
        sock = Socket(STREAMS + message["stream"], agent_headers(TOKEN), outbox=2)
        await sock.connect()
        reader, writer = await asyncio.open_connection("127.0.0.1", message["port"])

        async def upstream():
            while True:
                frame = await sock.next(timeout=30)
                if frame["type"] == "websocket.close":
                    writer.close()
                    return
                if frame.get("bytes") is not None:
                    writer.write(frame["bytes"])
                    await writer.drain()
                elif json.loads(frame["text"])["type"] == "eof":
                    writer.write_eof()

        async def downstream():
            while data := await reader.read(65536):
                await sock.send_bytes(data)
            await sock.send_json({"type": "eof"})

        up = asyncio.create_task(upstream())
        await asyncio.gather(up, downstream(), return_exceptions=True)
        await sock.hang_up()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def fetch(method: str, path: str, headers=None, **kwargs) -> httpx.Response:
    async def go():
        transport = httpx.ASGITransport(app=application, client=("10.1.2.3", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as c:
            return await c.request(method, path, headers=headers, **kwargs)

    return run(go())


def through_agent(method: str, path: str, headers=None, **kwargs):
    async def go():
        async with HttpAgent() as fake:
            transport = httpx.ASGITransport(app=application, client=("10.1.2.3", 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as c:
                response = await c.request(method, path, headers=headers, **kwargs)
            return response, fake.opened

    return run(go())


def auth(user) -> dict:
    return {k.decode(): v.decode() for k, v in bearer(user)}


def test_get_returns_the_apps_status_and_body_with_the_query_and_no_portal_credentials(
    agent, alice, server_port
):
    headers = {**auth(alice), "Cookie": "sessionid=portal-secret; theme=dark"}
    response, opened = through_agent(
        "GET", "/@alice/dev/apps/preview/created/x?a=1&b=two", headers=headers
    )
    assert response.status_code == 201
    echo = response.json()
    assert echo["path"] == "/created/x?a=1&b=two"
    assert "authorization" not in echo["headers"]
    assert echo["headers"]["cookie"] == "theme=dark"
    assert echo["headers"]["x-forwarded-for"] == "10.1.2.3"
    assert echo["headers"]["x-forwarded-host"] == "portal.test"
    assert echo["headers"]["x-forwarded-proto"] == "http"
    assert echo["headers"]["connection"] == "close"
    assert opened[0]["kind"] == "tcp" and opened[0]["port"] == server_port


def test_the_agent_can_be_named_and_post_bodies_arrive(agent, alice):
    body = b"x" * 300_000 + b"end"
    response, _ = through_agent(
        "POST", "/@alice/dev.main/apps/preview/submit", headers=auth(alice), content=body
    )
    assert response.status_code == 200
    assert response.json() == {
        "path": "/submit",
        "sha": hashlib.sha256(body).hexdigest(),
        "len": len(body),
    }


def test_a_large_response_streams_intact(agent, alice):
    response, _ = through_agent("GET", "/@alice/dev/apps/preview/big", headers=auth(alice))
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(BIG))
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(BIG).digest()


def test_missing_trailing_slash_redirects(agent, alice):
    response = fetch("GET", "/@alice/dev/apps/preview?x=1", headers=auth(alice))
    assert response.status_code == 308
    assert response.headers["location"] == "/@alice/dev/apps/preview/?x=1"


def test_unknown_app_or_workspace_is_404(agent, alice):
    assert fetch("GET", "/@alice/dev/apps/nope/", headers=auth(alice)).status_code == 404
    assert fetch("GET", "/@alice/other/apps/preview/", headers=auth(alice)).status_code == 404
    assert fetch("GET", "/@nobody/dev/apps/preview/", headers=auth(alice)).status_code == 404


def test_anonymous_visitors_cannot_tell_which_apps_exist(agent, bob):
    for path in ("/@alice/dev/apps/nope/", "/@alice/dev/apps/preview", "/@nobody/x/apps/y"):
        assert fetch("GET", path).status_code == 401, path
    # Nor can a signed-in stranger, through the trailing-slash redirect.
    assert fetch("GET", "/@alice/dev/apps/preview", headers=auth(bob)).status_code == 404


def test_owner_apps_are_for_the_owner_only(agent, bob):
    assert fetch("GET", "/@alice/dev/apps/preview/", headers=auth(bob)).status_code == 404
    assert fetch("GET", "/@alice/dev/apps/preview/").status_code == 401
    browser = fetch("GET", "/@alice/dev/apps/preview/x", headers={"Accept": "text/html"})
    assert browser.status_code == 302
    assert browser.headers["location"] == "/admin/login/?next=/%40alice/dev/apps/preview/x"


def test_shared_path_apps_are_their_owners_only(agent, alice, bob):
    # On a path the app runs on Portal's origin: its share level is not honoured.
    for slug in ("team", "open"):
        assert fetch("GET", f"/@alice/dev/apps/{slug}/").status_code == 401
        refused = fetch("GET", f"/@alice/dev/apps/{slug}/", headers=auth(bob))
        assert (refused.status_code, refused.text) == (404, "No such app.\n")
        response, _ = through_agent("GET", f"/@alice/dev/apps/{slug}/hi", headers=auth(alice))
        assert response.status_code == 200 and response.json()["path"] == "/hi"


@pytest.fixture
def path_app_sharing(monkeypatch, request):
    monkeypatch.setenv("PORTAL_DANGEROUS_ALLOW_PATH_APP_SHARING", "true")
    config.load.cache_clear()
    request.addfinalizer(config.load.cache_clear)


def test_authenticated_apps_take_any_signed_in_user_when_path_sharing_is_on(
    agent, bob, path_app_sharing
):
    assert fetch("GET", "/@alice/dev/apps/team/").status_code == 401
    response, _ = through_agent("GET", "/@alice/dev/apps/team/hi", headers=auth(bob))
    assert response.status_code == 200 and response.json()["path"] == "/hi"
    assert fetch("GET", "/@alice/dev/apps/preview/", headers=auth(bob)).status_code == 404


def test_public_apps_take_anyone_when_path_sharing_is_on(agent, path_app_sharing):
    response, _ = through_agent("GET", "/@alice/dev/apps/open/")
    assert response.status_code == 200 and response.json()["path"] == "/"


def test_a_disconnected_agent_is_a_502(agent, alice):
    response = fetch("GET", "/@alice/dev/apps/preview/", headers=auth(alice))
    assert response.status_code == 502
    assert "not connected" in response.text


def test_only_the_first_request_of_a_user_and_app_is_audited(agent, alice):
    headers = auth(alice)

    async def go():
        async with HttpAgent():
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as c:
                for _ in range(3):
                    response = await c.get("/@alice/dev/apps/preview/", headers=headers)
                    assert response.status_code == 200

    run(go())
    entries = AuditEntry.objects.filter(action="open", resource_type="workspace_app")
    assert entries.count() == 1
    assert entries.get().resource_target == "alice/dev/preview"
